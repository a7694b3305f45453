"""A simulated bench: the chip, a virtual clock, the instruments at their addresses.

The VISA library serves one world; a world is found by the string PyVISA hands the
library (``ResourceManager("<key>@labbench")``): a key returned by
:meth:`SimWorld.register`, or the path of a bench YAML file (built on first use).
"""
from __future__ import annotations

import itertools
import threading
from pathlib import Path

from labbench.addressing import canonical_address
from labbench.physics.chip import Chip

from .instrument import SimInstrument
from .transport import transport_for


class VirtualClock:
    """Simulated time in seconds: pulse widths, integration times and waits advance it."""

    def __init__(self, start: float = 0.0):
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def advance(self, dt: float) -> None:
        if dt < 0:
            raise ValueError(f"time cannot run backwards (dt={dt})")
        self._t += float(dt)

    sleep = advance


def instrument_models() -> dict[str, type[SimInstrument]]:
    from .keithley2450 import Keithley2450Sim
    from .keithley2600b import Keithley2600BSim
    from .keysight81160a import Keysight81160ASim
    from .keysight_b220x import KeysightB220xSim
    from .lakeshore335 import LakeShore335Sim

    return {"keithley2450": Keithley2450Sim, "keithley2600b": Keithley2600BSim, "keysight81160a": Keysight81160ASim,
            "keysight_b220x": KeysightB220xSim, "lakeshore335": LakeShore335Sim}


class SimWorld:
    def __init__(self, chip: Chip | None = None, wiring=None):
        self.chip = chip
        self.wiring = wiring
        self.clock = VirtualClock()
        self.instruments: dict[str, SimInstrument] = {}
        self.by_address: dict[str, SimInstrument] = {}
        self.key: str | None = None
        self.transactions = 0          # VISA writes and reads served, all instruments
        self.transport_time = 0.0      # instrument time spent on them (s)
        self.chuck = None              # a heated chuck under the chip (sim.lakeshore335), if any

    def chip_to_now(self) -> None:
        """Bring the chip to the virtual clock: drift at rest up to now, at the chuck's
        temperature stretch by stretch when there is a chuck (physics.retention)."""
        chip = self.chip
        if chip is None:
            return
        now = self.clock.now()
        if self.chuck is not None:
            self.chuck.bring(chip, now)
        chip.advance_to(now)

    def add(self, model: str, name: str, address: str) -> SimInstrument:
        models = instrument_models()
        if model not in models:
            raise ValueError(f"no simulated instrument {model!r}; available: {sorted(models)}")
        addr = canonical_address(address)
        if addr in self.by_address:
            raise ValueError(f"address {address} is already used by {self.by_address[addr].name!r}")
        if name in self.instruments:
            raise ValueError(f"instrument name {name!r} used twice")
        inst = models[model](self, name, addr)
        inst.transport = t = transport_for(addr)
        inst.tx_latency, inst.tx_per_byte = t.latency, t.per_byte
        if getattr(inst, "chuck", None) is not None:
            if self.chuck is not None:
                raise ValueError(f"{name}: the chip sits on one chuck, already under another controller")
            self.chuck = inst.chuck
        self.instruments[name] = inst
        self.by_address[addr] = inst
        return inst

    def terminal_level(self, terminal: str) -> float | None:
        """DC level of ``'inst.terminal'`` (None: floating), or 0 for ``'ground'``."""
        if terminal == "ground":
            return 0.0
        name, _, term = terminal.partition(".")
        inst = self.instruments.get(name)
        return None if inst is None else inst.terminal_level(term)

    # -- registry: how a VISA library string finds its world ---------------------------
    def register(self) -> str:
        if self.key is None:
            self.key = f"labbench-sim-{next(_counter)}"
            with _lock:
                _worlds[self.key] = self
        return self.key

    def unregister(self) -> None:
        if self.key is not None:
            with _lock:
                _worlds.pop(self.key, None)

    @classmethod
    def from_bench_file(cls, path: str | Path) -> "SimWorld":
        """The world a bench file describes, built by the loader the bench layer
        registered (:func:`set_bench_loader`): the simulator does not read bench files."""
        if _bench_loader is None:
            raise OSError("no bench-file loader registered; import labbench.instruments first")
        return _bench_loader(Path(path))


_worlds: dict[str, SimWorld] = {}
_bench_loader = None


def set_bench_loader(loader) -> None:
    """``loader(path) -> SimWorld``; the bench layer registers one on import."""
    global _bench_loader
    _bench_loader = loader


_counter = itertools.count(1)
_lock = threading.Lock()


def default_world() -> SimWorld:
    """What ``ResourceManager('@labbench')`` serves: the shipped ``benches/sim.yaml``."""
    from labbench.paths import resolve_bench

    return SimWorld.from_bench_file(resolve_bench("sim"))


def find_world(key: str) -> SimWorld:
    if key in ("", "unset"):
        return default_world()
    with _lock:
        w = _worlds.get(key)
    if w is not None:
        return w
    p = Path(key)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return SimWorld.from_bench_file(p)
    raise OSError(f"no simulated bench {key!r}: pass a key from SimWorld.register() "
                  f"or the path of a bench YAML file")
