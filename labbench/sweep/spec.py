"""Sweep files: a base configuration and a grid (or list) of changes to it, checked whole
before anything runs.

A sweep file is YAML::

    name: refresh_ablation            # the sweep's name (default: the file's stem)
    device_model: hfox_2t2r_default   # a shipped name or a path (relative to the file)
    data: {kind: mnist}               # or {kind: synthetic, train: 300, test: 100}
    train:                            # base training options: any TrainConfig field
      sizes: [784, 500, 10]
      epochs: 10
    device:                           # base device-model changes (same names as below)
      c2c: 0.03
    grid:                             # every combination of these
      nl_set: [0.5, 1, 2.4, 4.88, 6]
      rule: [accumulate, stochastic]
      refresh: [threshold, none]
    points:                           # and/or an explicit list (crossed with the grid)
      - {refresh: threshold, refresh_level: 0.8}
    seeds: [0, 1, 2]
    plots:                            # accuracy against a field, one line per value of another
      - {x: nl_set, by: refresh}

Field names are found generically:

* every field of :class:`~labbench.bnn.trainer.TrainConfig` (``dataclasses.fields``:
  a field added to TrainConfig is sweepable at once), plus ``hidden`` (the hidden layer
  sizes; MNIST's 784 inputs and 10 outputs around them);
* device-model fields (:data:`DEVICE_FIELDS`): ``nl_set``/``nl_reset`` (NeuroSim
  labels), ``a_set``/``a_reset``, ``pmax_set``/``pmax_reset``, ``levels`` (both pmax at
  the same NL), ``g_min``/``g_max``, ``c2c`` (= ``c2c_abs``), ``c2c_abs``, ``c2c_rel``,
  ``d2d`` (σ of every parameter the base model spreads), ``d2d.<param>``, ``read_noise``,
  ``stuck_at_gmin``/``stuck_at_gmax``, ``stuck_fraction`` (half at each bound), and any
  ``device.<section>.<key>`` path of the device-model file;
* ``device_model`` itself (a list of names or paths).

Every point's TrainConfig and DeviceModel are built before anything runs, so an unknown
field, an empty list, NaN or a value out of range is one error naming the field.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labbench.errors import LabbenchError  # noqa: F401

from .errors import SweepError

MNIST_IN, MNIST_OUT = 784, 10


# -- the fields ---------------------------------------------------------------------------
def train_fields() -> dict[str, dataclasses.Field]:
    """TrainConfig's fields, discovered (new fields are sweepable without a change here)."""
    from labbench.bnn.trainer import TrainConfig

    return {f.name: f for f in dataclasses.fields(TrainConfig)}


#: device-model shortcuts -> what they mean (for messages and the docs)
DEVICE_FIELDS: dict[str, str] = {
    "nl_set": "NeuroSim nonlinearity label of SET (e.g. 2.4)",
    "nl_reset": "NeuroSim nonlinearity label of RESET (negative, e.g. -4.88)",
    "a_set": "update.a_set (pulses)",
    "a_reset": "update.a_reset (pulses, negative)",
    "pmax_set": "update.pmax_set (levels of SET)",
    "pmax_reset": "update.pmax_reset (levels of RESET)",
    "levels": "pmax_set and pmax_reset together, keeping the NL labels",
    "g_min": "update.g_min (S)",
    "g_max": "update.g_max (S)",
    "c2c": "update.c2c_abs (σ per pulse, fraction of the range)",
    "c2c_abs": "update.c2c_abs",
    "c2c_rel": "update.c2c_rel",
    "d2d": "d2d.sigma of every parameter the base model spreads (g_max, a_set if none)",
    "d2d.<param>": "d2d.sigma.<param> (lognormal σ)",
    "read_noise": "read.noise_rel",
    "stuck_at_gmin": "faults.stuck_at_gmin",
    "stuck_at_gmax": "faults.stuck_at_gmax",
    "stuck_fraction": "faults: half stuck at Gmin, half at Gmax",
    "device.<section>.<key>": "any key of the device-model file",
}
_UPDATE_KEYS = {"a_set", "a_reset", "pmax_set", "pmax_reset", "g_min", "g_max", "c2c_abs", "c2c_rel"}
_OTHER_KEYS = {"nl_set", "nl_reset", "levels", "c2c", "d2d", "read_noise", "stuck_at_gmin",
               "stuck_at_gmax", "stuck_fraction"}
