"""Bad inputs for program-verify, multilevel and evaluate (see badcases.py)."""
from badcases import Case
from cases_measure import M, bench

CASES = [
    M("pv-tolerance-zero", "program-verify", "tolerance=0", expect=r"tolerance must be a finite fraction > 0",
      forbid=("{tmp}/d.db",)),
    M("pv-tolerance-negative", "program-verify", "tolerance=-0.02", expect=r"tolerance must be a finite fraction > 0",
      forbid=("{tmp}/d.db",)),
    M("pv-budget-zero", "program-verify", "max_pulses=0", expect=r"pulse budget \(max_pulses\) must be .* from 1",
      forbid=("{tmp}/d.db",)),
    M("pv-target-above-range", "program-verify", "targets=1e-5, 1e-3",
      expect=r"outside the cell's reachable range 1\.971e-06 S to 3\.096e-05 S", forbid=("{tmp}/d.db",)),
    M("pv-target-below-range", "program-verify", "targets=1e-9",
      expect=r"outside the cell's reachable range 1\.971e-06 S to 3\.096e-05 S", forbid=("{tmp}/d.db",)),
    M("pv-target-words", "program-verify", "targets=high", expect=r"'high' is not a number", forbid=("{tmp}/d.db",)),
    # the SET ramp climbs 0.3 V above the operating pulse: on a bench whose pulse channel stops
    # at 1.6 V that level is refused before the run, not at the cell that reaches it
    Case("pv-ramp-beyond-limit", ["measure", "program-verify", "--bench", "{tmp}/b.yaml", "--db", "{tmp}/d.db"],
         r"ramp level is refused before the run: pg\.ch1: 1\.65 V exceeds limits\.pg\.ch1\.max_voltage",
         exit_codes=(2,), forbid=("{tmp}/d.db",),
         files={"b.yaml": bench(**{"pg.ch1: {max_voltage: 3.0": "pg.ch1: {max_voltage: 1.6",
                                   "reset: {amplitude: 1.8": "reset: {amplitude: 1.6"})}),
]

CASES += [
    M("ml-one-level", "multilevel", "levels=1, 4", expect=r"levels: 1 levels per cell; give 2 to 256",
      forbid=("{tmp}/d.db",)),
    M("ml-levels-words", "multilevel", "levels=many", expect=r"'many' is not a whole number", forbid=("{tmp}/d.db",)),
    M("ml-too-few-cells", "multilevel", "cells=0, 0:4", "sides=+", "levels=2, 4",
      expect=r"4 levels need at least 4 cells, one per level; the 4 cells selected give 2",
      forbid=("{tmp}/d.db",)),
    M("ml-negative-delay", "multilevel", "delays=0, -5", expect=r"delays: -5 s must be a finite time >= 0",
      forbid=("{tmp}/d.db",)),
    M("ml-tolerance-zero", "multilevel", "tolerance=0", expect=r"tolerance must be a finite fraction > 0",
      forbid=("{tmp}/d.db",)),
    Case("ml-bake-without-chuck", ["measure", "multilevel", "--bench", "sim_2600", "-p", "temperature=358",
                                   "--db", "{tmp}/d.db"], r"needs a temperature_controller", exit_codes=(2,),
         forbid=("{tmp}/d.db",)),
]


def _checkpoint_junk(tmp):
    (tmp / "run").mkdir()
    (tmp / "run" / "checkpoint.npz").write_bytes(b"PK\x03\x04 not really a zip")


def _empty(tmp):
    (tmp / "empty").mkdir()


