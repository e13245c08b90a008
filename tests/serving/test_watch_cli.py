"""`flushrisk watch --replay` as a real process: killed mid-bar and restarted, every bar is
stored exactly once; SIGTERM stops it cleanly with the last bar flushed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from features.scores import ScoreStore
from features.sources.live.replay import ReplayPlan, ReplaySource
from features.store import MarketStore

pytestmark = pytest.mark.slow
SYMBOLS = ["BTC", "ETH"]
ARGS = ["--bar", "1h", "--days", "1", "--warm-days", "31", "--speed", "36000"]


def _watch(data_dir: Path, bento_tag: str, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from training.cli import main; main()", "watch", "--replay",
           ",".join(SYMBOLS), "--data-dir", str(data_dir), "--model", bento_tag, *ARGS, *extra]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _wait_for_bars(proc: subprocess.Popen, n: int, timeout: float = 120) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if sum("scored" in x for x in lines) >= n:
            return lines
    raise AssertionError("the watcher did not score enough bars:\n" + "".join(lines[-30:]))


def _expected() -> list:
    source = ReplaySource(ReplayPlan(symbols=SYMBOLS, bar="1h", warm_days=31, days=1))
    frame = source.frames["BTC"]
    return list(frame.index[frame.index >= source.start])


def test_killed_mid_bar_then_restarted_stores_every_bar_once(tmp_path, bento_tag):
    first = _watch(tmp_path, bento_tag)
    _wait_for_bars(first, 5)
    first.send_signal(signal.SIGKILL)  # no chance to flush: the write-behind queue is lost
    first.wait(30)
    killed_at = len(ScoreStore(tmp_path).read("BTC", "1h"))
    second = _watch(tmp_path, bento_tag)
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out
    want = _expected()
    for symbol in SYMBOLS:
        stored = MarketStore(tmp_path).read(symbol, "1h")
        replayed = stored[stored.index >= want[0]]
        assert list(replayed.index) == want, symbol  # every bar, once, in order
        assert stored.index.is_unique
        scores = ScoreStore(tmp_path).read(symbol, "1h")
        assert list(scores.index) == want
    assert killed_at < len(want)


def test_sigterm_stops_cleanly_with_the_last_bar_flushed(tmp_path, bento_tag):
    proc = _watch(tmp_path, bento_tag, "--speed", "7200")
    lines = _wait_for_bars(proc, 3)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    lines.append(out)
    assert proc.returncode == 0, "".join(lines)
    assert "all bars and scores flushed" in out
    scored = [x for x in "".join(lines).splitlines() if "scored" in x]
    last_time = scored[-1].split(": scored")[0]
    scores = ScoreStore(tmp_path).read("ETH", "1h")
    assert str(scores.index[-1]) == last_time
    assert MarketStore(tmp_path).read("ETH", "1h").index[-1] == scores.index[-1]