SPECIAL = {"hidden", "device_model"}
TOP_KEYS = {"name", "description", "device_model", "data", "train", "device", "grid", "points", "seeds",
            "plots"}


def classify(name: str) -> str:
    """'train', 'device' or 'special' for a field name; SweepError otherwise."""
    if not isinstance(name, str):
        raise SweepError(f"field names are text, got {name!r}")
    if name in SPECIAL:
        return "special"
    if name in train_fields():
        return "train"
    if name in _UPDATE_KEYS or name in _OTHER_KEYS or name.startswith("d2d.") or name.startswith("device."):
        return "device"
    return ""


def known_fields() -> list[str]:
    return sorted(set(train_fields()) | SPECIAL | _UPDATE_KEYS | _OTHER_KEYS)


def unknown_field(where: str, name: Any) -> SweepError:
    close = difflib.get_close_matches(str(name), known_fields(), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return SweepError(
        f"{where}: unknown field {name!r}{hint}. Sweepable: training options "
        f"({', '.join(sorted(train_fields()))}, hidden), device-model fields "
        f"({', '.join(k for k in DEVICE_FIELDS)}), device_model, and seeds")


# -- applying device changes ------------------------------------------------------------
def _set_path(d: dict, path: list[str], value, where: str) -> None:
    cur = d
    for p in path[:-1]:
        nxt = cur.get(p)
        if nxt is None:
            nxt = cur[p] = {}
        if not isinstance(nxt, dict):
            raise SweepError(f"{where}: {'.'.join(path)}: {p!r} is not a section of the device model")
        cur = nxt
    cur[path[-1]] = value


def apply_device(base: dict, changes: dict[str, Any], where: str) -> dict:
    """The device-model dict ``base`` with ``changes`` (shortcut names) applied."""
    from labbench.physics.nonlinearity import normalized_a_from_nl

    d = copy.deepcopy(base)
    upd = d.setdefault("update", {})
    # levels first, so an NL given beside it uses the new pmax
    order = sorted(changes, key=lambda k: (k != "levels", k))
    for key in order:
        v = changes[key]
        w = f"{where}: {key}"
        if key in _UPDATE_KEYS:
            upd[key] = v
        elif key == "c2c":
            upd["c2c_abs"] = v
        elif key in ("nl_set", "nl_reset"):
            if upd.get("kind") != "neurosim":
                raise SweepError(f"{w}: NL labels apply to the neurosim update model, "
                                 f"this device model is {upd.get('kind')!r}")
            side = key.removeprefix("nl_")
            x = _finite(v, w)
            if side == "set" and x <= 0 or side == "reset" and x >= 0:
                raise SweepError(f"{w}: must be {'> 0' if side == 'set' else '< 0'} "
                                 f"(NeuroSim sign convention), got {v!r}")
            try:
                upd[f"a_{side}"] = normalized_a_from_nl(x) * float(upd[f"pmax_{side}"])
            except ValueError as e:
                raise SweepError(f"{w}: {e}") from None
        elif key == "levels":
            n = _finite(v, w)
            if n != int(n) or n < 2:
                raise SweepError(f"{w}: must be a whole number of levels >= 2, got {v!r}")
            if upd.get("kind") != "neurosim":
                raise SweepError(f"{w}: levels apply to the neurosim update model, "
                                 f"this device model is {upd.get('kind')!r}")
            for side in ("set", "reset"):
                a_norm = float(upd[f"a_{side}"]) / float(upd[f"pmax_{side}"])
                upd[f"pmax_{side}"] = int(n)
                upd[f"a_{side}"] = a_norm * int(n)
        elif key == "d2d":
            sig = d.setdefault("d2d", {}).setdefault("sigma", {})
            names = list(sig) or ["g_max", "a_set"]
            for p in names:
                sig[p] = v
        elif key.startswith("d2d."):
            d.setdefault("d2d", {}).setdefault("sigma", {})[key[4:]] = v
        elif key == "read_noise":
            d.setdefault("read", {})["noise_rel"] = v
        elif key in ("stuck_at_gmin", "stuck_at_gmax"):
            d.setdefault("faults", {})[key] = v
        elif key == "stuck_fraction":
            x = _finite(v, w)
            d.setdefault("faults", {}).update(stuck_at_gmin=x / 2, stuck_at_gmax=x / 2)
        elif key.startswith("device."):
            path = key.split(".")[1:]
            if not path or not all(path):
                raise SweepError(f"{w}: give a path such as device.read.noise_rel")
            _set_path(d, path, v, where)
        else:
            raise unknown_field(where, key)
    return d


def _finite(v, where: str) -> float:
    if isinstance(v, bool):
        raise SweepError(f"{where}: must be a number, got {v!r}")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise SweepError(f"{where}: must be a number, got {v!r}") from None
    if not math.isfinite(x):
        raise SweepError(f"{where}: must be a finite number, got {v!r}")
    return x


# -- the sweep -----------------------------------------------------------------------------
@dataclass
class Point:
    """One training run of the sweep."""

    index: int
    values: dict[str, Any]          # the swept fields' values (and seed)
    train: dict[str, Any]           # TrainConfig keyword arguments
    device: dict[str, Any]          # the device-model file as a dict
    device_model: str               # the base model's name or path
    data: dict[str, Any]
    id: str = ""

    def config(self):
        from labbench.bnn.trainer import TrainConfig

        return TrainConfig(**self.train)

    def model(self):
        from labbench.physics.device_model import DeviceModel

        return DeviceModel.model_validate(self.device)


@dataclass
class Sweep:
    name: str
    path: Path | None
    fields: list[str]               # swept field names, in file order (seed last)
    points: list[Point]
    plots: list[dict[str, str]]
    data: dict[str, Any]
    raw: dict[str, Any] = field(default_factory=dict)


def _check_value(name: str, v, where: str):
    """Reject NaN/inf and non-scalars early (TrainConfig and the device schema say the rest)."""
    if isinstance(v, float) and not math.isfinite(v):
        raise SweepError(f"{where}: {name}: {v!r} is not a finite number")
    if isinstance(v, dict):
        raise SweepError(f"{where}: {name}: a value must be a number, text or a list, got a mapping {v!r}")
    if isinstance(v, list):
        for x in v:
            _check_value(name, x, where)
    return v


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))


