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
  gives smaller, gentler steps and a lower reachable LRS.  In RESET the transistor caps the
  device voltage at ``I_sat/G``, so a low RESET gate resets less.
* **Saturating drives.**  A pulse worth more than 2|A| nominal pulses (a long DC reading,
  a strong RESET) lands where the device saturates, and that level carries the lognormal
  cycle-to-cycle spread of the device model (``variability.hrs_c2c`` / ``lrs_c2c``).
* **Device voltage.**  The cell voltage divides over the device and the series
  resistance: ``V_dev = V / (1 + G·R_on)``.
* **Voltage-time trade-off.**  A pulse of width t at V_dev counts as
  ``m = ln(1 + (t/τ)·e^((V_dev − V_nom)/v0)) / ln(1 + t_nom/τ)`` nominal pulses: the
  switching time falls exponentially with voltage and the change grows logarithmically
  with time (Yu, Wu & Wong, APL 98, 103514, 2011).  ``V_nom`` is the nominal amplitude
  divided the same way at the same state, so the nominal pulse gives m = 1 exactly.
"""
from __future__ import annotations

import numpy as np

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
    """V across the device: the divider with R_on; in RESET also at most I_sat/G."""
    v = v_cell / (1.0 + g * sw.on_resistance) if sw.on_resistance else np.full(np.shape(g), float(v_cell))
    if direction != SET and gate is not None:
        v = np.minimum(v, saturation_current(sw, gate) / np.maximum(g, 1e-30))
    return v


def effective_pulses(kin, v_dev: np.ndarray, v_nom: np.ndarray, width: float) -> np.ndarray:
    """How many nominal pulses one pulse of ``width`` at ``v_dev`` is worth (1 at nominal)."""
    rate = np.exp((np.asarray(v_dev, float) - v_nom) / kin.v0)
    return np.log1p((width / kin.tau) * rate) / np.log1p(kin.width / kin.tau)


def pulse_drive(sw, g: np.ndarray, direction: int, amplitude: float | None, width: float | None,
                gate: float | None) -> tuple[np.ndarray | None, np.ndarray]:
    """(m per device, device voltage) of one pulse; m is None for the nominal pulse."""
    kin = sw.set_kinetics if direction == SET else sw.reset_kinetics
    amp = kin.amplitude if amplitude is None else abs(float(amplitude))
    w = kin.width if width is None else float(width)
    v_dev = device_voltage(sw, amp, g, direction, gate)
    if amp == kin.amplitude and w == kin.width and (direction == SET or gate is None):
        return None, v_dev
    v_nom = device_voltage(sw, kin.amplitude, g, direction)
    return effective_pulses(kin, v_dev, v_nom, w), v_dev


def form_progress(sw, voltage: float, width: float, v_form: np.ndarray) -> np.ndarray:
    """Forming as the SET kinetics of a pristine device: it forms when the drive of this
    bias (``width`` s at ``voltage``) is worth at least one nominal pulse at ``v_form``."""
    kin = sw.set_kinetics
    return effective_pulses(kin, np.full(np.shape(v_form), abs(float(voltage))), v_form, width)
