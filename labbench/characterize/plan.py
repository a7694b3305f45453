"""The campaign plan: which procedures run, on which cells, with which parameters.

A plan file is YAML (duplicate keys refused, no NaN or infinity), validated here so that
every mistake names its step: an unknown procedure lists the known ones, an unknown
parameter lists the procedure's, a value the procedure's own parameter refuses says why.
Whether a step's levels fit the bench's limits is checked on the bench itself, for every
step, before the first one sends anything (:func:`labbench.characterize.campaign.check_steps`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, model_validator

#: the plan `labbench characterize` runs without --plan (package data)
DEFAULT_PLAN = Path(__file__).resolve().parent / "plans" / "default.yaml"

FIT_MODELS = ("auto", "neurosim", "softbounds", "expstep", "powstep", "piecewise")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Step(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="unique within the plan (letters, digits, -_.)")
    procedure: str = Field(description="a labbench procedure, as `labbench measure` names it")
    params: dict[str, StrictStr | StrictInt | StrictFloat] = Field(default_factory=dict)

    def build(self):
        """The procedure object, its parameters set (and checked) through PyMeasure's own."""
        from labbench.procedures import REGISTRY

        cls = REGISTRY[self.procedure]
        proc = cls()
        known = proc._parameters
        values = {}
        for key, raw in self.params.items():
            if key not in known:
                raise ValueError(f"{cls.NAME} has no parameter {key!r}; it has {', '.join(sorted(known))}")
            param = known[key]
            try:
                param.value = raw
            except ValueError as e:
                raise ValueError(f"{key}={raw!r}: {e}") from None
            values[key] = param.value
        return cls(**values)


class FitSpec(_Strict):
    model: Literal[FIT_MODELS] = "auto"
    method: Literal["auto", "trajectory", "onestep"] = "auto"


class Plan(_Strict):
    name: str
    description: str = ""
    steps: list[Step] = Field(min_length=1)
    fit: FitSpec = FitSpec()

    @model_validator(mode="after")
    def _check(self):
        from labbench.procedures import REGISTRY

        seen = set()
        for i, step in enumerate(self.steps):
            where = f"steps.{i} ({step.name})"
            if step.name in seen:
                raise ValueError(f"{where}: the step name {step.name!r} is used twice; give each step its own")
            seen.add(step.name)
            if step.procedure not in REGISTRY:
                raise ValueError(f"{where}.procedure: unknown procedure {step.procedure!r}; known: "
                                 f"{', '.join(sorted(REGISTRY))}")
            try:
                step.build()
            except ValueError as e:
                raise ValueError(f"{where}.params: {e}") from None
        return self

    def digest(self) -> str:
        """What identifies the plan for resuming: its steps and fit, not its wording."""
        body = json.dumps({"steps": [s.model_dump() for s in self.steps], "fit": self.fit.model_dump()},
                          sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]


def load_plan(path: str | Path | None = None) -> Plan:
    """A plan file (None: the shipped default)."""
    from labbench.yamlfile import load_validated

    return load_validated(Plan, DEFAULT_PLAN if path is None else Path(path), "campaign plan")
