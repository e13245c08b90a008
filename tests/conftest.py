"""Shared test set-up: no telemetry, and the real data sets beside the project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(name: str) -> Path:
    """A file of ../shared/data, or skip the test saying which file is absent and where."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data set {path} is absent (it lives beside the project in ../shared)")
    return path