CASES += [
    Case("eval-no-such-folder", ["evaluate", "{tmp}/nope"], r"not a trained network: .*nope: no such folder",
         exit_codes=(2,)),
    Case("eval-empty-folder", ["evaluate", "{tmp}/empty"], r"empty\) and no checkpoint.*labbench train",
         setup=_empty, exit_codes=(2,)),
    Case("eval-a-file", ["evaluate", "{tmp}/m.csv"], r"is a file \(\.csv\), not a run folder",
         files={"m.csv": "a,b\n1,2\n"}, exit_codes=(2,)),
    Case("eval-sweep-folder", ["evaluate", "{tmp}/sw"], r"is a sweep folder",
         files={"sw/results.parquet": b"PAR1"}, exit_codes=(2,)),
    Case("eval-campaign-folder", ["evaluate", "{tmp}/c"], r"characterization campaign folder",
         files={"c/campaign.json": "{}"}, exit_codes=(2,)),
    Case("eval-training-without-checkpoint", ["evaluate", "{tmp}/t"], r"training run folder without a checkpoint",
         files={"t/metrics.csv": "epoch,test_acc\n"}, exit_codes=(2,)),
    Case("eval-corrupt-checkpoint", ["evaluate", "{tmp}/run"], r"not a trained network: checkpoint .* corrupt",
         setup=_checkpoint_junk, exit_codes=(2,)),
    Case("eval-bad-after", ["evaluate", "{tmp}/run", "--after", "1 fortnight"], r"--after: '1 fortnight' is not a "
         r"duration", setup=_checkpoint_junk, exit_codes=(2,)),
    Case("eval-bad-temperature", ["evaluate", "{tmp}/run", "--temperature", "hot"], r"'hot' is not a number of °C",
         setup=_checkpoint_junk, exit_codes=(2,)),
    Case("eval-tolerance-zero", ["evaluate", "{tmp}/run", "--tolerance", "0"], r"tolerance must be a finite "
         r"fraction > 0", setup=_checkpoint_junk, exit_codes=(2,)),
]

CASES += [
    Case("eval-margin-above-one", ["evaluate", "{tmp}/run", "--margin", "2"], r"--margin.*fraction of the window",
         setup=_checkpoint_junk, exit_codes=(2,)),
]

# a first-contact pulse channel (2 V, 10 µs, as benches/hardware_example.yaml) on the simulated bench
FIRST_CONTACT = bench(**{"pg.ch1: {max_voltage: 3.0, max_pulse_width: 1.0e-3}":
                         "pg.ch1: {max_voltage: 2.0, max_pulse_width: 1.0e-5}",
                         "reset: {amplitude: 1.8": "reset: {amplitude: 1.6"})

CASES += [
    Case("ff-ramp-beyond-first-contact", ["measure", "feedback-forming", "--bench", "{tmp}/b.yaml", "-p", "v_stop=2",
                                          "--db", "{tmp}/d.db"],
         r"pulse ramp is refused before the run: pg\.ch1: .*max_pulse_width", files={"b.yaml": FIRST_CONTACT},
         exit_codes=(2,), forbid=("{tmp}/d.db",)),
    Case("ff-amplitude-beyond-first-contact", ["measure", "feedback-forming", "--bench", "{tmp}/b.yaml", "-p",
                                               "pulse_width=1e-5", "--db", "{tmp}/d.db"],
         r"pulse ramp is refused before the run: pg\.ch1: 3 V exceeds limits\.pg\.ch1\.max_voltage = 2",
         files={"b.yaml": FIRST_CONTACT}, exit_codes=(2,), forbid=("{tmp}/d.db",)),
    M("ff-step-zero", "feedback-forming", "v_step=0", expect=r"v_step=0 V: the ramp step must be > 0",
      forbid=("{tmp}/d.db",)),
    M("ff-current-above-compliance", "feedback-forming", "formed_current=1e-3",
      expect=r"formed_current=0\.001 A is not below the read compliance", forbid=("{tmp}/d.db",)),
]

# program-verify as one TSP script per cell: what needs the SMU's full RESET, a bench without
# a 2600B, and a SET ramp beyond channel A's limit (refused before the rehearsal sends nothing)
_TSP = ["measure", "tsp-program-verify", "--bench", "sim_2600", "--db", "{tmp}/d.db", "-p", "cells=0, 0"]
CASES += [
    Case("tsp-pv-restart", _TSP + ["-p", "overshoot=restart"], r"overshoot 'restart' needs the SMU's full RESET",
         exit_codes=(2,), forbid=("{tmp}/d.db",)),
    Case("tsp-pv-initial-reset", _TSP + ["-p", "initial_reset=1"], r"initial_reset needs the SMU's full RESET",
         exit_codes=(2,), forbid=("{tmp}/d.db",)),
    Case("tsp-pv-no-2600b", ["measure", "tsp-program-verify", "--db", "{tmp}/d.db", "-p", "cells=0, 0"],
         r"does not run TSP scripts", exit_codes=(2,), forbid=("{tmp}/d.db",)),
    Case("tsp-pv-tolerance-nan", _TSP + ["-p", "tolerance=nan"], r"tolerance=nan is not a finite", exit_codes=(2,),
         forbid=("{tmp}/d.db",)),
]