def point_id(values: dict, base: dict) -> str:
    """A stable id of a point: its values and the file's base settings (not the code's
    defaults, so a new TrainConfig field with a default does not re-run finished points)."""
    return hashlib.sha1(_canonical({"values": values, "base": base}).encode()).hexdigest()[:12]


def _load_file(path: Path) -> dict:
    from labbench.yamlfile import load_yaml

    import yaml

    if not path.exists():
        raise SweepError(f"sweep file not found: {path}")
    if path.is_dir():
        raise SweepError(f"{path} is a folder; give a sweep file (YAML)")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SweepError(f"{path}: not a text file (a sweep file is YAML)") from None
    except yaml.YAMLError as e:
        raise SweepError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise SweepError(f"{path}: expected a mapping at the top level (name, device_model, train, grid, seeds)")
    return data


MAX_POINTS = 100_000   # a grid beyond this is a typo, not a plan (each point is a training run)


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    return build_sweep(_load_file(path), path)


def _mapping(raw, key, where) -> dict:
    v = raw.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise SweepError(f"{where}: {key}: expected a mapping of field: value, got {type(v).__name__}")
    return v


def build_sweep(raw: dict, path: Path | None = None) -> Sweep:  # noqa: C901 - to be split when sweep points become TrainSpecs (issue 25)
    """Expand and check a sweep (a parsed sweep file); SweepError on the first problem."""
    from labbench import paths

    where = str(path) if path else "sweep"
    extra = set(raw) - TOP_KEYS
    if extra:
        k = sorted(extra, key=str)[0]
        close = difflib.get_close_matches(str(k), sorted(TOP_KEYS), n=1)
        raise SweepError(f"{where}: unknown key {k!r}{f' (did you mean {close[0]}?)' if close else ''}; "
                         f"a sweep file has {', '.join(sorted(TOP_KEYS))}")
    name = str(raw.get("name") or (path.stem if path else "sweep"))
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise SweepError(f"{where}: name {name!r}: use letters, digits, '-', '_' and '.' only")

    # base settings
    base_train = dict(_mapping(raw, "train", where))
    base_device = dict(_mapping(raw, "device", where))
    for k in base_train:
        if classify(k) not in ("train",) and k != "hidden":
            raise unknown_field(f"{where}: train", k)
        _check_value(k, base_train[k], f"{where}: train")
    for k in base_device:
        if classify(k) != "device":
            raise unknown_field(f"{where}: device", k)
        _check_value(k, base_device[k], f"{where}: device")
    data = raw.get("data") or {"kind": "mnist"}
    if isinstance(data, str):
        data = {"kind": data}
    if not isinstance(data, dict) or data.get("kind") not in ("mnist", "synthetic"):
        raise SweepError(f"{where}: data: give {{kind: mnist}} (optionally path: FOLDER) or "
                         f"{{kind: synthetic, train: N, test: N}}, got {data!r}")
    from .data import check_data_spec

    check_data_spec(data, f"{where}: data")

    # the axes
    grid = _mapping(raw, "grid", where)
    axes: list[tuple[str, list]] = []
    for k, vals in grid.items():
        kind = classify(k)
        if not kind:
            raise unknown_field(f"{where}: grid", k)
        if k == "seed":
            raise SweepError(f"{where}: grid: seed: list the seeds under 'seeds:' instead")
        if not isinstance(vals, list):
            vals = [vals]
        if not vals:
            raise SweepError(f"{where}: grid: {k}: the list of values is empty; give at least one value")
        for v in vals:
            _check_value(k, v, f"{where}: grid")
        if len({_canonical(v) for v in vals}) != len(vals):
            raise SweepError(f"{where}: grid: {k}: a value is listed twice ({vals})")
        axes.append((k, vals))
    listed = raw.get("points")
    if listed is not None:
        if not isinstance(listed, list) or not listed:
            raise SweepError(f"{where}: points: give a non-empty list of mappings (field: value)")
        for i, p in enumerate(listed):
            if not isinstance(p, dict) or not p:
                raise SweepError(f"{where}: points[{i}]: each point is a mapping of field: value, got {p!r}")
            for k, v in p.items():
                if not classify(k):
                    raise unknown_field(f"{where}: points[{i}]", k)
                if k == "seed":
                    raise SweepError(f"{where}: points[{i}]: seed: list the seeds under 'seeds:' instead")
                if k in grid:
                    raise SweepError(f"{where}: points[{i}]: {k} is also a grid field; give it in one place")
                _check_value(k, v, f"{where}: points[{i}]")
    seeds = raw.get("seeds", [base_train.get("seed", 0)])
    if not isinstance(seeds, list):
        seeds = [seeds]
    if not seeds:
        raise SweepError(f"{where}: seeds: the list is empty; give at least one seed")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**32:
            raise SweepError(f"{where}: seeds: {s!r} is not a whole number in [0, 2^32)")
    if len(set(seeds)) != len(seeds):
        raise SweepError(f"{where}: seeds: a seed is listed twice ({seeds})")
    if "seed" in base_train:
        if raw.get("seeds") is not None:
            raise SweepError(f"{where}: train: seed and seeds: give the seeds in one place")
        base_train.pop("seed")

    fields = [k for k, _ in axes]
    for p in listed or []:
        for k in p:
            if k not in fields:
                fields.append(k)
    fields.append("seed")
    if not axes and listed is None and len(seeds) == 1:
        raise SweepError(f"{where}: nothing to sweep: give a grid (field: [values]), points, or several seeds")

    n_points = math.prod(len(v) for _, v in axes) * (len(listed) if listed is not None else 1) * len(seeds)
    if n_points > MAX_POINTS:
        sizes = " x ".join([f"{len(v)} {k}" for k, v in axes] + ([f"{len(listed)} points"] if listed else [])
                           + [f"{len(seeds)} seeds"])
        raise SweepError(f"{where}: the grid has {n_points:,} points ({sizes}); at most {MAX_POINTS:,} per sweep "
                         f"file (each point is a full training run): split it into several sweeps or use fewer "
                         f"values")
    base_model = raw.get("device_model") or "hfox_2t2r_default"
    base = {"device_model": base_model, "train": base_train, "device": base_device, "data": data}
    combos = [dict(zip([k for k, _ in axes], vs)) for vs in itertools.product(*[v for _, v in axes])]
    if listed is not None:
        combos = [{**c, **p} for c in combos for p in listed]
    model_cache: dict[str, dict] = {}
    points: list[Point] = []
    seen: dict[str, int] = {}
    for combo in combos:
        for seed in seeds:
            values = {**combo, "seed": seed}
            idx = len(points)
            pw = f"{where}: point {idx} ({', '.join(f'{k}={v}' for k, v in values.items())})"
            dm_name = str(values.get("device_model", base_model))
            if dm_name not in model_cache:
                try:
                    resolved = paths.resolve_device_model(dm_name, path.parent if path else None)
                except paths.NotFound as e:
                    raise SweepError(f"{where}: device_model: {e}".replace("(--device-model)", "")) from None
                from labbench.physics import DeviceModel

                try:
                    model_cache[dm_name] = DeviceModel.from_yaml(resolved).to_dict()
                except ValueError as e:
                    raise SweepError(f"{where}: device_model {dm_name!r}: {e}") from None
            dev_changes = {**base_device, **{k: v for k, v in values.items() if classify(k) == "device"}}
            dev = apply_device(model_cache[dm_name], dev_changes, pw)
            train = {**base_train, **{k: v for k, v in values.items() if classify(k) == "train" or k == "hidden"}}
            if "hidden" in train:
                h = train.pop("hidden")
                h = list(h) if isinstance(h, list) else [h]
                train["sizes"] = [MNIST_IN, *h, MNIST_OUT]
            if "sizes" in train and not isinstance(train["sizes"], list):
                raise SweepError(f"{pw}: sizes: give the layer widths as a list, e.g. [784, 500, 10]")
            p = Point(idx, values, train, dev, dm_name, data)
            _check_point(p, pw)
            p.id = point_id(values, base)
            if p.id in seen:
                raise SweepError(f"{pw}: the same point as point {seen[p.id]}")
            seen[p.id] = idx
            points.append(p)

    plots = raw.get("plots")
    if plots is None:
        swept = [f for f in fields if f != "seed"]
        plots = [{"x": swept[0], **({"by": swept[1]} if len(swept) > 1 else {})}] if swept else []
    if not isinstance(plots, list):
        raise SweepError(f"{where}: plots: give a list of {{x: FIELD, by: FIELD}}")
    for i, pl in enumerate(plots):
        if not isinstance(pl, dict) or "x" not in pl or set(pl) - {"x", "by", "y"}:
            raise SweepError(f"{where}: plots[{i}]: give {{x: FIELD, by: FIELD, y: METRIC}} (by and y optional)")
        for k in ("x", "by"):
            if k in pl and pl[k] not in fields:
                raise SweepError(f"{where}: plots[{i}]: {k}: {pl[k]!r} is not a swept field; "
                                 f"swept: {', '.join(fields)}")
    return Sweep(name, path, fields, points, plots, data, raw)


