"""The quickstart's radar: a replay watcher beside the server that a user sees move at once.

Through the real service: /risk gains the simulated symbol within seconds, its as_of advances
bar by bar, past bars are marked stale (never passed off as current), the replay stops at the
present (no bar is scored before it closed), and stopping leaves no thread behind.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.scores import ScoreStore
from features.sources.live.replay import continue_simulation
from features.store import MarketStore
from training.cli.quickstart import simulate_step
from training.cli.quickstart_radar import QuickstartRadar

DAYS, SEED = 40, 7


@pytest.fixture
def quickstart_store(tmp_path: Path) -> Path:
    """What the quickstart's simulate step leaves: 40 days of BTC ending at the current hour."""
    simulate_step("BTC", DAYS, SEED, tmp_path)
    return tmp_path


def _risk_row(api, symbol: str = "BTC") -> dict | None:
    rows = api.get("/risk").json()["symbols"]
    return next((r for r in rows if r["symbol"] == symbol), None)


def test_risk_gains_the_symbol_and_its_as_of_advances_until_now(
    client, predictor, quickstart_store, monkeypatch
):
    monkeypatch.setenv("FLUSHRISK_DATA_DIR", str(quickstart_store))
    assert _risk_row(client) is None  # nothing watched before the radar runs
    radar = QuickstartRadar(
        quickstart_store, "BTC", predictor, DAYS, SEED, catch_up_days=0.5, bars_per_second=8,
        quiet=True,
    )
    assert "SIMULATED BTC" in radar.prepare()
    radar.start()
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = _risk_row(client)
            if row is not None and (not seen or row["as_of"] != seen[-1]):
                seen.append(row["as_of"])
                if len(seen) == 1:
                    assert row["stale"] is True  # a bar of hours ago: said so, not "current"
                    assert row["warnings"][0]["code"] == "stale_data"
            last_closed = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=1)
            if row is not None and pd.Timestamp(row["as_of"]) >= last_closed:
                break
            time.sleep(0.1)
        assert len(seen) >= 3, seen  # the page sees the symbol appear, then move
        assert [pd.Timestamp(t) for t in seen] == sorted(pd.Timestamp(t) for t in seen)
        time.sleep(1.0)  # eight bars' worth of catch-up pace: nothing more may come
        row = _risk_row(client)
        now = pd.Timestamp.now(tz="UTC")
        latest = pd.Timestamp(row["as_of"])
        # caught up with the present (fresh), but never a bar that has not closed yet
        assert row["stale"] is False and 0 <= row["data_age_seconds"] <= 3600
        assert latest + pd.Timedelta(hours=1) <= now
        assert latest == now.floor("h") - pd.Timedelta(hours=1)
    finally:
        assert radar.stop(timeout=60) is True
    assert not radar._thread.is_alive() and radar.error is None
    scores = ScoreStore(quickstart_store).read("BTC", "1h")
    stored = MarketStore(quickstart_store).read("BTC", "1h")
    assert scores.index.is_unique and set(scores.index) <= set(stored.index)  # bar times
    assert scores.index[-1] == latest
    assert len(scores) >= 11
    again = QuickstartRadar(quickstart_store, "BTC", predictor, DAYS, SEED, catch_up_days=0.5)
    assert f"the bars after {latest:%Y-%m-%d %H:%M} UTC (scored before)" in again.prepare()


def test_continuation_is_the_same_simulated_market_going_on(quickstart_store):
    stored = MarketStore(quickstart_store).read("BTC", "1h")
    longer = continue_simulation(stored, "BTC", "1h", DAYS, SEED, extra_days=2)
    assert longer is not None and longer.index[-1] == stored.index[-1] + pd.Timedelta(hours=48)
    overlap = longer.loc[stored.index]
    assert np.allclose(overlap.to_numpy(float), stored[overlap.columns].to_numpy(float),
                       equal_nan=True)
    # another seed (or another length) is another market: never spliced on
    assert continue_simulation(stored, "BTC", "1h", DAYS, SEED + 1, extra_days=2) is None
    assert continue_simulation(stored, "BTC", "1h", DAYS + 5, SEED, extra_days=2) is None


def test_quickstart_serve_starts_the_radar_and_stops_it_with_the_server(
    tmp_path, bento_tag, monkeypatch
):
    """`flushrisk quickstart`: once the server is ready the radar runs and its URL is printed;
    when the server stops, the watcher stops with everything flushed (no thread left)."""
    import threading

    import bentoml
    from typer.testing import CliRunner

    from training.cli import app
    from training.cli import quickstart as quickstart_cli

    simulate_step("BTC", DAYS, SEED, tmp_path / "data")
    monkeypatch.setattr(quickstart_cli, "find_model", lambda tag, home: bentoml.models.get(bento_tag))
    monkeypatch.setattr(quickstart_cli, "RADAR_BARS_PER_SECOND", 20.0)
    served: dict = {}

    def fake_server(tags, home, port, host, on_ready, data_dir=None, **_):
        served["data_dir"] = data_dir
        on_ready()
        scores, deadline = ScoreStore(tmp_path / "data"), time.monotonic() + 60
        while time.monotonic() < deadline:
            if "1h" in scores.bars("BTC") and len(scores.read("BTC", "1h")) >= 5:
                break
            time.sleep(0.1)
        return 0

    monkeypatch.setattr(quickstart_cli, "run_server", fake_server)
    args = ["quickstart", "--home", str(tmp_path), "--only", "serve", "--days", str(DAYS),
            "--seed", str(SEED), "--radar-days", "0.5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "replaying SIMULATED BTC data" in out and "stale" in out
    assert "Watch the radar: http://127.0.0.1:3000/ (BTC: http://127.0.0.1:3000/symbol/BTC" in out
    assert "radar stopped; all bars and scores flushed" in out
    assert served["data_dir"] == (tmp_path / "data").resolve()  # the server reads its scores
    assert not [t for t in threading.enumerate() if t.name == "flushrisk-quickstart-radar"]
    assert len(ScoreStore(tmp_path / "data").read("BTC", "1h")) >= 5

    off = CliRunner().invoke(app, [*args, "--no-radar"])
    assert off.exit_code == 0 and "Watch the radar" not in off.output
