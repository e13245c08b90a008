"""GET /risk, /risk/{symbol}, /scores/{symbol} and the radar gauges, through the real service."""

from __future__ import annotations

import json
import threading
import time

import pandas as pd
import pytest

from features.sources.live.replay import ReplayPlan, ReplaySource
from serving.radar import Radar, RadarClock, run_replay, snapshot_path

SYMBOLS = ["BTC", "ETH", "SOL"]


@pytest.fixture(scope="module")
def radar_dir(tmp_path_factory, predictor):
    root = tmp_path_factory.mktemp("radar")
    source = ReplaySource(
        ReplayPlan(symbols=SYMBOLS, bar="1h", warm_days=31, days=1.5, seed=8, preset="crash-prone")
    )
    radar = Radar(
        root, "1h", {s: predictor for s in SYMBOLS}, clock=RadarClock(), mode="simulated"
    )
    run_replay(radar, source, speed=0, stop=threading.Event(), max_bars=30)
    radar.close(timeout=60)
    return root


@pytest.fixture
def api(client, radar_dir, monkeypatch):
    monkeypatch.setenv("FLUSHRISK_DATA_DIR", str(radar_dir))
    return client


def _fresh(radar_dir, **change):
    """Make the snapshot look just written (the radar clock 'now' = its last bar close)."""
    path = snapshot_path(radar_dir)
    snap = json.loads(path.read_text())
    snap.update(change)
    path.write_text(json.dumps(snap))
    return snap


def test_risk_lists_every_symbol_sorted_with_contract_fields(api, radar_dir):
    _fresh(radar_dir, written_at=time.time(), speed=1.0)
    body = api.get("/risk").json()
    rows = body["symbols"]
    assert [r["symbol"] for r in rows] and {r["symbol"] for r in rows} == set(SYMBOLS)
    probs = [r["probability"] for r in rows]
    assert probs == sorted(probs, reverse=True)
    for r in rows:
        for key in ("bar", "risk_level", "change_1h", "as_of", "data_age_seconds", "stale",
                    "top_driver", "drivers", "has_drivers", "sparkline", "label", "warnings"):
            assert key in r, key
        assert r["stale"] is False and 0 <= r["data_age_seconds"] <= 7200
        assert len(r["sparkline"]["time"]) == 24
        # drivers are computed at the alert level; below it a row says so instead of "none"
        assert r["top_driver"] == (r["drivers"][0]["text"] if r["drivers"] else None)
        assert r["has_drivers"] or r["drivers"] == []


def test_old_data_is_flagged_stale_never_current(api, radar_dir):
    # a watcher silent for 3 h (killed: it never said its replay ended)
    ended = json.loads(snapshot_path(radar_dir).read_text())["replay_ended"]
    _fresh(radar_dir, written_at=time.time() - 3 * 3600, speed=1.0, replay_ended=None)
    rows = api.get("/risk").json()["symbols"]
    assert all(r["stale"] for r in rows)
    assert all(r["warnings"][0]["code"] == "stale_data" for r in rows)
    assert all(r["data_age_seconds"] > 2 * 3600 for r in rows)
    metrics = api.get("/metrics").text
    assert 'flushrisk_stale{symbol="BTC"} 1.0' in metrics
    _fresh(radar_dir, written_at=time.time(), replay_ended=ended)


def test_an_ended_replay_stops_the_clock_and_every_surface_says_replay(api, radar_dir):
    snap = _fresh(radar_dir, written_at=time.time() - 3 * 3600, speed=3600.0)
    assert snap["replay_ended"]["reason"] == "finished" and snap["mode"] == "simulated"
    body = api.get("/risk").json()
    assert body["as_of"] == snap["clock"], "the clock stopped where the replay ended"
    assert body["mode"] == "simulated" and body["replay_ended"] == snap["replay_ended"]
    assert all(r["mode"] == "simulated" and r["stale"] is False for r in body["symbols"])
    row = api.get("/risk/BTC").json()
    assert row["mode"] == "simulated" and row["replay_ended"]["reason"] == "finished"
    assert row["price"] > 0 and row["horizon"] == "1h"
    assert pd.Timestamp(row["from"]) == pd.Timestamp(row["as_of"]) + pd.Timedelta(hours=1)
    assert pd.Timestamp(row["until"]) == pd.Timestamp(row["from"]) + pd.Timedelta(hours=1)
    metrics = api.get("/metrics").text
    assert 'flushrisk_data_mode{mode="simulated"} 1.0' in metrics
    assert 'flushrisk_data_mode{mode="live"} 0.0' in metrics
    _fresh(radar_dir, written_at=time.time())