def _check_point(p: Point, where: str) -> None:
    """Build the point's TrainConfig and DeviceModel (and a 1×1 chip): every refusal names the field."""
    from pydantic import ValidationError

    try:
        cfg = p.config()
    except TypeError as e:
        raise SweepError(f"{where}: training options: {e}") from None
    except ValueError as e:
        raise SweepError(f"{where}: {e}") from None
    try:
        dm = p.model()
    except ValidationError as e:
        errs = "; ".join(f"{'.'.join(str(x) for x in err['loc']) or 'device model'}: "
                         f"{err['msg'].removeprefix('Value error, ')}" for err in e.errors())
        raise SweepError(f"{where}: device model: {errs}") from None
    except ValueError as e:
        raise SweepError(f"{where}: device model: {e}") from None
    # the trainer itself checks the rest (rule, refresh policy, any field added later):
    # build one on a 1-wide hidden layer, which costs milliseconds
    from labbench.bnn.trainer import Trainer, check_memory

    try:
        check_memory(cfg.sizes, cfg.mode, option="sizes")
        small = dataclasses.replace(cfg, sizes=(cfg.sizes[0], *([1] * (len(cfg.sizes) - 2)), cfg.sizes[-1]))
        Trainer(small, dm, progress=False, plots=False)
    except (ValueError, KeyError, TypeError) as e:
        raise SweepError(f"{where}: {e.args[0] if isinstance(e, KeyError) and e.args else e}") from None
    if p.data["kind"] == "mnist" and (cfg.sizes[0] != MNIST_IN or cfg.sizes[-1] != MNIST_OUT):
        raise SweepError(f"{where}: sizes {list(cfg.sizes)}: MNIST needs {MNIST_IN} inputs and "
                         f"{MNIST_OUT} outputs")
