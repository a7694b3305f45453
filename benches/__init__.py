"""Bench files shipped with labbench (YAML files, resolved by name: ``labbench.paths``)."""
