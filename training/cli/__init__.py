"""The ``flushrisk`` console script: data, features, training, registry and serving commands."""

from __future__ import annotations

# Each module adds its commands to the apps in training.cli.app when imported.
from training.cli import (  # noqa: F401
    data,
    features,
    quickstart,
    score,
    serve,
    simulate,
    train,
    watch,
)
from training.cli.app import app


def main() -> None:
    """Entry point of the ``flushrisk`` script."""
    app()


__all__ = ["app", "main"]
