"""Strict on-chip training vs mixed precision: the rules, and the bytes that tell them apart.

On the paper's chip (Zhou et al., IEDM 2018) the hidden weight W ∝ G+ − G− lives only in
the device pair.  A run that keeps digital state per synapse beside it (Adam's moments,
the accumulate rule's residual, the threshold refresh's strike counter) is mixed
precision, and says so: every run reports ``bytes_per_synapse``.

* ``strict`` — no per-synapse digital state (a zero-state optimizer, a rule without a
  residual, a refresh policy without per-pair memory); ±1 inputs; a sense amplifier with
  offset and noise (σ ≥ 1 % of the range); the paper-like refresh (RESET both, re-write
  the whole difference, no verify) or none (the ablation).
* ``mixed-precision`` — anything goes; today's default (Adam + accumulate: 12 B/synapse).

A strict configuration that breaks a rule is refused (by :class:`~labbench.bnn.spec.TrainSpec`),
naming the option to drop.
"""
from __future__ import annotations

import math

PRECISIONS = ("mixed-precision", "strict")

# What --mode strict sets (the CLI applies these before the user's own options).  The
# schedule is what trained best without per-synapse state (bench/results/train_bench.md):
# with C2C noise per pulse about one step, every pulse that carries no signal costs
# accuracy, so strict averages the gradient over large batches and writes one pulse only
# where the normalized update is large (threshold rule), instead of Adam's momentum and a
# residual doing that averaging digitally.
STRICT = {"precision": "strict", "optimizer": "adafactor", "rule": "threshold", "rule_threshold": 1.0,
          "batch": 1000, "lr": 0.02, "lr_end": 0.001, "refresh": "paper",
          "binarize_input": True, "sense_offset": 0.01, "sense_noise": 0.01}
MIXED = {"precision": "mixed-precision"}
PRESETS = {"mixed-precision": MIXED, "strict": STRICT}
STRICT_SENSE_MIN = 0.01     # σ of the sense amplifier's offset and noise, fraction of the range
STRICT_REFRESH = ("paper", "none")


def _opt(name: str) -> str:
    return "--" + name.replace("_", "-")


def strict_conflicts(spec) -> list[str]:
    """Why ``spec`` (a :class:`~labbench.bnn.spec.TrainSpec`) is not strict; empty if it is."""
    from .optimizers import OPTIMIZERS, ZERO_STATE
    from .update_rules import RULES

    out = []
    opt = OPTIMIZERS.get(spec.optimizer.name)
    if opt is not None and opt.per_synapse:
        out.append(f"--optimizer {spec.optimizer.name} keeps per-synapse state (moments); "
                   f"strict allows {', '.join(ZERO_STATE)}")
    rule = RULES.get(spec.rule.name)
    if rule is not None and rule.stateful:
        ok = sorted(n for n, r in RULES.items() if not r.stateful)
        out.append(f"--rule {spec.rule.name} keeps a residual per synapse; strict allows {', '.join(ok)}")
    if spec.refresh.policy not in STRICT_REFRESH:
        out.append(f"--refresh {spec.refresh.policy}: strict uses the paper-like refresh ('paper': RESET both, "
                   "re-write the whole difference, no per-pair memory; open loop, or through program-verify with "
                   "--refresh-program TOL, whose verify loop keeps no state) or 'none'")
    if not spec.network.binarize_input:
        out.append("--no-binarize-input: strict feeds ±1 inputs")
    for name, v in (("sense_offset", spec.sense.offset), ("sense_noise", spec.sense.noise)):
        if not (math.isfinite(v) and v >= STRICT_SENSE_MIN):
            out.append(f"{_opt(name)} {v:g}: strict needs a real sense amplifier, σ >= {STRICT_SENSE_MIN:g} of the range")
    return out


def digital_state(trainer) -> dict:
    """Bytes of digital state a trainer keeps: per synapse, and per layer/neuron in total."""
    synapses = sum(r * c for r, c in trainer.model.weight_shapes)
    per_syn, other = 0, 0
    ob = trainer.opt.state_bytes()
    per_syn += ob["per_synapse"]
    other += ob["other"] + sum(trainer.bn_opt.state_bytes().values())
    for syn in trainer.synapses:
        if syn.kind == "ideal":
            per_syn += syn.w.nbytes            # the software latent weight itself
        elif syn.rule.stateful:
            per_syn += sum(v.nbytes for v in syn.rule.state_dict().values()) or 4 * syn.array.rows * syn.array.cols
    if trainer.policy is not None:
        for arr in trainer.arrays:
            st = trainer.policy.state(arr)
            if st is not None:
                per_syn += st.nbytes
            elif getattr(trainer.policy, "patience", None):   # allocated at its first check
                per_syn += 2 * arr.rows * arr.cols
    return {"bytes_per_synapse": per_syn / synapses, "digital_bytes_other": other,
            "precision": trainer.spec.precision}
