"""Nothing in the product reads a path beside the repository (an installed FlushRisk has none)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from training.cli import app

REPO = Path(__file__).resolve().parents[2]
_opened: list[str] | None = None


def _record(event: str, args: tuple) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], str | bytes | Path):
        _opened.append(str(args[0] if not isinstance(args[0], bytes) else args[0].decode(errors="replace")))


sys.addaudithook(_record)


def test_train_reads_no_default_path_outside_the_package(sim_store, mlflow_home, tmp_path, monkeypatch):
    """Every file `train` opens is inside the repository, the Python installation, the data
    and MLflow directories given to it, or the system; in particular the public flush list
    comes from the package, not from ../shared/data."""
    global _opened
    monkeypatch.chdir(tmp_path)
    _opened = []
    try:
        result = CliRunner().invoke(
            app,
            ["train", "--data-dir", str(sim_store), "--mlflow-home", str(mlflow_home), "--no-register",
             "--folds", "2", "--seeds", "1", "--max-rounds", "50", "--bootstrap", "50",
             "--report", str(tmp_path / "r.json")],
        )
        opened = list(_opened)
    finally:
        _opened = None
    assert result.exit_code == 0, result.output
    beside = REPO.parent.resolve()
    allowed = [REPO.resolve(), Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
               Path(sim_store).resolve(), Path(mlflow_home).resolve(), tmp_path.resolve()]
    outside = []
    for name in opened:
        path = Path(name).resolve() if Path(name).is_absolute() else (tmp_path / name).resolve()
        if path.is_relative_to(beside) and not any(path.is_relative_to(a) for a in allowed):
            outside.append(str(path))
    assert not outside, f"train read files beside the repository: {sorted(set(outside))[:5]}"
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["events"]["public"]["listed"] >= 10  # the packaged list was read