def test_risk_symbol_has_history_model_and_windows(api, radar_dir):
    _fresh(radar_dir, written_at=time.time())
    body = api.get("/risk/eth?window=7d").json()
    assert body["symbol"] == "ETH"
    history = body["history"]
    n = len(history["time"])
    assert n == 7 * 24
    for key in ("probability", "close", "liq_long_usd", "liq_short_usd", "funding_rate",
                "open_interest_usd", "basis", "depth_bid_1pct_usd"):
        assert len(history[key]) == n, key
    assert sum(p is not None for p in history["probability"]) == 30  # the replayed bars
    assert isinstance(body["alerts"], list) and "post_flush" in body
    assert body["model"]["label"]
    assert api.get("/risk/ETH?window=1y").status_code == 400
    missing = api.get("/risk/NOPE")
    assert missing.status_code == 404 and "not watched" in missing.json()["error"]


def test_scores_endpoint_returns_the_scored_history(api, radar_dir):
    body = api.get("/scores/SOL").json()
    assert len(body["time"]) == 30 and len(body["probability"]) == 30 == len(body["risk_level"])
    assert isinstance(body["events"], list)
    part = api.get("/scores/SOL", params={"start": body["time"][5], "end": body["time"][9]}).json()
    assert part["time"] == body["time"][5:10]
    assert api.get("/scores/SOL?start=yesterday-ish").status_code == 400
    assert api.get("/scores/NOPE").status_code == 404


def test_probability_gauge_on_metrics(api, radar_dir):
    _fresh(radar_dir, written_at=time.time())
    rows = {r["symbol"]: r for r in api.get("/risk").json()["symbols"]}
    metrics = api.get("/metrics").text
    line = next(x for x in metrics.splitlines() if x.startswith('flushrisk_probability{symbol="BTC"}'))
    assert float(line.split()[-1]) == pytest.approx(rows["BTC"]["probability"])
    assert 'flushrisk_data_age_seconds{symbol="SOL"}' in metrics


def test_replay_clock_runs_at_replay_speed(radar_dir):
    from serving.radar_api import radar_now

    snap = {"clock": "2025-01-01T00:00:00+00:00", "written_at": 1000.0, "speed": 600.0}
    assert radar_now(snap, wall=1010.0) == pd.Timestamp("2025-01-01 01:40", tz="UTC")


def test_grafana_examples_use_only_exported_metrics(api, radar_dir):
    """The shipped alert rule and dashboard work with no glue: every metric they query is on
    the service's /metrics."""
    import re
    from pathlib import Path

    _fresh(radar_dir, written_at=time.time(), collector={"errors": 2, "gaps": 3, "source": "replay"})
    api.get("/risk")
    metrics = api.get("/metrics").text
    exported = set(re.findall(r"^(flushrisk_[a-z_]+)", metrics, flags=re.MULTILINE))
    examples = Path(__file__).resolve().parents[2] / "examples" / "grafana"
    used = set()
    for name in ("alert_rule.yaml", "dashboard.json"):
        used |= set(re.findall(r"flushrisk_[a-z_]+", (examples / name).read_text()))
    used = {u for u in used if u not in ("flushrisk_radar",)}
    assert used and used <= exported, used - exported
    # the onset-alert gauge the alert rule reads is each symbol's published "alerting"
    entries = json.loads(snapshot_path(radar_dir).read_text())["symbols"]
    for symbol, entry in entries.items():
        line = f'flushrisk_alerting{{symbol="{symbol}"}} {1.0 if entry["alerting"] else 0.0}'
        assert line in metrics, line
    assert 'flushrisk_gap_bars_total{symbol="*"} 3.0' in metrics
