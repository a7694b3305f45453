"""Conductance drift at rest and read disturb: the device's memory is not perfect.

**Long-term drift (retention).**  Oxygen vacancies of the filament diffuse, thermally
activated, so a programmed state slowly loses conductance towards a level
``G_inf = Gmin + level·(Gmax − Gmin)`` (each device's own Gmin).  A thick filament (the
LRS) is more stable than a thin one (intermediate and low states): HfO2 LRS retention
improves with the programming current (Nail et al., IEDM 2016; Traoré et al., IEEE TED
62, 4029, 2015), analog states drift most (Zhao et al., Appl. Phys. Rev. 7, 011301, 2020).
With ``u = (G − G_inf)/(Gmax_nom − G_inf)`` (the nominal Gmax of the model: the filament's
size, not a device's ceiling, sets its stability) each device follows

    du/dt = −u / (τ_i·(1 + β·u))        ⇒    ln u + β·u = ln u0 + β·u0 − t/τ_i,

so a state near the level relaxes with τ_i and the LRS (u = 1) (1 + β)× slower; the
solution is ``u = W(β·u0·e^{β·u0 − t/τ_i})/β`` (W: Lambert's).  β = 0 is the exponential
relaxation ``G = G_inf + (G0 − G_inf)·e^{−t/τ_i}`` (the model before this one, unchanged).
``τ_i = τ·exp(σ·z_i)·exp(E_a/k·(1/T − 1/T_ref))``.  The flow is Markovian (the state after
t1 + t2 is the state after t1, then t2), so it needs no per-device clock.

**Fast post-programming relaxation.**  Right after a program the conductance of an HfO2
cell moves randomly: a distribution programmed tight broadens, its σ growing about with
log(time) over seconds to hours and then saturating, and more so (relative to G) for low
and intermediate states than for the LRS (Fantini et al., "Intrinsic program instability
in HfO2 RRAM and consequences on program algorithms", IEDM 2015; the spread against time
and state of an HfOx 1T1R array, Wan et al., Nature 608, 504, 2022, Extended Data Fig. 3).
Here each program event gives a device its own displacement of ln G,

    ln G ← ln G + σ(w)·ξ·f(a),   f(a) = min(1, ln(1 + a/t0) / ln(1 + t_sat/t0)),
    σ(w) = σ_hrs + (σ_lrs − σ_hrs)·w,   w = (G − Gmin_nom)/(Gmax_nom − Gmin_nom) in [0, 1],

with ξ a standard normal keyed by (seed, device, write-event count) and ``a`` the time
since that program (Arrhenius-scaled with the same E_a: a bake settles it in seconds).
This is not Markovian in G: the chip keeps, per device, the low byte of its write-event
count at the last drift (a change means "programmed since") and an index into a small
table of program times (see :meth:`Chip._drift`).

**Read disturb.**  A read biases the device below its switching threshold, but not
without effect: each read at V moves G a small fraction ``shift·exp((|V| − v_ref)/v0)``
of the way towards Gmax (positive read, SET polarity) or Gmin (negative read) (read
disturb of HfOx cells, Y. S. Chen et al., IEDM 2009).  It is deterministic, so two paths
that read the same devices at the same voltages stay identical.
"""
from __future__ import annotations

import numpy as np

from .noise import counter_normal

#: Boltzmann constant, eV/K
K_B = 8.617333262e-5
#: the noise stream of the per-device drift time constants (the chip uses 1-4)
RETENTION_STREAM = 5
#: the noise stream of the post-program relaxation (per device and write event; 6 is endurance)
RELAXATION_STREAM = 7
#: one day at 25 °C: a model that keeps less than VOLATILE_FRACTION of its window then is volatile
VOLATILE_TIME, VOLATILE_TEMPERATURE, VOLATILE_FRACTION = 86400.0, 298.15, 0.01
#: lognormal spreads are truncated at ±3σ, as elsewhere in the chip
_TRUNCATE = 3.0


def arrhenius(ret, temperature: float | None = None) -> float:
    """τ at ``temperature`` (K; None: the model's operating temperature), in s."""
    t = ret.temperature if temperature is None else float(temperature)
    return float(ret.tau * np.exp(ret.activation_energy / K_B * (1.0 / t - 1.0 / ret.t_ref_temperature)))


