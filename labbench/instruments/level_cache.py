"""What a source-meter adapter last sent: one cache for every SMU adapter."""
from __future__ import annotations

__all__ = ["LevelCache"]


class LevelCache:
    """Mixin for a source-meter adapter: the level (V) and output state it last sent,
    ``None`` when unknown.

    ``set_voltage``/``output`` skip a write the instrument already holds, so a
    pulse-then-read loop costs no redundant VISA write; ``biased`` tells the Bench whether
    re-routing under the output would switch a live line; ``off`` never trusts the cache
    (protocols.py).  Whatever may change the instrument behind the cache's back (a
    current-source setup, a TSP script) calls ``forget``.

    The adapter supplies the writes: ``_write_voltage(v)``, ``_write_output(on)`` and
    ``_write_off()`` (every output of the instrument at 0 V and off).
    """

    _v: float | None = None
    _on: bool | None = None

    def __init_subclass__(cls, **kwargs):
        # each adapter class holds its Protocol methods itself, as a hand-written one does:
        # the Protocol checks (tests/test_adapter_protocols.py) read a class's own methods
        super().__init_subclass__(**kwargs)
        for name in ("set_voltage", "output", "biased", "off"):
            if name not in vars(cls):
                setattr(cls, name, vars(LevelCache)[name])

    def set_voltage(self, v: float) -> None:
        if v != self._v:
            self._write_voltage(v)
            self._v = v

    def output(self, on: bool) -> None:
        if on != self._on:
            self._write_output(on)
            self._on = on

    def biased(self) -> bool:
        """Output on (or unknown) at a non-zero (or unknown) level."""
        return self._on is not False and self._v != 0.0

    def off(self) -> None:
        self.forget()
        self._write_off()

    def forget(self) -> None:
        """Level and output state unknown: the next set_voltage/output writes."""
        self._v = self._on = None

    def forget_level(self) -> None:
        """The level unknown (the source function changed; the output state did not)."""
        self._v = None

    def _write_voltage(self, v: float) -> None:
        raise NotImplementedError

    def _write_output(self, on: bool) -> None:
        raise NotImplementedError

    def _write_off(self) -> None:
        raise NotImplementedError
