"""Bad inputs to ``labbench export`` and ``labbench import aihwkit``: unknown targets, blocks a
target cannot express under ``--strict``, aihwkit configs of another version, unknown
fields, preset names without aihwkit, device models in units a target cannot take.

Each ends in a message naming the fix, a non-zero exit and nothing written."""
from __future__ import annotations

import json

from badcases import Case

OUT = "{tmp}/out"


def _config(version="1.2.0", **device) -> str:
    spec = {"class": "LinearStepDevice", "dw_min": 0.05, "gamma_up": 0.5, "gamma_down": 0.5, **device}
    return json.dumps({"aihwkit_version": version, "device": spec})


CASES = [
    Case("export-unknown-target", ["export", "cuda", "hfox_2t2r_default", "-o", OUT],
         expect=r"unknown target 'cuda'; known targets: aihwkit, neurosim", exit_codes=(2,), forbid=(OUT,)),
    Case("export-strict-retention-to-neurosim", ["export", "neurosim", "hfox_2t2r_default", "-o", OUT, "--strict"],
         expect=r"--strict: neurosim cannot express block\(s\) .*retention.*export without --strict", exit_codes=(1,),
         forbid=(OUT,)),
    Case("export-strict-endurance-to-aihwkit", ["export", "aihwkit", "hfox_2t2r_default", "-o", OUT, "--strict"],
         expect=r"--strict: aihwkit cannot express block\(s\) .*endurance", exit_codes=(1,), forbid=(OUT,)),
    Case("export-model-missing", ["export", "aihwkit", "no_such_chip", "-o", OUT],
         expect=r"no_such_chip.*hfox_2t2r_default", exit_codes=(1, 2), forbid=(OUT,)),
    Case("export-weight-units-to-neurosim", ["export", "neurosim", "gong2018_hfo2_expstep", "-o", OUT],
         expect=r"normalized \(aihwkit weight\) units.*NeuroSim needs conductances in S", exit_codes=(2,),
         forbid=("{tmp}/out/gong2018_hfo2_expstep_neurosim.json",)),
    Case("export-refresh-level-out-of-range", ["export", "aihwkit", "hfox_2t2r_default", "-o", OUT,
                                              "--refresh-level", "1.5"],
         expect=r"--refresh-level must lie strictly between 0 and 1", exit_codes=(2,),
         forbid=("{tmp}/out/hfox_2t2r_default_aihwkit.json",)),
    Case("import-other-aihwkit-version", ["import", "aihwkit", "{tmp}/dev.json", "-o", "{tmp}/m.yaml"],
         files={"dev.json": _config(version="0.9.2")},
         expect=r"written by aihwkit 0.9.2; labbench reads device configs of aihwkit 1.2.0 only", exit_codes=(2,),
         forbid=("{tmp}/m.yaml",)),
    Case("import-version-missing", ["import", "aihwkit", "{tmp}/dev.json", "-o", "{tmp}/m.yaml"],
         files={"dev.json": json.dumps({"device": {"class": "LinearStepDevice"}})},
         expect=r"'aihwkit_version' is missing; labbench reads device configs of aihwkit 1.2.0", exit_codes=(2,),
         forbid=("{tmp}/m.yaml",)),
    Case("import-unknown-field", ["import", "aihwkit", "{tmp}/dev.json", "-o", "{tmp}/m.yaml"],
         files={"dev.json": _config(gamma_upp=0.3)},
         expect=r"LinearStepDevice: unknown field\(s\) \['gamma_upp'\] for aihwkit 1.2.0", exit_codes=(2,),
         forbid=("{tmp}/m.yaml",)),
    Case("import-unsupported-class", ["import", "aihwkit", "{tmp}/dev.json", "-o", "{tmp}/m.yaml"],
         files={"dev.json": json.dumps({"aihwkit_version": "1.2.0", "device": {"class": "TransferCompound"}})},
         expect=r"device class 'TransferCompound': labbench imports .*LinearStepDevice", exit_codes=(2,),
         forbid=("{tmp}/m.yaml",)),
    Case("import-not-json", ["import", "aihwkit", "{tmp}/dev.json", "-o", "{tmp}/m.yaml"],
         files={"dev.json": "device: LinearStep\n"}, expect=r"not a JSON file", exit_codes=(2,),
         forbid=("{tmp}/m.yaml",)),
    # without aihwkit a preset name is refused saying so; with it, an unknown one lists the presets
    Case("import-preset-name", ["import", "aihwkit", "NoSuchPresetDevice", "-o", "{tmp}/m.yaml"],
         expect=r"(as an aihwkit preset name it needs aihwkit installed|neither a file nor an aihwkit preset device)",
         exit_codes=(2,), forbid=("{tmp}/m.yaml",)),
    Case("import-bad-conductance-range", ["import", "aihwkit", "{tmp}/dev.json", "-o", "{tmp}/m.yaml",
                                          "--g-min", "5e-5", "--g-max", "1e-5"],
         files={"dev.json": _config()}, expect=r"--g-min/--g-max must be finite conductances with 0 <= g_min < g_max",
         exit_codes=(2,), forbid=("{tmp}/m.yaml",)),
]

# a model file whose noise convention at the bounds is not one labbench knows
_MODEL = ("name: t\nupdate: {kind: neurosim, g_min: 1.0e-6, g_max: 1.0e-5, pmax_set: 64, a_set: 30, "
          "pmax_reset: 64, a_reset: -10, c2c_abs: 0.03, noise_at_bound: %s}\n")
CASES += [
    Case(f"export-noise-at-bound-{target}", ["export", target, "{tmp}/m.yaml", "-o", OUT],
         files={"m.yaml": _MODEL % "clipped"}, expect=r"update\.noise_at_bound: must be one of shrink, clip",
         exit_codes=(1, 2), forbid=(OUT,))
    for target in ("aihwkit", "neurosim")
]
