"""Sweep files: a base configuration and a grid (or list) of changes to it, checked whole
before anything runs.

A sweep file is YAML::

    name: refresh_ablation            # the sweep's name (default: the file's stem)
    device_model: hfox_2t2r_default   # a shipped name or a path (relative to the file)
    data: {kind: mnist}               # or {kind: synthetic, train: 300, test: 100}
    train:                            # base training settings: any TrainSpec setting by flat name
      sizes: [784, 500, 10]           # (labbench.bnn.spec.FLAT_KEYS), or its section written out
      epochs: 10                      # (refresh: {policy: threshold, level: 0.8})
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

* every setting of :class:`~labbench.bnn.spec.TrainSpec` by its flat name
  (:data:`~labbench.bnn.spec.FLAT_KEYS`: ``lr``, ``rule``, ``refresh_level``, ``mode``...;
  a setting added there is sweepable at once), plus ``hidden`` (the hidden layer sizes;
  MNIST's 784 inputs and 10 outputs around them);
* device-model fields (:data:`DEVICE_FIELDS`): ``nl_set``/``nl_reset`` (NeuroSim
  labels), ``a_set``/``a_reset``, ``pmax_set``/``pmax_reset``, ``levels`` (both pmax at
  the same NL), ``g_min``/``g_max``, ``c2c`` (= ``c2c_abs``), ``c2c_abs``, ``c2c_rel``,
  ``d2d`` (σ of every parameter the base model spreads), ``d2d.<param>``, ``read_noise``,
  ``stuck_at_gmin``/``stuck_at_gmax``, ``stuck_fraction`` (half at each bound), and any
  ``device.<section>.<key>`` path of the device-model file;
* ``device_model`` itself (a list of names or paths).

Every point's TrainSpec (with its DeviceModel) is built and checked (TrainSpec.check, no
array built) before anything runs, so an unknown field, an empty list, NaN or a value out
of range is one error naming the field.
"""
from __future__ import annotations

import copy
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
def train_fields() -> dict[str, tuple]:
    """TrainSpec's settings by flat name (:data:`labbench.bnn.spec.FLAT_KEYS`: a setting
    added there is sweepable without a change here) -> (section, field)."""
    from labbench.bnn.spec import FLAT_KEYS

    return dict(FLAT_KEYS)


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
    train: dict[str, Any]           # TrainSpec settings by flat key (labbench.bnn.spec.FLAT_KEYS)
    device: dict[str, Any]          # the device-model file as a dict
    device_model: str               # the base model's name or path
    data: dict[str, Any]
    id: str = ""

    def spec(self, out_dir: str | None = None, db: str | None = None):
        """The point's :class:`~labbench.bnn.spec.TrainSpec` (its run folder and dataset given)."""
        from labbench.bnn.spec import TrainSpec

        return TrainSpec(**self.train, device_model=self.model(), data=self.data,
                         output={"dir": out_dir, "db": db, "plots": False})

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
    """Reject NaN/inf and non-scalars early (TrainSpec and the device schema say the rest)."""
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
    defaults, so a new TrainSpec field with a default does not re-run finished points)."""
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


def build_sweep(raw: dict, path: Path | None = None) -> Sweep:
    """Expand and check a sweep (a parsed sweep file); SweepError on the first problem."""
    where = str(path) if path else "sweep"
    _check_top_keys(raw, where)
    name = _sweep_name(raw, path, where)
    base_train, base_device = _base_settings(raw, where)
    data = _data(raw, where)
    axes = _axes(_mapping(raw, "grid", where), where)
    listed = _listed(raw.get("points"), {k for k, _ in axes}, where)
    seeds = _seeds(raw, base_train, where)
    fields = [k for k, _ in axes]
    for p in listed or []:
        fields += [k for k in p if k not in fields]
    fields.append("seed")
    if not axes and listed is None and len(seeds) == 1:
        raise SweepError(f"{where}: nothing to sweep: give a grid (field: [values]), points, or several seeds")
    _check_size(axes, listed, seeds, where)
    base = {"device_model": raw.get("device_model") or "hfox_2t2r_default", "train": base_train,
            "device": base_device, "data": data}
    combos = [dict(zip([k for k, _ in axes], vs)) for vs in itertools.product(*[v for _, v in axes])]
    if listed is not None:
        combos = [{**c, **p} for c in combos for p in listed]
    points = _expand(combos, seeds, base, path, where)
    return Sweep(name, path, fields, points, _plots(raw.get("plots"), fields, where), data, raw)


def _check_top_keys(raw: dict, where: str) -> None:
    extra = set(raw) - TOP_KEYS
    if extra:
        k = sorted(extra, key=str)[0]
        close = difflib.get_close_matches(str(k), sorted(TOP_KEYS), n=1)
        raise SweepError(f"{where}: unknown key {k!r}{f' (did you mean {close[0]}?)' if close else ''}; "
                         f"a sweep file has {', '.join(sorted(TOP_KEYS))}")


def _sweep_name(raw: dict, path: Path | None, where: str) -> str:
    name = str(raw.get("name") or (path.stem if path else "sweep"))
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise SweepError(f"{where}: name {name!r}: use letters, digits, '-', '_' and '.' only")
    return name


def _base_settings(raw: dict, where: str) -> tuple[dict, dict]:
    """The file's ``train:`` (flat keys, or TrainSpec sections written out) and ``device:``."""
    from labbench.bnn.spec import flatten

    try:
        base_train = flatten(_mapping(raw, "train", where))
    except ValueError as e:
        raise SweepError(f"{where}: train: {e}") from None
    base_device = dict(_mapping(raw, "device", where))
    for k in base_train:
        if classify(k) != "train" and k != "hidden":
            raise unknown_field(f"{where}: train", k)
        _check_value(k, base_train[k], f"{where}: train")
    for k in base_device:
        if classify(k) != "device":
            raise unknown_field(f"{where}: device", k)
        _check_value(k, base_device[k], f"{where}: device")
    return base_train, base_device


