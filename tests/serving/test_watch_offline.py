"""`flushrisk watch --exchange` with the network down, as a real process: the first failure is
printed within seconds (naming the exchange and how to check connectivity), retries back off
(no busy loop), and Ctrl-C stops it with a summary and no traceback."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from features.sources.live.collector import FailureReport, backoff, reach

pytestmark = pytest.mark.slow


def _watch_offline(data_dir: Path, bento_tag: str) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from training.cli import main; main()", "watch",
           "--exchange", "binanceusdm", "--symbols", "BTC/USDT:USDT", "--bar", "1h",
           "--data-dir", str(data_dir), "--model", bento_tag,
           "--bentoml-home", os.environ["BENTOML_HOME"]]  # the one settings path, as serve takes
    dead = "http://127.0.0.1:9"  # nothing listens there: every request is refused at once
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "BENTOML_HOME": str(data_dir / "elsewhere"),  # --bentoml-home wins over the env
           "HTTPS_PROXY": dead, "HTTP_PROXY": dead, "https_proxy": dead, "http_proxy": dead,
           "NO_PROXY": "", "no_proxy": ""}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)


def test_network_down_is_reported_at_once_backs_off_and_stops_cleanly(tmp_path, bento_tag):
    proc = _watch_offline(tmp_path, bento_tag)
    lines: list[str] = []
    reported = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if "cannot reach binanceusdm" in line:
                reported.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert reported.wait(120), "".join(lines)  # a bound for a stuck process, not a timing
        first = next(x for x in lines if "cannot reach binanceusdm" in x)
        assert "BTC/USDT:USDT -> BTC" in "".join(lines), "the exchange market is stored as BTC"
        assert "curl -sI https://" in first and "binance" in first.split("curl -sI")[1]
        # let it retry a few times, then Ctrl-C
        retries = re.findall(r"next try in (\d+) s", first)
        assert retries == ["1"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(120) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10)
    out = "".join(lines)
    assert "Traceback" not in out
    assert "stopped after 0 bar close(s)" in out


def test_failures_print_once_then_summaries_at_growing_intervals():
    now = [0.0]
    lines: list[str] = []
    report = FailureReport("okx", "www.okx.com", clock=lambda: now[0], write=lines.append)
    err = ConnectionError("refused")
    for _ in range(200):  # one failure every 3 s for 10 minutes
        report.failed("REST BTC", err)
        now[0] += 3.0
    assert lines[0].startswith("cannot reach okx: REST BTC: ConnectionError: refused")
    assert "curl -sI https://www.okx.com/" in lines[0]
    summaries = lines[1:]
    # summaries at 30 s, then 60, 120, 240 s later: a handful, not one per failure
    assert 3 <= len(summaries) <= 5
    assert "still cannot reach okx: 11 failures" in summaries[0]
    report.succeeded()
    assert lines[-1].startswith("okx reachable again after 200 failure(s)")


def test_backoff_grows_with_jitter_and_a_cap():
    delays = [1.0]
    for _ in range(12):
        delays.append(backoff(delays[-1], cap=30.0))
    assert all(b >= a * 1.4 for a, b in itertools.pairwise(delays[:5]))
    assert max(delays) <= 30.0 and min(delays[8:]) >= 30.0 * 0.75
    assert len({round(d, 6) for d in delays[8:]}) > 1, "jitter: retries never synchronise"


def test_reaching_a_dead_exchange_waits_between_tries_and_stops_on_request():
    import ccxt

    calls: list[int] = []
    stop = threading.Event()

    class Dead:
        def load_markets(self):
            calls.append(1)
            if len(calls) == 4:
                stop.set()
            raise ccxt.NetworkError("unreachable")

    lines: list[str] = []
    report = FailureReport("bybit", "api.example.test", write=lines.append)
    assert reach(Dead(), report, stop, first_delay=0.01, cap=0.05) is False
    assert len(calls) == 4, "each try waits its backoff; stop ends the waiting"
    assert lines and lines[0].startswith("cannot reach bybit: markets: NetworkError")


def test_a_replay_of_several_symbols_watches_those_with_a_champion(monkeypatch):
    from features.errors import ModelNotFoundError
    from serving import loader
    from serving.radar import load_champions

    champion = object()
    monkeypatch.setattr(loader, "wanted_models", list)
    monkeypatch.setattr(loader, "load_all", lambda wanted: {"BTC": champion})
    assert load_champions(["BTC", "ETH", "SOL"], skip_missing=True) == {"BTC": champion}
    with pytest.raises(ModelNotFoundError, match="no champion model for ETH, SOL"):
        load_champions(["BTC", "ETH", "SOL"])
    with pytest.raises(ModelNotFoundError, match="no champion model for ETH"):
        load_champions(["ETH"], skip_missing=True)  # nothing to watch at all: an error


def test_exchange_markets_are_stored_under_the_stores_names():
    from features.errors import DataError
    from training.cli.watch import store_names

    assert store_names(["BTC/USDT:USDT", "eth/usdt:usdt", "SOL"]) == {
        "BTC/USDT:USDT": "BTC", "eth/usdt:usdt": "ETH", "SOL": "SOL"}
    with pytest.raises(DataError, match="would all be stored as BTC"):
        store_names(["BTC/USDT:USDT", "BTC/USD:BTC"])
