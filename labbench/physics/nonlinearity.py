"""NeuroSim's nonlinearity label ↔ normalized A, derived from the model itself.

For a normalized curve ``y(x) = (1 − e^(−x/A)) / (1 − e^(−1/A))`` on x, y ∈ [0, 1], the
label is the largest vertical gap between the curve and the linear ramp ``y = x``,
in units of 0.07·√2 (≈ 0.099, i.e. 0.07 measured perpendicular to the diagonal)::

    NL(A) = max_x (y(x) − x) / (0.07·√2)

This reproduces NeuroSim's published table (Nonlinearity-NormA.htm / formula.cpp
``getParamA``) to better than 0.01 % over labels 0.01…9 (see
``tests/test_nonlinearity.py``).  The maximum has a closed form: y'(x*) = 1 gives
``x* = −A ln(A (1 − e^(−1/A)))``.  The inverse is a bracketed root find (NL is monotone
in A).  Negative labels mean depression and map to negative A, as in NeuroSim.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

NL_UNIT = 0.07 * math.sqrt(2.0)


def _max_gap(a: float) -> float:
    """max_x (y(x) − x) for the normalized NeuroSim curve with A = a > 0."""
    denom = -math.expm1(-1.0 / a)
    xs = -a * math.log(a * denom)
    xs = min(max(xs, 0.0), 1.0)
    return (-math.expm1(-xs / a)) / denom - xs


def nl_from_normalized_a(a: float) -> float:
    """NeuroSim nonlinearity label of a normalized A (sign carried through)."""
    if a == 0 or not np.isfinite(a):
        raise ValueError(f"normalized A must be finite and non-zero, got {a}")
    return math.copysign(_max_gap(abs(a)) / NL_UNIT, a)


def normalized_a_from_nl(nl: float) -> float:
    """Normalized A for a NeuroSim nonlinearity label (inverse of the above)."""
    if nl == 0 or not np.isfinite(nl):
        raise ValueError(f"nonlinearity label must be finite and non-zero, got {nl}")
    target = abs(nl) * NL_UNIT
    if target >= 1.0:
        raise ValueError(f"nonlinearity label |{nl}| is beyond the model's range (< {1 / NL_UNIT:.2f})")
    # gap(A) falls monotonically from ~1 (A→0) to 0 (A→∞): bracket in log A.
    a = math.exp(brentq(lambda la: _max_gap(math.exp(la)) - target, math.log(1e-4), math.log(1e5),
                        xtol=1e-14, rtol=1e-12))
    return math.copysign(a, nl)
