"""Characterization procedures: one PyMeasure Procedure per file.

They use only the Bench's roles, cell helpers and clock, so the same code runs on a
probe station and on the simulated bench.  Run one with
:func:`labbench.runner.run_procedure` (dataset, progress bar, outputs off on exit).
"""
from .array_map import ArrayMap
from .endurance import Endurance
from .feedback_forming import FeedbackForming
from .forming import Forming
from .iv_sweep import IVSweep
from .multilevel import Multilevel
from .program_verify import ProgramVerify, TspProgramVerify
from .pulse_train import PulseTrain
from .read_disturb import ReadDisturb
from .retention import Retention
from .tsp_pulse_train import TspPulseTrain, TspTriggerPulseTrain

#: CLI name -> procedure class; `labbench measure` offers exactly these
REGISTRY = {cls.NAME: cls for cls in (PulseTrain, Forming, IVSweep, Retention, Endurance, ArrayMap,
                                      TspPulseTrain, TspTriggerPulseTrain, ProgramVerify, Multilevel,
                                      FeedbackForming, ReadDisturb, TspProgramVerify)}

__all__ = ["REGISTRY", "ArrayMap", "Endurance", "FeedbackForming", "Forming", "IVSweep", "Multilevel",
           "ProgramVerify", "PulseTrain", "ReadDisturb", "Retention", "TspProgramVerify", "TspPulseTrain", "TspTriggerPulseTrain"]
