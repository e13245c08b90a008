"""Which exported model is each symbol's champion, and whether its files are intact.

``flushrisk promote`` exports the champion's three files into the BentoML store and records
it here, in ``<BENTOML_HOME>/flushrisk-champions.json``: per project (the MLflow tracking URI)
and per symbol, the BentoML tag, the MLflow model name, version and run, and the sha256 of every
exported file. The service serves exactly these records (never "the newest model of that
name", which may come from another project sharing ``~/bentoml``), re-reads the file when
promote rewrites it (a promote notification: no restart), and checks each model before
LightGBM ever reads it:

1. every exported file exists and has the checksum written at promote time;
2. the metadata and calibrator parse, the calibrator gives finite probabilities;
3. a trial prediction in a child process: a corrupt booster can crash LightGBM's parser
   (a truncated ``booster.txt`` segfaults it), which must not take the server down with it
   or make it restart in a loop.

A model failing any check is refused with one message naming the file and the problem.
This module never imports mlflow or LightGBM.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from features.errors import FlushRiskError

INDEX_FILE = "flushrisk-champions.json"
CHECKSUMS_FILE = "checksums.json"
MODEL_FILES = ("booster.txt", "calibrator.json", "metadata.json")
TRIAL_TIMEOUT = 120.0


class CorruptModelError(FlushRiskError):
    """An exported model whose files are missing, altered or unreadable: refused at load."""


class ChampionMismatchError(FlushRiskError):
    """The BentoML store does not hold the registry's champion (or holds another project's)."""


@dataclass
class ChampionRecord:
    """One symbol's champion as promote exported it."""

    symbol: str
    bentoml_tag: str
    mlflow_name: str
    mlflow_version: str
    mlflow_run_id: str
    project: str
    sha256: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChampionRecord:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def index_path(bentoml_home: Path | str) -> Path:
    return Path(bentoml_home) / INDEX_FILE


def file_digests(directory: Path | str, names: Iterable[str] = MODEL_FILES) -> dict[str, str]:
    """sha256 of each named file of a model directory."""
    directory = Path(directory)
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in names}


def record_champion(bentoml_home: Path | str, record: ChampionRecord) -> None:
    """Record ``record`` as its symbol's champion in its project (locked, atomic)."""
    from filelock import FileLock

    from features.atomic import write_text_atomic

    path = index_path(bentoml_home)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=60):
        index = _read_index(path)
        index.setdefault(record.project, {})[record.symbol] = asdict(record)
        write_text_atomic(path, json.dumps(index, indent=1, sort_keys=True))


def read_champions(bentoml_home: Path | str, project: str | None) -> dict[str, ChampionRecord]:
    """Symbol -> champion record of one project (every project's when ``project`` is None)."""
    index = _read_index(index_path(bentoml_home))
    projects = [project] if project is not None else sorted(index)
    out: dict[str, ChampionRecord] = {}
    for name in projects:
        for symbol, data in (index.get(name) or {}).items():
            out.setdefault(symbol, ChampionRecord.from_dict(data))
    return out


def _read_index(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CorruptModelError(f"{path}: unreadable champion index ({err})") from None
    if not isinstance(data, dict):
        raise CorruptModelError(f"{path}: not a champion index (expected a JSON object)")
    return data


# -- checks before LightGBM reads anything -------------------------------------------------
def verify_files(directory: Path | str, expected: dict[str, str] | None) -> None:
    """Refuse a model directory with a missing file or a file changed since promote."""
    directory = Path(directory)
    missing = [name for name in MODEL_FILES if not (directory / name).is_file()]
    if missing:
        raise CorruptModelError(f"{directory}: exported model file(s) missing: {missing}")
    if not expected:
        return
    actual = file_digests(directory, expected)
    changed = [name for name, digest in expected.items() if actual.get(name) != digest]
    if changed:
        raise CorruptModelError(
            f"{directory}: {', '.join(changed)} changed since promote exported it (sha256 "
            "differs): the file is corrupt or was edited; export the champion again with "
            "`flushrisk promote`"
        )


def verify_documents(directory: Path | str) -> None:
    """Parse metadata and calibrator and check they can give a probability (no LightGBM)."""
    from models.calibration import Calibrator

    directory = Path(directory)
    try:
        document = json.loads((directory / "metadata.json").read_text())
        features = document["features"]
        document["label_spec"]
        metadata = document.get("metadata", {})
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CorruptModelError(f"{directory / 'metadata.json'}: unreadable ({err})") from None
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise CorruptModelError(f"{directory / 'metadata.json'}: 'features' is not a list of names")
    bar = metadata.get("bar") if isinstance(metadata, dict) else None
    if bar is not None:
        import pandas as pd

        try:
            if pd.Timedelta(bar) <= pd.Timedelta(0):
                raise ValueError("not positive")
        except (ValueError, TypeError) as err:
            raise CorruptModelError(
                f"{directory / 'metadata.json'}: invalid bar {bar!r} ({err})"
            ) from None
    try:
        calibrator = Calibrator.from_dict(json.loads((directory / "calibrator.json").read_text()))
        import numpy as np

        probe = np.asarray(calibrator(np.array([1e-4, 0.01, 0.1, 0.5, 0.9])), dtype=float)
    except Exception as err:  # noqa: BLE001 - any failure here means an unusable file
        raise CorruptModelError(f"{directory / 'calibrator.json'}: unreadable ({err})") from None
    if not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in probe):
        raise CorruptModelError(
            f"{directory / 'calibrator.json'}: the calibrator gives {probe.tolist()}, not "
            "probabilities in [0, 1]: the file is corrupt"
        )
    text = (directory / "booster.txt").read_bytes()
    if b"end of trees" not in text:
        raise CorruptModelError(
            f"{directory / 'booster.txt'}: not a complete LightGBM model (no 'end of trees' "
            "line): the file is truncated or is not a booster"
        )


_TRIAL = """
import sys
from serving.champions import trial_prediction
trial_prediction(sys.argv[1])
"""


def trial_prediction(directory: str) -> None:
    """Load the model and score one synthetic window (run in a child process)."""
    from serving.predictor import Predictor

    predictor = Predictor.load(directory, "trial", "trial")
    predictor.warm_up()


def verify_in_child(directory: Path | str) -> None:
    """Load and predict in a child process: a crash there is a message here, not a dead server."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _TRIAL, str(directory)],
            capture_output=True,
            text=True,
            timeout=TRIAL_TIMEOUT,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CorruptModelError(
            f"{directory}: a trial prediction did not finish in {TRIAL_TIMEOUT:g} s"
        ) from None
    if done.returncode == 0:
        return
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        raise CorruptModelError(
            f"{directory / Path('booster.txt')}: loading the model crashed LightGBM ({name}): "
            "the booster file is corrupt; export the champion again with `flushrisk promote`"
        )
    last = [line for line in done.stderr.strip().splitlines() if line.strip()]
    reason = last[-1] if last else f"exit status {done.returncode}"
    raise CorruptModelError(f"{directory}: the trial prediction failed: {reason}")


def verify_model(directory: Path | str, expected: dict[str, str] | None = None) -> None:
    """Every check, cheapest first; raises CorruptModelError with one clear message."""
    verify_files(directory, expected)
    verify_documents(directory)
    verify_in_child(directory)


__all__ = [
    "INDEX_FILE",
    "ChampionMismatchError",
    "ChampionRecord",
    "CorruptModelError",
    "file_digests",
    "index_path",
    "read_champions",
    "record_champion",
    "verify_model",
]
