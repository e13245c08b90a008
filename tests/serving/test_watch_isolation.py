"""`flushrisk watch --replay` with one symbol's newest month damaged (market data or scores):
that symbol gets one line naming it and the damaged file, the others go on being scored, and
the exit code says a symbol was skipped (issue 22: a corrupt ETH month stopped BTC)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from features.scores import ScoreStore
from features.store import MarketStore

pytestmark = pytest.mark.slow
ARGS = ["--bar", "1h", "--days", "1", "--warm-days", "31", "--speed", "0"]


def _watch(data_dir: Path, bento_tag: str, bars: int) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "from training.cli import main; main()", "watch", "--replay",
           "BTC,ETH", "--data-dir", str(data_dir), "--model", bento_tag, *ARGS,
           "--max-bars", str(bars)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def watched(tmp_path_factory, bento_tag) -> Path:
    data = tmp_path_factory.mktemp("watched") / "data"
    first = _watch(data, bento_tag, 3)
    assert first.returncode == 0, first.stdout + first.stderr
    return data


@pytest.mark.parametrize("dataset", ["market", "scores"])
def test_a_damaged_symbol_is_skipped_and_the_others_are_scored(watched, tmp_path, bento_tag, dataset):
    data = tmp_path / "data"
    shutil.copytree(watched, data)
    if dataset == "market":
        folder = MarketStore(data).path("ETH", "1h")
    else:
        folder = ScoreStore(data).path("ETH", "1h")
    newest = max(folder.glob("month=*"))
    for target in newest.glob("*.parquet"):  # every file of the newest month: a cut footer
        target.write_bytes(target.read_bytes()[:40])
    btc_before = len(ScoreStore(data).read("BTC", "1h"))

    second = _watch(data, bento_tag, 3)
    printed = second.stdout + second.stderr
    assert second.returncode == 3, printed
    lines = [x for x in printed.splitlines() if "skipped: ETH:" in x]
    assert len(lines) == 1 and "stored data is unreadable" in lines[0], printed
    assert str(newest) in lines[0]  # names the damaged file
    assert "1 symbol(s) skipped: ETH" in printed
    assert "Traceback" not in printed
    assert len(ScoreStore(data).read("BTC", "1h")) == btc_before + 3  # BTC went on
