"""The live view: a Bokeh server fed by the run's own records, with safe Pause, Resume and
Abort (the same path as Ctrl-C).

- :mod:`.feed`: the tap on the record path (what the page sees is what the dataset gets)
- :mod:`.control`: Pause / Resume / Abort, acted on by the run's own thread
- :mod:`.series`, :mod:`.plots`, :mod:`.bench_panel`, :mod:`.page`: the Bokeh document
- :mod:`.auth`, :mod:`.server`, :mod:`.process`, :mod:`.session`: the token, the Bokeh server, its own
  process fed by the run's (so a page open costs the run nothing), ``--live``
- :mod:`.replay`: a recorded run from the dataset (``labbench view``)
- :mod:`.notebook`: the same plots in Jupyter

Only :mod:`.feed` and :mod:`.control` are imported by the runner and the trainer; Bokeh
loads only when a view is opened.
"""

# submodules, not names: Bokeh loads only when a view is opened
__all__ = ["auth", "bench_panel", "cli", "control", "feed", "notebook", "page", "plots", "process", "replay", "series", "server",
           "session", "sweep_watch"]
