"""NeuroSim's NL label <-> normalized A, derived from the model, checked against NeuroSim's table."""
import numpy as np
import pandas as pd
import pytest

from labbench.paths import MEASURED_DEVICES
from labbench.physics.nonlinearity import nl_from_normalized_a, normalized_a_from_nl


def _table():
    # shipped with the package: this check runs on every clone and install
    return pd.read_csv(MEASURED_DEVICES / "neurosim_ag_asi" / "nonlinearity_to_normA.csv")


def test_matches_neurosim_published_table():
    t = _table()
    ours = np.array([normalized_a_from_nl(v) for v in t.nonlinearity_label])
    rel = np.abs(ours / t.normalized_A_formula_cpp.to_numpy() - 1)
    assert len(t) == 900
    assert rel.max() < 1e-4, f"worst label {t.nonlinearity_label[rel.argmax()]}: {rel.max():.2e}"
    # and the HTML table (4 significant digits)
    assert np.abs(ours / t.normalized_A_htm.to_numpy() - 1).max() < 2.5e-3


@pytest.mark.parametrize("nl", [0.05, 0.5, 1.0, 2.4, 4.88, 6.0, 8.5, -0.63, -4.88])
def test_round_trip_and_sign(nl):
    a = normalized_a_from_nl(nl)
    assert np.sign(a) == np.sign(nl)
    assert nl_from_normalized_a(a) == pytest.approx(nl, rel=1e-9)


def test_known_values_without_table():
    # the two labels of the Ag:a-Si device, as NeuroSim's formula.cpp gives them
    assert normalized_a_from_nl(2.4) == pytest.approx(0.499181, rel=1e-4)
    assert normalized_a_from_nl(-4.88) == pytest.approx(-0.200303, rel=1e-4)


def test_monotone():
    labels = np.linspace(0.1, 9, 50)
    a = [normalized_a_from_nl(v) for v in labels]
    assert np.all(np.diff(a) < 0)


@pytest.mark.parametrize("bad", [0.0, float("nan"), 20.0])
def test_bad_labels_refused(bad):
    with pytest.raises(ValueError):
        normalized_a_from_nl(bad)
