"""The ``labbench`` command.  Subcommands live beside the code they drive and load lazily
(importing QCoDeS or SciPy costs seconds; ``labbench --help`` should not)."""
from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command
COMMANDS: dict[str, str] = {
    "bench": "labbench.instruments.cli:bench",
    "demo": "labbench.demo:demo",
    "fit": "labbench.fitting.cli:fit",
    "measure": "labbench.measure_cli:measure",
    "runs": "labbench.measure_cli:runs",
    "train": "labbench.bnn.cli:train",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup)
@click.version_option(package_name="labbench")
def main():
    """labbench: characterize, fit and train RRAM 2T2R arrays, on real or simulated instruments."""


if __name__ == "__main__":
    main()
