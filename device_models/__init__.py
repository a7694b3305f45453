"""Device models shipped with labbench (YAML files, resolved by name: ``labbench.paths``)."""
