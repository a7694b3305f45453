"""Device physics: update models, variation, device-model files and the simulated Chip."""
from .chip import Chip
from .device_model import DeviceModel, load_device_model
from .aihwkit_models import ExpStepModel, PowStepModel, SoftBoundsModel
from .models import RESET, SET, NeuroSimModel, UpdateModel, model_class, model_kinds
from .nonlinearity import nl_from_normalized_a, normalized_a_from_nl
from .piecewise import PiecewiseModel

__all__ = [
    "Chip", "DeviceModel", "load_device_model", "SET", "RESET", "UpdateModel", "NeuroSimModel",
    "SoftBoundsModel", "ExpStepModel", "PowStepModel", "PiecewiseModel",
    "model_class", "model_kinds", "nl_from_normalized_a", "normalized_a_from_nl",
]
