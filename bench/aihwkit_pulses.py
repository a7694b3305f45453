"""Drive an exported device in IBM aihwkit: pulse trains, the configs built, the noise model.

Runs with the Python that has aihwkit (bench/export_check.py calls it in a subprocess; it
imports aihwkit, torch, NumPy and the exported Python file, never labbench):

    /work/aihwkit-venv/bin/python bench/aihwkit_pulses.py EXPORT.py --devices 2000 --set 64 --reset 64 \
        --noise full --out out.npz

The pulse loop is the one of ``aihwkit.utils.fitting.model_response``: a tile with one
input, one pulse per update (``desired_bl = 1``, no update management, a learning rate that
saturates the stochastic pulse probability at 1), ``W`` read noise-free after each pulse.
Each device starts at its own lower bound (``set_weights`` clips to it), as labbench's chip starts at Gmin.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys

import numpy as np


def _module(path: str):
    spec = importlib.util.spec_from_file_location("labbench_export", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _device_spec(mod, noise: str) -> dict:
    spec = dict(mod.CONFIG["device"])
    if noise in ("c2c", "none"):   # device-to-device spread off
        spec.update({k: 0.0 for k in spec if k.endswith("_dtod")})
    if noise in ("d2d", "none"):   # cycle-to-cycle noise off
        spec["dw_min_std"] = 0.0
    return spec


def trains(mod, devices: int, n_pre: int, n_set: int, n_reset: int, noise: str, seed: int) -> np.ndarray:
    import torch
    from aihwkit.simulator.configs import SingleRPUConfig
    from aihwkit.simulator.tiles.analog import AnalogTile

    torch.manual_seed(seed)
    spec = _device_spec(mod, noise)
    # aihwkit draws D2D from this seed, but from the clock where it is 0 (rng.cpp setSeed); its
    # update RNG is always clock-seeded in 1.2.0 (not reachable from Python): C2C runs vary
    spec["construction_seed"] = seed + 1
    cfg = SingleRPUConfig(device=mod._build(spec))
    cfg.update.desired_bl = 1
    cfg.update.update_bl_management = False
    cfg.update.update_management = False
    tile = AnalogTile(devices, 1, cfg)
    tile.set_learning_rate(1e3)   # pulse probability sqrt(lr/dw_min) clipped at 1: one pulse per update
    d = -torch.ones(devices)
    up, down = torch.ones(1), -torch.ones(1)
    tile.set_weights(torch.full((devices, 1), -1e6))   # clipped to each device's own lower bound
    for _ in range(n_pre):
        tile.update(down, d)
    out = [tile.get_weights()[0][:, 0].numpy().copy()]
    for k in range(n_set + n_reset):
        tile.update(up if k < n_set else down, d)
        out.append(tile.get_weights()[0][:, 0].numpy().copy())
    return np.array(out, dtype=np.float64)


def smoke(mod) -> dict:
    """Every exported configuration builds and takes an update; the noise model drifts."""
    import torch
    from aihwkit.simulator.tiles.analog import AnalogTile

    out = {}
    for name in ("single_rpu_config", "two_t2r_rpu_config", "mixed_precision_rpu_config"):
        cfg = getattr(mod, name)()
        tile = AnalogTile(4, 3, cfg)
        tile.set_learning_rate(0.1)
        x = torch.ones(2, 3)
        tile.update(x, torch.ones(2, 4))
        out[name] = type(cfg.device).__name__
    nm = mod.noise_model()
    if nm is not None:
        torch.manual_seed(0)
        g_min, g_max = nm.g_min, nm.g_max
        g0 = torch.linspace(g_min, g_max, 11).repeat(4000, 1)
        times = [1e9, 1e11, 1e12, 1e13]
        med = {}
        for t in times:
            coeff = nm.generate_drift_coefficients(g0)
            g = nm.apply_drift_noise_to_conductance(g0, coeff, t)
            med[str(t)] = g.median(dim=0).values.tolist()
        out["noise_model"] = {"g0_uS": g0[0].tolist(), "median_uS": med}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("module")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--pre", type=int, default=0)
    ap.add_argument("--set", type=int, default=64)
    ap.add_argument("--reset", type=int, default=64)
    ap.add_argument("--noise", choices=("full", "c2c", "d2d", "none"), default="full")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args(argv)
    mod = _module(a.module)
    if a.smoke:
        import aihwkit

        print(json.dumps({"aihwkit": aihwkit.__version__, **smoke(mod)}))
        return 0
    w = trains(mod, a.devices, a.pre, a.set, a.reset, a.noise, a.seed)
    np.savez_compressed(a.out, w=w)
    return 0


if __name__ == "__main__":
    sys.exit(main())