def device_taus(ret, seed: int, idx: np.ndarray, temperature: float | None = None) -> np.ndarray:
    """Per-device τ_i (s) of devices ``idx``: a pure function of (seed, device), no storage
    (10⁶ devices × float64 would be 8 MB for a number used once per idle period)."""
    tau = arrhenius(ret, temperature)
    if not ret.tau_d2d:
        return np.full(idx.shape, tau)
    z = counter_normal(seed, idx, np.zeros(idx.shape, np.uint64), RETENTION_STREAM)
    return tau * np.exp(ret.tau_d2d * np.clip(z, -_TRUNCATE, _TRUNCATE))


def acceleration(ret, temperature: float | None = None) -> float:
    """τ(T_ref)/τ(T): how much faster than at the reference temperature everything ages."""
    t = ret.temperature if temperature is None else float(temperature)
    return float(np.exp(ret.activation_energy / K_B * (1.0 / ret.t_ref_temperature - 1.0 / t)))


def longterm(u: np.ndarray, kt, beta: float) -> np.ndarray:
    """u after ``kt`` = t/τ_i of ``du/dt = −u/(τ_i(1 + β·u))``: ``W(β·u0·e^{β·u0 − kt})/β``.
    States below the level (u ≤ 0, an HRS broadened below its own Gmin) and β = 0 relax
    exponentially.  u is capped at 5 (a device far above the nominal Gmax) so e^{β·u}
    cannot overflow (β ≤ 100)."""
    u = np.asarray(u, np.float64)
    kt = np.asarray(kt, np.float64)
    if not beta:
        return u * np.exp(-kt)
    from scipy.special import lambertw

    up = np.clip(u, 1e-300, 5.0)
    x = beta * up * np.exp(beta * up - kt)
    out = lambertw(x).real / beta
    return np.where(u > 0, out, u * np.exp(-kt))


def kept_fraction(ret, u0: float, seconds: float, temperature: float) -> float:
    """The fraction of ``u0`` (window above the level) a median device keeps after
    ``seconds`` at ``temperature`` K (long-term drift only; relaxation is a spread)."""
    kt = seconds / arrhenius(ret, temperature)
    return float(longterm(np.array([u0]), kt, ret.state_factor)[0] / u0)


def relax_shape(rel, age) -> np.ndarray:
    """f(a): how much of its saturated displacement a device relaxed ``age`` s after a program."""
    a = np.maximum(np.asarray(age, np.float64), 0.0)
    return np.minimum(np.log1p(a / rel.t0) / np.log1p(rel.t_sat / rel.t0), 1.0)


def relax_sigma(rel, w) -> np.ndarray:
    """σ of ln G at saturation for a state at ``w`` (0: HRS, 1: LRS of the nominal window)."""
    w = np.clip(w, 0.0, 1.0)
    return rel.sigma_hrs + (rel.sigma_lrs - rel.sigma_hrs) * w


def relax_move(g: np.ndarray, rel, lo: float, hi: float, step: np.ndarray) -> np.ndarray:
    """G after ``d ln G = σ(G)·dx`` integrated over ``x`` from 0 to ``step`` (= ξ·Δf), with σ
    linear in G (σ = A + B·G, the σ(w) above without its clip): ``G/(A + B·G)`` grows by
    ``e^{A·step}``.  Integrated exactly, the moves of two drifts compose into the move of
    one (σ follows G as it moves), so relaxation does not depend on how often the clock
    was read.  σ_lrs ≤ σ_hrs (B ≤ 0): σ falls to 0 only above Gmax, where G stops."""
    g = np.asarray(g, np.float64)
    b = (rel.sigma_lrs - rel.sigma_hrs) / (hi - lo)
    a = rel.sigma_hrs - b * lo
    if a <= 0:
        return g
    if b == 0:
        return g * np.exp(a * step)
    r = g / (a + b * g) * np.exp(a * step)
    return r * a / (1.0 - r * b)


def relax(g: np.ndarray, g_inf: np.ndarray, tau: np.ndarray, dt: float) -> np.ndarray:
    """G after ``dt`` s of relaxation towards ``g_inf`` with time constants ``tau``."""
    keep = np.exp(-dt / tau)
    return (g_inf + (g - g_inf) * keep).astype(g.dtype, copy=False)


def disturb_fraction(rd, voltage: float) -> float:
    """The fraction of the way to Gmax (V > 0) or Gmin (V < 0) one read at ``voltage`` moves
    a device (the chip applies it: :func:`labbench.physics.kernels.read_disturb`)."""
    if voltage == 0 or not rd.shift:
        return 0.0
    return float(min(rd.shift * np.exp((abs(voltage) - rd.v_ref) / rd.v0), 1.0))
