"""The CLI error printer (issue 14 items 10 and 11): one plain line, exit 2, never a traceback,
whatever characters the path or the row text holds."""

from __future__ import annotations

import errno
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from features import partitioned
from tests.features.sources.test_bad_files import csv_file

runner = CliRunner()


@dataclass
class Run:
    returncode: int
    stderr: str


def flushrisk(*args: str) -> Run:
    """Run the CLI as a user does; an exception escaping it would be a traceback for them."""
    from training.cli import app

    result = runner.invoke(app, list(args), terminal_width=300)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError("the command ended in a traceback") from result.exception
    return Run(result.exit_code, result.output)


@pytest.mark.parametrize("name", ["bad[/]file.csv", "bad:x:file.csv", "[bold]x[/bold].csv"])
def test_paths_with_markup_or_emoji_codes_print_literally(tmp_path, name):
    path = tmp_path / name  # 'bad[/]file.csv' is the file ']file.csv' in the folder 'bad['
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("time,close\nnot a time,1\n")
    result = flushrisk("data", "import", str(path), "-f", "csv", "-s", "BTC",
                       "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr.replace("\n", "")
    assert "❌" not in result.stderr


def test_row_text_with_markup_prints_literally(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("time,open,high,low,close,funding_rate\n2024-01-01,[/],1,1,1,0\n")
    result = flushrisk("data", "import", str(path), "-f", "csv", "-s", "BTC",
                       "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'[/]' is not a number" in result.stderr


def test_data_dir_pointing_at_a_file_is_a_message(tmp_path):
    target = tmp_path / "file"
    target.write_text("")
    for args in (["data", "list"], ["data", "import", str(csv_file(tmp_path)), "-f", "csv",
                                    "-s", "BTC"]):
        result = flushrisk(*args, "--data-dir", str(target))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert "is a file, not a directory" in result.stderr


def test_a_full_disk_is_a_message_and_the_store_is_unchanged(tmp_path, monkeypatch):
    from features.store import MarketStore
    from training.cli import app

    data = tmp_path / "data"
    first = csv_file(tmp_path, rows=30)
    assert runner.invoke(app, ["data", "import", str(first), "-f", "csv", "-s", "BTC",
                               "--data-dir", str(data)]).exit_code == 0
    before = MarketStore(data).read("BTC")

    def full_disk(*args, **kwargs):  # the writer's input stream fails as a full disk would
        raise OSError(errno.ENOSPC, "No space left on device")
        yield

    monkeypatch.setattr(partitioned, "_batches", full_disk)
    more = csv_file(tmp_path, rows=60, name="more.csv")
    result = runner.invoke(app, ["data", "import", str(more), "-f", "csv", "-s", "BTC",
                                 "--data-dir", str(data)])
    assert result.exit_code == 2
    assert "no space left on the disk" in result.output and "unchanged" in result.output
    monkeypatch.undo()
    assert MarketStore(data).read("BTC").equals(before)
    assert not list(data.rglob("*.tmp"))


def test_a_bad_symbol_is_a_message_and_nothing_is_written(tmp_path):
    data = tmp_path / "data"
    result = flushrisk("data", "import", str(csv_file(tmp_path)), "-f", "csv", "-s", "..",
                       "--data-dir", str(data))
    assert result.returncode == 2 and "invalid symbol '..'" in result.stderr
    assert not (tmp_path / "1h.parquet").exists() and not (tmp_path / "30m").exists()
    assert not data.exists() or not any(data.rglob("*.parquet"))


def test_no_user_facing_error_starts_with_an_internal_function_name():
    """'make_labels: column ...' means nothing to a user; messages start with what they know."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"""(?:Error|Exception)\(\s*f?["']([a-z]+_[a-z0-9_]*)(?:\(\))?: """)
    found = [
        f"{path.relative_to(root)}: {match.group(1)}"
        for package in ("features", "training", "models", "serving")
        for path in (root / package).rglob("*.py")
        for match in pattern.finditer(path.read_text())
    ]
    assert not found, found