def _data(raw: dict, where: str) -> dict:
    from pydantic import ValidationError

    from labbench.bnn.spec import DataSpec

    data = raw.get("data") or {"kind": "mnist"}
    if isinstance(data, str):
        data = {"kind": data}
    if not isinstance(data, dict) or data.get("kind") not in ("mnist", "synthetic"):
        raise SweepError(f"{where}: data: give {{kind: mnist}} (optionally path: FOLDER) or "
                         f"{{kind: synthetic, train: N, test: N}}, got {data!r}")
    if "subset" in data:
        raise SweepError(f"{where}: data: subset: give train_subset under train: (it can be swept)")
    try:
        DataSpec(**data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise SweepError(f"{where}: data: {loc + ': ' if loc else ''}{err['msg'].removeprefix('Value error, ')}"
                         ) from None
    return data


def _axes(grid: dict, where: str) -> list[tuple[str, list]]:
    axes = []
    for k, vals in grid.items():
        if not classify(k):
            raise unknown_field(f"{where}: grid", k)
        if k == "seed":
            raise SweepError(f"{where}: grid: seed: list the seeds under 'seeds:' instead")
        vals = vals if isinstance(vals, list) else [vals]
        if not vals:
            raise SweepError(f"{where}: grid: {k}: the list of values is empty; give at least one value")
        for v in vals:
            _check_value(k, v, f"{where}: grid")
        if len({_canonical(v) for v in vals}) != len(vals):
            raise SweepError(f"{where}: grid: {k}: a value is listed twice ({vals})")
        axes.append((k, vals))
    return axes


def _listed(listed, grid_keys: set, where: str) -> list[dict] | None:
    if listed is None:
        return None
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
            if k in grid_keys:
                raise SweepError(f"{where}: points[{i}]: {k} is also a grid field; give it in one place")
            _check_value(k, v, f"{where}: points[{i}]")
    return listed


def _seeds(raw: dict, base_train: dict, where: str) -> list[int]:
    """The seeds (``seeds:``, or ``train: seed``, taken out of the base settings)."""
    seeds = raw.get("seeds", [base_train.get("seed", 0)])
    seeds = seeds if isinstance(seeds, list) else [seeds]
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
    return seeds


def _check_size(axes, listed, seeds, where: str) -> None:
    n_points = math.prod(len(v) for _, v in axes) * (len(listed) if listed is not None else 1) * len(seeds)
    if n_points > MAX_POINTS:
        sizes = " x ".join([f"{len(v)} {k}" for k, v in axes] + ([f"{len(listed)} points"] if listed else [])
                           + [f"{len(seeds)} seeds"])
        raise SweepError(f"{where}: the grid has {n_points:,} points ({sizes}); at most {MAX_POINTS:,} per sweep "
                         f"file (each point is a full training run): split it into several sweeps or use fewer "
                         f"values")


def _expand(combos: list[dict], seeds: list[int], base: dict, path: Path | None, where: str) -> list[Point]:
    """Every point (combination x seed), each checked whole as a TrainSpec."""
    models: dict[str, dict] = {}
    points: list[Point] = []
    seen: dict[str, int] = {}
    for combo in combos:
        for seed in seeds:
            values = {**combo, "seed": seed}
            idx = len(points)
            pw = f"{where}: point {idx} ({', '.join(f'{k}={v}' for k, v in values.items())})"
            dm_name = str(values.get("device_model", base["device_model"]))
            if dm_name not in models:
                models[dm_name] = _base_model(dm_name, path, where)
            dev = apply_device(models[dm_name], {**base["device"], **{k: v for k, v in values.items()
                                                                     if classify(k) == "device"}}, pw)
            p = Point(idx, values, _train_settings(base["train"], values, pw), dev, dm_name, base["data"])
            _check_point(p, pw)
            p.id = point_id(values, base)
            if p.id in seen:
                raise SweepError(f"{pw}: the same point as point {seen[p.id]}")
            seen[p.id] = idx
            points.append(p)
    return points


def _base_model(name: str, path: Path | None, where: str) -> dict:
    from labbench import paths
    from labbench.physics import DeviceModel

    try:
        resolved = paths.resolve_device_model(name, path.parent if path else None)
    except paths.NotFound as e:
        raise SweepError(f"{where}: device_model: {e}".replace("(--device-model)", "")) from None
    try:
        return DeviceModel.from_yaml(resolved).to_dict()
    except ValueError as e:
        raise SweepError(f"{where}: device_model {name!r}: {e}") from None


def _train_settings(base_train: dict, values: dict, where: str) -> dict:
    """The point's TrainSpec settings by flat key: the base, its swept values, ``hidden``
    as MNIST's 784 inputs and 10 outputs around the hidden widths."""
    train = {**base_train, **{k: v for k, v in values.items() if classify(k) == "train" or k == "hidden"}}
    if "hidden" in train:
        h = train.pop("hidden")
        h = list(h) if isinstance(h, list) else [h]
        train["sizes"] = [MNIST_IN, *h, MNIST_OUT]
    if "sizes" in train and not isinstance(train["sizes"], list):
        raise SweepError(f"{where}: sizes: give the layer widths as a list, e.g. [784, 500, 10]")
    return train


def _plots(plots, fields: list[str], where: str) -> list[dict]:
    if plots is None:
        swept = [f for f in fields if f != "seed"]
        return [{"x": swept[0], **({"by": swept[1]} if len(swept) > 1 else {})}] if swept else []
    if not isinstance(plots, list):
        raise SweepError(f"{where}: plots: give a list of {{x: FIELD, by: FIELD}}")
    for i, pl in enumerate(plots):
        if not isinstance(pl, dict) or "x" not in pl or set(pl) - {"x", "by", "y"}:
            raise SweepError(f"{where}: plots[{i}]: give {{x: FIELD, by: FIELD, y: METRIC}} (by and y optional)")
        for k in ("x", "by"):
            if k in pl and pl[k] not in fields:
                raise SweepError(f"{where}: plots[{i}]: {k}: {pl[k]!r} is not a swept field; "
                                 f"swept: {', '.join(fields)}")
    return plots


def _check_point(p: Point, where: str) -> None:
    """The point as a TrainSpec, checked whole without building arrays (TrainSpec.check):
    every refusal names the field."""
    from pydantic import ValidationError

    from labbench.bnn.spec import TrainSpecError

    try:
        dm = p.model()
    except ValidationError as e:
        errs = "; ".join(f"{'.'.join(str(x) for x in err['loc']) or 'device model'}: "
                         f"{err['msg'].removeprefix('Value error, ')}" for err in e.errors())
        raise SweepError(f"{where}: device model: {errs}") from None
    except ValueError as e:
        raise SweepError(f"{where}: device model: {e}") from None
    try:
        from labbench.bnn.spec import TrainSpec

        TrainSpec(**p.train, device_model=dm, data=p.data).check()
    except TrainSpecError as e:
        raise SweepError(f"{where}: {e}") from None
