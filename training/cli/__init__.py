"""The ``flushrisk`` console script: data, features, training, registry and serving commands."""

from __future__ import annotations

import importlib

from training.cli.app import app

# Each module adds its commands to the apps in training.cli.app when imported.
_COMMAND_MODULES = ("data", "simulate", "features", "train", "serve")

for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"training.cli.{_name}")
    except ModuleNotFoundError as _err:  # a command module not written yet
        if _err.name != f"training.cli.{_name}":
            raise


def main() -> None:
    """Entry point of the ``flushrisk`` script."""
    app()


__all__ = ["app", "main"]
