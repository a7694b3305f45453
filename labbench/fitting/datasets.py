"""Loaders: the lab's shared measured data sets as tidy pulse trains.

They read the measured sets shipped with labbench (``data/devices/``, installed as
``labbench.data``; its README gives provenance, licenses and caveats), so validation runs
on every clone and every install.  Each returns a tidy DataFrame that
:func:`labbench.fitting.fit_device` accepts, plus ``published``: the published fit of
the same data (ground truth), where there is one.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from labbench.paths import MEASURED_DEVICES


def _root(sub: str) -> Path:
    root = MEASURED_DEVICES / sub
    if not root.is_dir():  # a broken install, not a user's mistake
        raise FileNotFoundError(f"measured data set {sub} is missing from the installed package ({root}); "
                                f"reinstall labbench")
    return root


def ag_asi() -> pd.DataFrame:
    """Ag:a-Si (Jo et al. 2010; NeuroSim's fitting example): one LTP and one LTD curve.

    NeuroSim stores LTD mirrored; here LTD runs in real order (G falls) on the
    depression pulse number.  Pulse numbers are non-integer (digitized from a figure).
    """
    root = _root("neurosim_ag_asi")
    ltp = pd.read_csv(root / "ag_asi_ltp.csv")
    ltd = pd.read_csv(root / "ag_asi_ltd.csv").sort_values("depression_pulse_number", kind="stable")
    set_ = pd.DataFrame({"cell": "ag_asi", "cycle": 0, "direction": "set",
                         "pulse": ltp["pulse_number"], "conductance": ltp["conductance_S"]})
    reset = pd.DataFrame({"cell": "ag_asi", "cycle": 0, "direction": "reset",
                          "pulse": ltd["depression_pulse_number"], "conductance": ltd["conductance_S"]})
    return pd.concat([set_, reset], ignore_index=True)


def gong2018() -> pd.DataFrame:
    """Gong et al. 2018 HfO2 ReRAM (aihwkit's example CSV): 1000 up + 1000 down pulses.

    The values are in aihwkit weight units (about [−1, 1], not siemens): fit them with
    ``fit_device(..., allow_negative=True)``.  Column 1 is the up train, column 2 the down
    train; row i is read after i pulses (aihwkit's example treats them the same way).
    """
    df = pd.read_csv(_root("aihwkit_gong2018_hfo2") / "gong2018_hfo2_pulse_response.csv")
    up = pd.DataFrame({"cell": "gong2018", "cycle": 0, "direction": "set", "pulse": df["pulse_index"],
                       "conductance": df["up_response"]})
    down = pd.DataFrame({"cell": "gong2018", "cycle": 0, "direction": "reset", "pulse": df["pulse_index"],
                         "conductance": df["down_response"]})
    return pd.concat([up, down], ignore_index=True)


def gong2018_published() -> dict:
    return json.loads((_root("aihwkit_gong2018_hfo2") / "published_fit.json").read_text())


def crosssim() -> pd.DataFrame:
    """Sandia CrossSim example RRAM: 39 SET ramps and 40 RESET ramps (G = I / 0.1 V).

    Ramp k of each direction is cycle k (the files hold alternating SET and RESET runs).
    """
    df = pd.read_csv(_root("crosssim_example_rram") / "crosssim_example_pulse_ramps_long.csv")
    direction = df["direction"].map({"set_potentiation": "set", "reset_depression": "reset"})
    cycle = df["ramp"].str.replace("rmp", "", regex=False).astype(int)
    return pd.DataFrame({"cell": "crosssim", "cycle": cycle, "direction": direction,
                         "pulse": df["pulse_index"], "conductance": df["conductance_S"],
                         "current": df["read_current_A"]})
