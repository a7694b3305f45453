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
