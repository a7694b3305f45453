"""Binarized neural networks trained online on 2T2R synapse arrays (Zhou et al., IEDM 2018).

Modules, one job each: :mod:`.mnist` (data), :mod:`.layers` (batch norm, sign with a
straight-through estimator, the binary MLP), :mod:`.update_rules` (optimizer ΔW → SET
pulses), :mod:`.refresh` (when and how saturated pairs are refreshed), :mod:`.spec` (TrainSpec:
one validated description of a training run), :mod:`.run` (TrainRun: checks, prepares, runs and
records a TrainSpec), :mod:`.data` (MNIST or a synthetic task), :mod:`.trainer` (the
device-in-the-loop training loop, checkpoints, metrics, plots), :mod:`.cli`.
"""

# submodules, not names: importing the package stays free of NumPy-heavy work until used
__all__ = ["cli", "data", "evaluate", "layers", "mnist", "optimizers", "plots", "precision", "refresh", "run", "spec",
           "trainer", "update_rules"]
