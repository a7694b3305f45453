"""Bad inputs for the 1T1R cell physics (issue 13): new device-model fields through
``labbench train --device-model`` (refused before MNIST or a run folder, each error naming
its key) and the pulse-train / I-V sweep parameters through ``labbench measure`` (refused
before anything is sent)."""
from __future__ import annotations

from badcases import Case

DM = ("name: t\nupdate: {kind: neurosim, g_min: 1.0e-6, g_max: 1.0e-5, pmax_set: 64, a_set: 30, "
      "pmax_reset: 64, a_reset: -10}\n%s")
RUN = "{tmp}/run"


def _model(id, rest, expect) -> Case:
    return Case(id, ["train", "--device-model", "{tmp}/bad.yaml", "--epochs", "1", "--train-subset", "100",
                     "--out", RUN, "--no-db"],
                expect=expect, files={"bad.yaml": DM % rest}, exit_codes=(2,), forbid=(RUN, "{tmp}/labbench.db"))


def _measure(id, procedure, param, expect) -> Case:
    return Case(id, ["measure", procedure, "-p", param, "--db", "{tmp}/d.db"], expect, exit_codes=(2,),
                forbid=("{tmp}/d.db",))


CASES = [
    _model("model-transistor-k-nan", "switching: {transistor_k: .nan}\n", r"switching\.transistor_k"),
    _model("model-transistor-k-negative", "switching: {transistor_k: -1.0e-5}\n", r"switching\.transistor_k"),
    _model("model-v-compliance-zero", "switching: {v_compliance: 0}\n", r"switching\.v_compliance"),
    _model("model-dc-time-inf", "switching: {dc_time: .inf}\n", r"switching\.dc_time"),
    _model("model-kinetics-v0-zero", "switching: {set_kinetics: {amplitude: 1.5, width: 1.0e-6, tau: 1.0e-4, v0: 0}}\n",
           r"switching\.set_kinetics\.v0"),
    _model("model-kinetics-tau-missing", "switching: {reset_kinetics: {amplitude: 1.8, width: 1.0e-6, v0: 0.2}}\n",
           r"switching\.reset_kinetics\.tau"),
    _model("model-kinetics-width-nan", "switching: {set_kinetics: {amplitude: 1.5, width: .nan, tau: 1.0e-4, v0: 0.1}}\n",
           r"switching\.set_kinetics\.width"),
    _model("model-hrs-c2c-negative", "variability: {hrs_c2c: -0.1}\n", r"variability\.hrs_c2c"),
    _model("model-lrs-c2c-huge", "variability: {lrs_c2c: 5}\n", r"variability\.lrs_c2c"),
    _model("model-vset-d2d-nan", "variability: {v_set: {d2d: .nan}}\n", r"variability\.v_set\.d2d"),
    _model("model-variability-typo", "variability: {hrs_c2cc: 0.1}\n", r"variability\.hrs_c2cc"),
    # issue 14: drift, read disturb, endurance and energy blocks
    _model("model-retention-tau-negative", "retention: {tau: -100}\n", r"retention\.tau"),
    _model("model-retention-tau-missing", "retention: {level: 0.1}\n", r"retention\.tau"),
    _model("model-retention-temperature-zero", "retention: {tau: 1.0e+5, temperature: 0}\n",
           r"retention\.temperature"),
    _model("model-read-disturb-shift-negative", "read_disturb: {shift: -1.0e-6}\n", r"read_disturb\.shift"),
    _model("model-endurance-below-one", "endurance: {median: 0.5}\n", r"endurance\.median"),
    _model("model-endurance-stuck-typo", "endurance: {median: 1.0e+6, stuck_at: middle}\n",
           r"endurance\.stuck_at"),
    _model("model-energy-without-iv", "energy: {read_time: 1.0e-7}\n", r"energy\.iv"),
    # issue 19: blocks that contradict each other, named both; the circuit's and disturb's keys
    _model("model-vreset-unreachable-by-its-gate",
           "switching: {v_reset: 1.5, reset_kinetics: {amplitude: 1.8, width: 1.0e-6, tau: 1.0e-3, v0: 0.2, gate: 2.5}}\n",
           r"switching\.v_reset .*switching\.reset_kinetics"),
    _model("model-set-gate-below-threshold",
           "switching: {set_kinetics: {amplitude: 1.5, width: 1.0e-6, tau: 1.0e-4, v0: 0.1, gate: 0.3}}\n",
           r"switching\.set_kinetics\.gate .*switching\.v_gate_threshold"),
    _model("model-retention-volatile-unmarked", "retention: {tau: 100}\n", r"retention\.tau.*volatile"),
    _model("model-read-gate-nan", "read: {gate: .nan}\n", r"read\.gate"),
    _model("model-read-disturb-fraction-without-shift", "read_disturb: {model: fraction}\n",
           r"read_disturb\.shift"),
    _model("model-hrs-excess-negative", "switching: {hrs_excess: -1}\n", r"switching\.hrs_excess"),
    _measure("pulse-train-gates-text", "pulse-train", "gates=high", r"gates: 'high' is not a number"),
    _measure("pulse-train-negative-width", "pulse-train", "widths=-1e-6", r"widths: -1e-6 must be a finite number > 0"),
    _measure("pulse-train-width-over-limit", "pulse-train", "widths=1", r"SET pulse refused before the run"),
    _measure("pulse-train-gate-over-limit", "pulse-train", "gates=9", r"gate 9 V refused before the run"),
    _measure("iv-sweep-gates-nan", "iv-sweep", "gates=nan", r"gates: nan must be a finite number > 0"),
]

# a low-resistance device behind lines that take most of every pulse: no pulse could switch it
_LOW_R = ("name: t\nupdate: {kind: neurosim, g_min: 1.6e-3, g_max: 2.5e-3, pmax_set: 64, a_set: 30, "
          "pmax_reset: 64, a_reset: -10}\n%s")
CASES += [
    Case("model-lines-keep-threshold-out-of-reach",
         ["train", "--device-model", "{tmp}/bad.yaml", "--epochs", "1", "--train-subset", "100", "--out", RUN,
          "--no-db"], expect=r"never reached by the nominal pulse.*on_resistance \(1000 Ohm\) takes the rest",
         files={"bad.yaml": _LOW_R % "switching: {on_resistance: 1000}\n"}, exit_codes=(2,),
         forbid=(RUN, "{tmp}/labbench.db")),
]

# the noise convention at the bounds (update.noise_at_bound): a word from a short list
_CONVENTION = ("name: t\nupdate: {kind: neurosim, g_min: 1.0e-6, g_max: 1.0e-5, pmax_set: 64, a_set: 30, "
               "pmax_reset: 64, a_reset: -10, c2c_abs: 0.03, noise_at_bound: %s}\n")
CASES += [
    Case(f"model-noise-at-bound-{label}",
         ["train", "--device-model", "{tmp}/bad.yaml", "--epochs", "1", "--train-subset", "100", "--out", RUN,
          "--no-db"], expect=r"update\.noise_at_bound: must be one of shrink, clip .*got " + got,
         files={"bad.yaml": _CONVENTION % value}, exit_codes=(2,), forbid=(RUN, "{tmp}/labbench.db"))
    for label, value, got in (("unknown", "clamp", "'clamp'"), ("yaml-bool", "yes", "True"),
                              ("number", "3", "3"), ("capitalized", "Clip", "'Clip'"))
]
