"""A characterization campaign: one plan of procedures, from a chip to a fitted device model.

``labbench characterize BENCH [--plan FILE]`` runs the plan's steps in order (each a run in
the dataset, limit-checked before anything is sent, resumable after an interruption), then
fits the whole campaign into one device model whose every block is fitted from a named run
or inherited from the base model and said so (:mod:`labbench.fitting.provenance`).

* :mod:`.plan` — the plan file (steps, their procedures and parameters), validated;
* :mod:`.campaign` — runs a plan on a bench, with a state file for resuming;
* :mod:`.fit` — fits the campaign's runs into one model and writes its report.
"""
from .campaign import CampaignResult, run_campaign
from .fit import fit_campaign
from .plan import DEFAULT_PLAN, Plan, load_plan

__all__ = ["CampaignResult", "DEFAULT_PLAN", "Plan", "fit_campaign", "load_plan", "run_campaign"]
