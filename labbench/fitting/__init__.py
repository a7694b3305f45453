"""Fit conductance-update models and their variation to pulse-train data.

``fit_device(data, model="auto")`` returns a :class:`FitResult` with the fitted
:class:`~labbench.physics.DeviceModel`, a report table and plots; see docs/fitting.md.
"""
from .api import KINDS, FitResult, fit_device
from .io import DataError, load_pulse_trains

__all__ = ["KINDS", "FitResult", "fit_device", "DataError", "load_pulse_trains"]
