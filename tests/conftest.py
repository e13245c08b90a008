"""Shared test set-up: no telemetry, and the real data sets beside the project."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

# Tests never touch the user's BentoML store, and an in-process BentoML app (Service.to_asgi)
# serves /metrics in Prometheus multiprocess mode, whose directory must be set before
# prometheus_client is first imported (it reads the variable at import).
_TMP = Path(tempfile.mkdtemp(prefix="flushrisk-tests-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
os.environ["BENTOML_HOME"] = str(_TMP / "bentoml")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_TMP / "prometheus")
(_TMP / "prometheus").mkdir()

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(name: str) -> Path:
    """A file of ../shared/data, or skip the test saying which file is absent and where."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data set {path} is absent (it lives beside the project in ../shared)")
    return path
