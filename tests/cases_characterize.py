"""Bad inputs for `labbench characterize` and the temperature role (see badcases.py)."""
from badcases import Case

from labbench.paths import BENCHES

SIM = (BENCHES / "sim.yaml").read_text()
STEP_OK = '  - {name: iv, procedure: iv-sweep, params: {cells: "20, 0", sides: "+", points: 10}}\n'


def plan(*steps: str) -> str:
    return "name: bad\nsteps:\n" + STEP_OK + "".join(steps)


def C(id, plan_text, expect, exit_codes=(1, 2), bench="sim", **kw):
    return Case(id, ["characterize", bench, "--plan", "{tmp}/plan.yaml", "--out", "{tmp}/out", "--quiet"], expect,
                files={"plan.yaml": plan_text, **kw.pop("files", {})}, exit_codes=exit_codes,
                forbid=kw.pop("forbid", ("{tmp}/out/labbench.db",)), **kw)


CASES = [
    C("plan-unknown-procedure", plan("  - {name: x, procedure: pulsetrain}\n"),
      r"unknown procedure 'pulsetrain'; known: .*pulse-train"),
    C("plan-unknown-parameter", plan("  - {name: x, procedure: pulse-train, params: {amplitude: 1.0}}\n"),
      r"has no parameter 'amplitude'; it has .*amplitudes"),
    C("plan-duplicate-step", plan('  - {name: iv, procedure: forming, params: {cells: "0, 0"}}\n'), r"used twice"),
    C("plan-duplicate-key", "name: a\nname: b\nsteps: []\n", r"name"),
    C("plan-infinite-value", plan("  - {name: x, procedure: retention, params: {duration: .inf}}\n"), r"steps\.1"),
    C("plan-not-yaml", "name: [unclosed\n", r"not valid YAML"),
    C("plan-empty", "", r"mapping"),
    C("plan-step-beyond-limit",
      plan('  - {name: loud, procedure: pulse-train, params: {cells: "0, 0", amplitudes: "4.0"}}\n'),
      r"plan step 2 \(loud, pulse-train\).*max_voltage"),
    C("plan-bake-beyond-limit",
      plan('  - {name: hot, procedure: retention, params: {cells: "0, 0", temperature: 560.0}}\n'),
      r"plan step 2 \(hot, retention\).*max_temperature"),
    C("plan-bake-negative-kelvin",
      plan('  - {name: cold, procedure: retention, params: {cells: "0, 0", temperature: -20.0}}\n'),
      r"give the bake temperature in K"),
    Case("plan-missing-file", ["characterize", "sim", "--plan", "{tmp}/nope.yaml", "--out", "{tmp}/out"],
         r"campaign plan not found"),
    Case("plan-bake-without-chuck",
         ["characterize", "{tmp}/bench.yaml", "--plan", "{tmp}/plan.yaml", "--out", "{tmp}/out", "--quiet"],
         r"needs a temperature_controller",
         files={"plan.yaml": plan('  - {name: b, procedure: retention, params: {cells: "0, 0", temperature: 450}}\n'),
                "bench.yaml": SIM.split("  chuck:\n")[0] + "wiring:" + SIM.split("\nwiring:")[1].replace(
                    "  chuck.loop1: {max_temperature: 523.15, max_ramp: 20.0}   # bakes up to 250 °C, ramps up to "
                    "20 K/min\n", "")},
         forbid=("{tmp}/out/labbench.db",)),
    Case("bench-chuck-limit-above-rating", ["bench", "check", "{tmp}/bench.yaml"], r"above the chuck's rating",
         files={"bench.yaml": SIM.replace("max_temperature: 523.15", "max_temperature: 600.0")}),
    Case("bench-chuck-infinite-limit", ["bench", "check", "{tmp}/bench.yaml"], r"max_temperature",
         files={"bench.yaml": SIM.replace("max_temperature: 523.15", "max_temperature: .inf")}),
    Case("bench-chuck-no-rating", ["bench", "check", "{tmp}/bench.yaml"], r"chuck_rating",
         files={"bench.yaml": SIM.replace("    chuck_rating: 573.15", "")}),
]
