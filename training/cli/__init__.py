"""The ``flushrisk`` console script: data, features, training, registry and serving commands.

Why the command line lives in ``training/``: the customer fixed the top-level layout to four
packages (``features/``, ``models/``, ``training/``, ``serving/``) and the CLI has to sit in one
of them. It cannot sit on a lower floor, because ``features/`` and ``models/`` never import
``training`` or ``serving`` (``tests/test_architecture.py``), while the CLI drives every floor:
data import, features, training, the registry, the service and the radar. ``training/`` is the
highest floor that is not the service itself, so the CLI lives here and may import ``serving``.

Each command module is a thin layer over the room it drives: it parses options, calls that
room's public functions (``features.*`` for ``data`` and ``features``, ``training.*`` for
``train``/``evaluate``/``promote``, ``serving.*`` for ``serve``/``score``/``watch``) and prints
the result; the work itself, and its tests, live in the room. Each module registers its
commands on the apps of :mod:`training.cli.app` when imported below.
"""

from __future__ import annotations

# Each module adds its commands to the apps in training.cli.app when imported.
from training.cli import (  # noqa: F401
    data,
    features,
    quickstart,
    score,
    serve,
    simulate,
    tables,
    train,
    watch,
)
from training.cli.app import app


def main() -> None:
    """Entry point of the ``flushrisk`` script."""
    app()


__all__ = ["app", "main"]
