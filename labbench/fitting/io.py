"""Load and validate tidy pulse-train data (DESIGN.md, "Data formats").

One row per read: ``cell`` (or ``row``, ``col``, ``side``), ``cycle``, ``direction``
(``set``/``reset``), ``pulse`` (index within the train, 0 = before the first pulse) and
``conductance`` in siemens; extra columns (``read_voltage``, ``current``, ``time``)
are kept.  Every problem is a :class:`DataError` that names the column and the row
(CSV rows are also given as file line numbers) and says how to fix it; nothing is
fitted or written from data that did not pass.

Conductances must be physical: finite, >= 0 S and at most :data:`G_MAX_S` (1 S), and a
non-zero reading at least :data:`G_MIN_S` (1 fS).  Instrument overflow markers (SCPI's
±9.9e37 overflow, as Keithley 2400 SMUs write it, and 9.91e37 NaN) are dropped with a
warning (``DataFrame.attrs["warnings"]``), not fitted.  With ``allow_negative`` (data in aihwkit's
normalized weight units, e.g. Gong 2018) values may be negative and have no unit, so only
``|value| <=`` :data:`W_MAX` applies.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from labbench.physics.models import RESET, SET

REQUIRED = ("cycle", "direction", "pulse", "conductance")
CELL_KEYS = ("row", "col", "side")
_DIRECTIONS = {"set": SET, "reset": RESET, "up": SET, "down": RESET, "ltp": SET, "ltd": RESET,
               "potentiation": SET, "depression": RESET}


# SCPI instruments write these in place of a reading: ±9.9e37 is overflow (±infinity; Keithley
# 2400-series SMUs on an overrange read), 9.91e37 is "not a number" (SCPI-99 §7.2.1.5).  Exactly
# these values are dropped with a warning; any other huge value (1e300, 9.9e38) is no marker, so
# it is refused as an absurd conductance like every value above G_MAX_S.
OVERFLOW_MARKERS = (9.9e37, 9.91e37)
# 1 S is a 1 Ω cell: below the access transistor and the wiring of any RRAM array; larger
# values are a unit mistake (µS written as plain numbers, resistance instead of conductance)
G_MAX_S = 1.0
# a non-zero reading below 1 fS (1 fA at 1 V) is below any SMU's resolution: a scaling or
# parsing mistake (the 1e-9 S Ag:a-Si data and exact 0 S reads of an open cell still pass)
G_MIN_S = 1e-15
# normalized (aihwkit weight-unit) data are O(1); far beyond that the fitter's sums of
# squares lose all precision (and 1e300 overflows)
W_MAX = 1e6

_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3


class DataError(ValueError):
    """Pulse-train data that cannot be fitted; the message names the column/row and the fix."""


def _where(rows, source_is_csv: bool, limit: int = 5) -> str:
    rows = list(rows)
    shown = ", ".join(f"{r} (line {r + 2})" if source_is_csv else str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def read_table(source) -> tuple[pd.DataFrame, bool]:
    """A DataFrame from a CSV path or a DataFrame; CSV problems become DataErrors."""
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True), False
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a CSV file; give the data file inside it")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file; give a CSV file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; expected a CSV with a header row "
                        f"({', '.join(('cell',) + REQUIRED)})")
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path}: UTF-16 text (as some spreadsheets export 'Unicode text'); "
                        "save the CSV as UTF-8")
    if b"\x00" in head:
        raise DataError(f"{path}: a binary file, not a CSV text file (it holds NUL bytes); "
                        "export the data as CSV (UTF-8 text)")
    try:
        df = pd.read_csv(path, skipinitialspace=True, encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} cannot be decoded); "
                        "save the CSV as UTF-8 (e.g. 'CSV UTF-8' in a spreadsheet)") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a CSV with a header row") from None
    except pd.errors.ParserError as e:
        raise DataError(f"{path}: not a readable CSV ({e}); check for a truncated or corrupted line") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df, True


def _missing_column(name: str, columns) -> DataError:
    close = difflib.get_close_matches(name, [c.lower() for c in columns], n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}? rename it to {name!r}" if close else ""
    return DataError(f"missing column {name!r}{hint} (found columns: {list(columns)})")


def validate(df: pd.DataFrame, source_is_csv: bool = False, allow_negative: bool = False) -> pd.DataFrame:  # noqa: C901 - one data check per branch, each naming its row
    """Check and normalize a tidy pulse-train table; returns a clean copy.

    The result has integer ``device`` ids (one per physical device), a ``device_label``,
    ``direction`` as ±1, and float ``pulse`` and ``conductance``.
    """
    if len(df) == 0:
        raise DataError("the data has no rows; a pulse train needs at least 2 reads (pulse 0 and after)")
    cols = {c.lower(): c for c in df.columns}
    df = df.rename(columns={orig: low for low, orig in cols.items()})
    has_cell = "cell" in df.columns
    if not has_cell:
        missing_keys = [k for k in CELL_KEYS if k not in df.columns]
        if len(missing_keys) == len(CELL_KEYS):
            raise DataError(_missing_column("cell", df.columns).args[0]
                            + "; give either 'cell' or all of 'row', 'col', 'side'")
        if missing_keys:
            raise _missing_column(missing_keys[0], df.columns)
    for name in REQUIRED:
        if name not in df.columns:
            raise _missing_column(name, df.columns)

    keys = ["cell"] if has_cell else list(CELL_KEYS)
    # pandas >= 3 copies on write, and every change below replaces whole columns: a shallow copy
    # leaves the caller's frame alone without copying (and consolidating) every column first
    out = df.copy(deep=not _COPY_ON_WRITE)
    for name in keys + list(REQUIRED):
        bad_na = out.index[out[name].isna()]
        if len(bad_na):
            raise DataError(f"column {name!r} has missing values (NaN or empty) at "
                            f"{_where(bad_na, source_is_csv)}; fill or drop those rows"
                            + (" (a truncated last line looks like this)" if source_is_csv else ""))
    numeric = ["cycle", "pulse", "conductance"] + ([] if has_cell else list(CELL_KEYS))
    warnings: list[str] = []
    marker = np.zeros(len(out), bool)
    for name in numeric:
        conv = pd.to_numeric(out[name], errors="coerce")
        bad = out.index[conv.isna()]
        if len(bad):
            raise DataError(f"column {name!r} is not numeric at {_where(bad, source_is_csv)} "
                            f"(value {out[name].iloc[bad[0]]!r}); numbers only, in SI units")
        vals = conv.to_numpy(float)
        if name == "conductance":
            marker = np.isclose(np.abs(vals)[:, None], OVERFLOW_MARKERS, rtol=1e-9, atol=0).any(axis=1)
            if marker.any():
                dropped = out.index[marker]
                warnings.append(
                    f"column 'conductance': dropped {len(dropped)} instrument overflow reading"
                    f"{'s' if len(dropped) > 1 else ''} (9.9e37 overflow or 9.91e37 NaN marker of the SMU) "
                    f"at {_where(dropped, source_is_csv, limit=10)}; they are not fitted")
                if marker.all():
                    raise DataError("column 'conductance' holds only instrument overflow markers "
                                    "(9.9e37/9.91e37): every read overflowed or failed; check the SMU "
                                    "range and compliance")
        if not np.isfinite(vals).all():
            bad = out.index[~np.isfinite(vals)]
            raise DataError(f"column {name!r} holds infinite values at {_where(bad, source_is_csv)}")
        out[name] = conv.astype(float)
    orig_index = out.index
    if marker.any():
        out = out.loc[~marker]
    for name in ("cycle",) + (() if has_cell else CELL_KEYS):
        frac = out.index[out[name] != np.round(out[name])]
        if len(frac):
            raise DataError(f"column {name!r} must hold integers; {_where(frac, source_is_csv)} do not")
        out[name] = out[name].astype(np.int64)

    raw = out["direction"]
    if raw.dtype == object:  # mixed Python objects: normalize each row's own text
        codes, names = pd.factorize(raw.astype(str).str.strip().str.lower())
    else:  # one dtype: equal values have equal text, so normalize the few distinct values only
        codes, names = pd.factorize(raw)
        names = pd.Series(names).astype(str).str.strip().str.lower()
    names = pd.Series(names).replace({"1": "set", "-1": "reset"}).tolist()  # ±1 too
    known = np.array([n in _DIRECTIONS for n in names] + [False])  # code -1 (missing) is not a direction
    bad = out.index[~known[codes]]
    if len(bad):
        raise DataError(f"column 'direction' must be 'set' or 'reset'; {_where(bad, source_is_csv)} "
                        f"hold {out['direction'].iloc[bad[0]]!r}")
    # map the few distinct names, not every row (a per-row dict map is ~0.6 s per million rows)
    out["direction"] = np.array([_DIRECTIONS[n] for n in names], np.int8)[codes]

    neg = out.index[out["pulse"] < 0]
    if len(neg):
        raise DataError(f"column 'pulse' must be >= 0 (0 = before the first pulse); "
                        f"negative at {_where(neg, source_is_csv)}")
    neg = out.index[out["conductance"] < 0] if not allow_negative else []
    if len(neg):
        raise DataError(f"column 'conductance' must be >= 0 S; negative at {_where(neg, source_is_csv)}"
                        "; check the sign convention of the current (use |I|/V)")
    if not allow_negative and not (out["conductance"] > 0).any():
        raise DataError("column 'conductance' is zero everywhere; nothing to fit")
    g = out["conductance"].to_numpy(float)
    if allow_negative:
        huge = out.index[np.abs(g) > W_MAX]
        if len(huge):
            raise DataError(f"column 'conductance' (weight units) exceeds ±{W_MAX:g} at "
                            f"{_where(huge, source_is_csv)} (value {g[out.index.get_loc(huge[0])]:g}); "
                            "normalized data are O(1): check the scaling")
    else:
        huge = out.index[g > G_MAX_S]
        if len(huge):
            raise DataError(f"column 'conductance' is above {G_MAX_S:g} S (a cell below 1 Ω) at "
                            f"{_where(huge, source_is_csv)} (value {g[out.index.get_loc(huge[0])]:g}); "
                            "conductances are in siemens: convert µS (×1e-6) or mS (×1e-3), and give "
                            "conductance, not resistance")
        tiny = out.index[(g > 0) & (g < G_MIN_S)]
        if len(tiny):
            raise DataError(f"column 'conductance' is below {G_MIN_S:g} S (1 fS, beneath any instrument's "
                            f"resolution) at {_where(tiny, source_is_csv)} "
                            f"(value {g[out.index.get_loc(tiny[0])]:g}); check the column's scaling "
                            "(an open cell reads 0)")

    device = out.groupby(keys, sort=True).ngroup().to_numpy(np.int64)
    if has_cell:
        out["device_label"] = out["cell"].astype(str)
    else:
        # one label per device (its integer keys), spread to its rows: same strings, built once per device
        first = np.empty(int(device.max()) + 1, np.int64)
        first[device[::-1]] = np.arange(len(out))[::-1]
        k = out.iloc[first]
        lab = k["row"].astype(str) + "," + k["col"].astype(str) + "," + k["side"].astype(str)
        out["device_label"] = pd.Series(lab.array.take(device), index=out.index)
    out["device"] = device

    # each train: ordered pulses, at least two reads
    train = ["device", "cycle", "direction"]
    prev, sizes = _train_prev_and_sizes(out, train)
    unordered = out.index[prev.notna() & (out["pulse"] <= prev)]
    if len(unordered):
        r = unordered[0]  # an index label (rows dropped above keep their labels, so lines stay right)
        raise DataError(
            f"column 'pulse' is not increasing within a train at {_where(unordered, source_is_csv)}: "
            f"pulse {out['pulse'].loc[r]:g} follows {prev.loc[r]:g} (device {out['device_label'].loc[r]}, "
            f"cycle {out['cycle'].loc[r]}); sort each train by pulse and remove duplicates")
    single = out.index[sizes < 2]
    if len(single):
        raise DataError(f"a pulse train with a single point at {_where(single, source_is_csv)}; "
                        "each (cell, cycle, direction) needs at least 2 reads"
                        + (f" (after dropping the overflow marker{'s' if marker.sum() > 1 else ''} at "
                           f"{_where(orig_index[marker], source_is_csv)})" if marker.any() else ""))
    if marker.any():
        out = out.reset_index(drop=True)
    out.attrs["warnings"] = warnings
    return out


def _train_prev_and_sizes(out: pd.DataFrame, train: list[str]) -> tuple[pd.Series, pd.Series]:
    """Per row: the previous read's pulse in its train (NaN first) and its train's size.

    When every train's rows are contiguous (the usual layout) this is a shift along the
    rows; otherwise pandas' groupby does it.
    """
    dev, cyc, dr = (out[c].to_numpy() for c in train)
    n = len(out)
    start = np.ones(n, bool)
    start[1:] = (dev[1:] != dev[:-1]) | (cyc[1:] != cyc[:-1]) | (dr[1:] != dr[:-1])
    runs = np.flatnonzero(start)
    cyc_code, cyc_names = pd.factorize(cyc)
    key = (dev.astype(np.int64) * len(cyc_names) + cyc_code) * 4 + (dr.astype(np.int64) + 1)
    if runs.size == pd.unique(key).size:  # each train is one run of rows
        pulse = out["pulse"].to_numpy(float)
        prev = np.empty(n)
        prev[0] = np.nan
        prev[1:] = pulse[:-1]
        prev[start] = np.nan
        sizes = np.repeat(np.diff(np.append(runs, n)), np.diff(np.append(runs, n)))
        return pd.Series(prev, index=out.index), pd.Series(sizes, index=out.index)
    g = out.groupby(train, sort=False)["pulse"]
    return g.shift(), g.transform("size")


def load_pulse_trains(source, allow_negative: bool = False) -> pd.DataFrame:
    """Read (CSV path or DataFrame) and validate; see :func:`validate`.

    ``allow_negative`` accepts data in normalized weight units (aihwkit's), not siemens.
    """
    df, is_csv = read_table(source)
    cond = next((c for c in df.columns if str(c).strip().lower() == "condition"), None)
    if cond is not None and df[cond].nunique() > 1:
        # a pulse-train sweep (gate/amplitude/width): the update model is the nominal pulse's,
        # condition 0; the sweep itself is for labbench.fitting.switching
        df = df[df[cond] == df[cond].min()]
    try:
        return validate(df, source_is_csv=is_csv, allow_negative=allow_negative)
    except DataError as e:
        if is_csv:
            raise DataError(f"{source}: {e}") from None
        raise


@dataclass
class Trains:
    """One direction's trains packed into padded arrays (NaN where a train is shorter).

    ``g`` and ``p`` have shape (devices, cycles, length): conductance and pulse position.
    """

    direction: int
    g: np.ndarray
    p: np.ndarray
    devices: np.ndarray  # device ids, shape (D,)
    cycles: np.ndarray   # cycle labels per slot, shape (D, C) (−1 where absent)

    @property
    def mask(self) -> np.ndarray:
        return np.isfinite(self.g)

    @property
    def pmax(self) -> float:
        return float(np.nanmax(self.p))

    def units(self, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """(g, p) grouped as fit units of shape (U, T, L): pooled, per device, per cycle."""
        D, C, L = self.g.shape
        if mode == "pooled":
            return self.g.reshape(1, D * C, L), self.p.reshape(1, D * C, L)
        if mode == "device":
            return self.g, self.p
        if mode == "cycle":
            return self.g.reshape(D * C, 1, L), self.p.reshape(D * C, 1, L)
        raise ValueError(f"mode must be pooled, device or cycle, got {mode!r}")


def pack(data: pd.DataFrame, direction: int) -> Trains | None:
    """Pack one direction of validated data; None when the data has no such trains."""
    # only the four columns used: filtering the whole frame would consolidate every block
    sub = data.loc[data["direction"].to_numpy() == direction, ["device", "cycle", "pulse", "conductance"]]
    if sub.empty:
        return None
    sub = sub.sort_values(["device", "cycle"], kind="stable")
    devices = np.unique(sub["device"].to_numpy())
    dev_pos = np.searchsorted(devices, sub["device"].to_numpy())
    train_keys = sub[["device", "cycle"]].drop_duplicates()
    slot = train_keys.groupby("device").cumcount().to_numpy()
    n_cyc = int(slot.max()) + 1
    cycles = np.full((devices.size, n_cyc), -1, np.int64)
    cycles[np.searchsorted(devices, train_keys["device"].to_numpy()), slot] = train_keys["cycle"].to_numpy()
    train_id = sub.groupby(["device", "cycle"], sort=False).ngroup().to_numpy()  # = train_keys order
    slots = slot[train_id]
    pos = sub.groupby(["device", "cycle"], sort=False).cumcount().to_numpy()
    length = int(pos.max()) + 1
    g = np.full((devices.size, n_cyc, length), np.nan)
    p = np.full_like(g, np.nan)
    g[dev_pos, slots, pos] = sub["conductance"].to_numpy(float)
    p[dev_pos, slots, pos] = sub["pulse"].to_numpy(float)
    return Trains(direction=direction, g=g, p=p, devices=devices, cycles=cycles)


def plain(o, nonfinite_as_none: bool = True):
    """``o`` with NumPy scalars made Python ones, recursively (dicts, lists, tuples): what a
    fit writes into the device-model YAML's ``fit:`` block and ``--json``.  A non-finite
    float becomes None unless ``nonfinite_as_none`` is False."""
    if isinstance(o, dict):
        return {str(k): plain(v, nonfinite_as_none) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [plain(v, nonfinite_as_none) for v in o]
    if isinstance(o, (np.floating, float)):
        return None if nonfinite_as_none and not np.isfinite(o) else float(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return o


def deembed_reads(df: pd.DataFrame, model, notes: list[str] | None = None) -> pd.DataFrame:
    """``df`` with its conductances de-embedded from the read circuit, where the data say how
    they were read (columns ``read_gate`` and ``read_voltage``, written by the procedures): a
    read reports I/V through the access transistor and the lines, the device model describes
    the device itself (:func:`labbench.physics.circuit.from_read`, ``model``'s transistor and
    lines).  Data without those columns (a CSV of device conductances, the synthetic sample)
    are taken as they are.  Reads that no device explains (at or beyond what the transistor
    passes) are dropped, and said so."""
    if "read_gate" not in df.columns or model is None:
        return df
    from labbench.physics import circuit

    out = df.copy()
    g = out["conductance"].to_numpy(float)
    v = pd.to_numeric(out.get("read_voltage", model.read.voltage), errors="coerce")
    gate = pd.to_numeric(out["read_gate"], errors="coerce")
    v = np.broadcast_to(np.asarray(v, float), g.shape)
    gate = np.asarray(gate, float)
    dev = np.full(g.shape, np.nan)
    for vv, gg in {(a, b) for a, b in zip(v, gate) if np.isfinite(a) and np.isfinite(b)}:
        rows = (v == vv) & (gate == gg)
        dev[rows] = circuit.deembed(model.switching, g[rows], vv, gg)
    bad = ~np.isfinite(dev)
    if bad.any():
        if notes is not None:
            notes.append(f"dropped {int(bad.sum())} reads that no device explains through the read transistor "
                         f"(k={model.switching.transistor_k:g} A/V^2, V_T={model.switching.v_gate_threshold:g} V): "
                         "check the base model's transistor or the read gate")
        out = out.loc[~bad]
        dev = dev[~bad]
    out["conductance"] = dev
    if notes is not None:
        notes.append(f"reads de-embedded from the read transistor and lines of {model.name} "
                     f"(read gate {', '.join(f'{x:g}' for x in sorted(set(gate[np.isfinite(gate)])))} V)")
    return out


def read_noise_scale(raw: pd.DataFrame, dev: pd.DataFrame, model) -> np.ndarray:
    """Per read of ``dev`` (de-embedded rows of ``raw``, :func:`deembed_reads`): the change of
    the device conductance per unit relative change of what the instrument read, S; a read
    noise that is relative to the read current then has σ = noise_rel · this in the device's
    conductance.  Without de-embedding it is the conductance itself."""
    g = dev["conductance"].to_numpy(float)
    if "read_gate" not in raw.columns or model is None:
        return g
    from labbench.physics import circuit

    rows = raw.loc[dev.index]
    g_read = rows["conductance"].to_numpy(float)
    v = np.broadcast_to(np.asarray(pd.to_numeric(rows.get("read_voltage", model.read.voltage), errors="coerce"),
                                   float), g.shape)
    gate = np.asarray(pd.to_numeric(rows["read_gate"], errors="coerce"), float)
    out = g.copy()
    eps = 1e-4
    for vv, gg in {(a, b) for a, b in zip(v, gate) if np.isfinite(a) and np.isfinite(b)}:
        sel = (v == vv) & (gate == gg)
        hi = circuit.deembed(model.switching, g_read[sel] * (1 + eps), vv, gg)
        lo = circuit.deembed(model.switching, g_read[sel] * (1 - eps), vv, gg)
        d = (hi - lo) / (2 * eps)
        out[sel] = np.where(np.isfinite(d), d, g[sel] ** 2 / g_read[sel])
    return out
