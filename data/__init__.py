"""Sample and measured data shipped with labbench (``data/devices/README.md``: provenance, licenses)."""
