"""`flushrisk serve` runs the server in the project's directory: the store it reads must still be
the one the user named, relative to where the user ran the command."""

from __future__ import annotations

from pathlib import Path

from training.cli.serve import serve_env


def test_a_relative_data_dir_means_the_callers_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLUSHRISK_DATA_DIR", "radar")
    env = serve_env(None, tmp_path / "bentoml", 1)
    assert env["FLUSHRISK_DATA_DIR"] == str(tmp_path / "radar")


def test_the_default_store_is_the_callers_data(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLUSHRISK_DATA_DIR", raising=False)
    env = serve_env(None, tmp_path / "bentoml", 1)
    assert env["FLUSHRISK_DATA_DIR"] == str(tmp_path / "data")
