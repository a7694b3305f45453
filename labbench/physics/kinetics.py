"""One switching model for pulses, DC readings and forming: the 1T1R cell's electrical drive.

The update model (NeuroSim, aihwkit, piecewise) says how a device responds to its
*nominal* pulse, the one it was fitted at.  This module turns any other drive into
that language, so every way of biasing a cell goes through the same update model:

* **Access transistor.**  In saturation it passes at most ``I_sat = k·(V_G − V_T)²``
  (square law).  With the SMU's compliance this is the current limit ``I_C`` of a SET,
  and a current-limited SET ends at ``G = I_C / v_compliance``: the LRS falls as 1/I_C
  (Ielmini, IEEE TED 58, 4309, 2011; the gate-controlled SET of Zhou et al., IEDM 2018).
  A SET under that ceiling follows the update model compressed so that its asymptote
  lands on the ceiling (steps and their noise shrink by the same factor), so a lower gate
  gives smaller, gentler steps and a lower reachable LRS.  In RESET the transistor's
  source rides on the device (degeneration), so a low RESET gate resets little or not at all.
* **Saturating drives.**  A pulse worth more than 2|A| nominal pulses (a long DC reading,
  a strong RESET) lands where the device saturates, and that level carries the lognormal
  cycle-to-cycle spread of the device model (``variability.hrs_c2c`` / ``lrs_c2c``); a
  stronger RESET lands on a deeper HRS (:func:`hrs_factor`).
* **Device voltage.**  The 1T1R circuit solved with the transistor (linear and saturation
  regions) and the lines in series (:mod:`labbench.physics.circuit`).
* **Voltage-time trade-off.**  A pulse of width t at V_dev counts as
  ``m = ln(1 + (t/τ)·e^((V_dev − V_nom)/v0)) / ln(1 + t_nom/τ)`` nominal pulses: the
  switching time falls exponentially with voltage and the change grows logarithmically
  with time (Yu, Wu & Wong, APL 98, 103514, 2011).  ``V_nom`` is the device voltage of the
  nominal pulse (amplitude and gate) at the same state, so the nominal pulse gives m = 1
  exactly.
"""
from __future__ import annotations

import numpy as np

from . import circuit
from .models import SET


def saturation_current(sw, gate) -> np.ndarray | float:
    """A, the most the access transistor passes at gate voltage ``gate`` (0 below V_T)."""
    over = np.maximum(np.asarray(gate, float) - sw.v_gate_threshold, 0.0)
    return sw.transistor_k * over * over


def set_ceiling(sw, gate=None, compliance=None) -> float | None:
    """S, the conductance a current-limited SET ends at, or None when nothing limits it."""
    limits = []
    if gate is not None:
        limits.append(float(saturation_current(sw, gate)))
    if compliance is not None:
        limits.append(abs(float(compliance)))
    if not limits:
        return None
    return min(limits) / sw.v_compliance


def device_voltage(sw, v_cell: float, g: np.ndarray, direction: int, gate=None) -> np.ndarray:
    """V across the device: the 1T1R circuit solved with the transistor at ``gate`` in series
    (:mod:`labbench.physics.circuit`; in RESET with its source degeneration)."""
    return circuit.device_voltage(sw, g, v_cell, gate, reset=direction != SET)


def nominal_gate(sw, direction: int):
    """The word line of the nominal pulse in ``direction`` (None: no transistor declared)."""
    return (sw.set_kinetics if direction == SET else sw.reset_kinetics).gate


def hrs_factor(sw, drive) -> np.ndarray:
    """G_HRS / Gmin where a saturating RESET lands (median), for a RESET worth ``drive`` times
    the pulses that saturate a device (>= 1): ``exp(hrs_excess · drive^(−1/hrs_saturation))``.
    A RESET that just saturates leaves the HRS ``e^hrs_excess`` above Gmin; a stronger one
    (higher stop voltage or amplitude, longer, a higher gate) goes deeper, saturating at Gmin
    (the HRS resistance grows with the RESET stop voltage and saturates: Ielmini, IEEE TED
    58, 4309, 2011; Fantini et al., IMW 2013)."""
    ratio = np.maximum(np.asarray(drive, float), 1.0)
    return np.exp(sw.hrs_excess * ratio ** (-1.0 / sw.hrs_saturation))


def effective_pulses(kin, v_dev: np.ndarray, v_nom: np.ndarray, width: float) -> np.ndarray:
    """How many nominal pulses one pulse of ``width`` at ``v_dev`` is worth (1 at nominal)."""
    rate = np.exp((np.asarray(v_dev, float) - v_nom) / kin.v0)
    return np.log1p((width / kin.tau) * rate) / np.log1p(kin.width / kin.tau)


def pulse_drive(sw, g: np.ndarray, direction: int, amplitude: float | None, width: float | None,
                gate: float | None) -> tuple[np.ndarray | None, np.ndarray]:
    """(m per device, device voltage) of one pulse; m is None for the nominal pulse.  A gate
    of None is the nominal pulse's own (``set_kinetics.gate`` / ``reset_kinetics.gate``)."""
    kin = sw.set_kinetics if direction == SET else sw.reset_kinetics
    amp = kin.amplitude if amplitude is None else abs(float(amplitude))
    w = kin.width if width is None else float(width)
    gate = kin.gate if gate is None else gate
    v_dev = device_voltage(sw, amp, g, direction, gate)
    if amp == kin.amplitude and w == kin.width and gate == kin.gate:
        return None, v_dev
    v_nom = device_voltage(sw, kin.amplitude, g, direction, kin.gate)
    return effective_pulses(kin, v_dev, v_nom, w), v_dev


def form_progress(sw, voltage: float, width: float, v_form: np.ndarray) -> np.ndarray:
    """Forming as the SET kinetics of a pristine device: it forms when the drive of this
    bias (``width`` s at ``voltage``) is worth at least one nominal pulse at ``v_form``."""
    kin = sw.set_kinetics
    return effective_pulses(kin, np.full(np.shape(v_form), abs(float(voltage))), v_form, width)


def read_disturb_pulses(model, g: np.ndarray, voltage: float, gate, duration: float) -> np.ndarray:
    """How many nominal pulses one read is worth, per device at ``g``: a read at ``voltage``
    (> 0: SET polarity) for ``duration`` s through the transistor at ``gate``, by the same
    switching kinetics as a pulse (:func:`effective_pulses`), times the read's polarity's
    ``read_disturb`` factor (``factor``, or ``reset_factor`` for a negative read).
    No threshold: a read is far below V_set, and disturb is exactly the sub-threshold tail of
    the kinetics (the V_set threshold of a pulse is where a *single* pulse stops counting).

    The rate is referenced to the nominal pulse's device voltage at the device's start of
    that direction (Gmin for SET, Gmax for RESET), where the most of the amplitude reaches
    it: one rate law for every state.  (A pulse references each state's own nominal voltage
    so that the update model stays exact at its nominal pulse; for a read that would make a
    device at the LRS, where the transistor takes half the nominal amplitude, ~800 times
    more easily disturbed than one at the HRS at the same device voltage.)"""
    sw = model.switching
    d = SET if voltage > 0 else -SET
    kin = sw.set_kinetics if d == SET else sw.reset_kinetics
    v_dev = device_voltage(sw, abs(float(voltage)), g, d, gate)
    start = np.array([model.gmin if d == SET else model.gmax], float)
    v_nom = device_voltage(sw, kin.amplitude, start, d, kin.gate)
    return effective_pulses(kin, v_dev, v_nom, float(duration)) * model.read_disturb.factor_for(voltage)
