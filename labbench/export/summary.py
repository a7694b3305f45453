"""What an export kept: the readable summary written beside every exported configuration.

Each entry is one thing of the device model and what became of it in the target:

* ``exact`` — the target reproduces it (up to float rounding);
* ``approximated`` — the target holds something close; ``size`` says how close, in words
  and numbers a reader can judge (an RMSE as a fraction of the range, a ratio of spreads);
* ``dropped`` — the target has no place for it; ``size`` says what is lost.

A *block* that is dropped (a whole section of the device model: retention, endurance, ...)
is what ``--strict`` refuses, and what the command warns about by name.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Entry", "Summary"]


@dataclass(frozen=True)
class Entry:
    what: str     # the device model's key or block (``update.a_set``, ``retention``)
    target: str   # where it went (``LinearStepDevice.gamma_up``), or "" when dropped
    note: str     # how, in one sentence
    size: str = ""  # for approximated and dropped entries: how large the difference is


@dataclass
class Summary:
    target: str            # "aihwkit 1.2.0", "MLP+NeuroSim V3.0 / DNN+NeuroSim V2.1"
    model: str             # the device model's name
    exact: list[Entry] = field(default_factory=list)
    approximated: list[Entry] = field(default_factory=list)
    dropped: list[Entry] = field(default_factory=list)
    #: device-model blocks the target cannot express at all (``--strict`` refuses these)
    unexpressed_blocks: list[str] = field(default_factory=list)

    def add_exact(self, what: str, target: str, note: str = "") -> None:
        self.exact.append(Entry(what, target, note))

    def add_approx(self, what: str, target: str, note: str, size: str) -> None:
        self.approximated.append(Entry(what, target, note, size))

    def add_dropped(self, what: str, note: str, size: str = "", block: bool = False) -> None:
        self.dropped.append(Entry(what, "", note, size))
        if block and what not in self.unexpressed_blocks:
            self.unexpressed_blocks.append(what)

    def to_dict(self) -> dict:
        def rows(entries):
            return [{k: v for k, v in vars(e).items() if v} for e in entries]

        return {"target": self.target, "model": self.model, "exact": rows(self.exact),
                "approximated": rows(self.approximated), "dropped": rows(self.dropped),
                "unexpressed_blocks": list(self.unexpressed_blocks)}

    def to_text(self) -> str:
        lines = [f"# {self.model} -> {self.target}", ""]
        for title, entries in (("Maps exactly", self.exact), ("Approximated", self.approximated),
                               ("Dropped", self.dropped)):
            lines.append(f"## {title} ({len(entries)})")
            if not entries:
                lines.append("- (none)")
            for e in entries:
                head = f"- {e.what}" + (f" -> {e.target}" if e.target else "")
                tail = "; ".join(x for x in (e.note, e.size and f"size: {e.size}") if x)
                lines.append(f"{head}: {tail}" if tail else head)
            lines.append("")
        return "\n".join(lines)
