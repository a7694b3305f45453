"""HTML reports: one self-contained file (Jinja2 template, matplotlib figures embedded as
base64 PNG) from a training run, a sweep, a measurement run or the demo folder."""
from .build import KINDS, ReportError, build, detect, render, write_report

__all__ = ["KINDS", "ReportError", "build", "detect", "render", "write_report"]
