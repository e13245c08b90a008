"""The radar pipeline on replay: store, features, score, scores dataset, snapshot."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest

from features import MIN_WINDOW
from features.scores import ScoreStore
from features.sources.live.replay import ReplayPlan, ReplaySource
from features.store import MarketStore
from serving.radar import Radar, RadarClock, run_replay, snapshot_path
from serving.schemas import PredictRequest
from tests.serving.conftest import bars_payload

SYMBOLS = ["BTC", "ETH"]


@pytest.fixture(scope="module")
def source() -> ReplaySource:
    return ReplaySource(ReplayPlan(symbols=SYMBOLS, bar="1h", warm_days=31, days=1.0, seed=4))


def _radar(tmp_path, predictor, **kw) -> Radar:
    return Radar(tmp_path, "1h", {s: predictor for s in SYMBOLS}, clock=RadarClock(), **kw)


@pytest.mark.parametrize("write_behind", [False, True])
def test_replay_stores_scores_and_publishes_every_bar(tmp_path, predictor, source, write_behind):
    radar = _radar(tmp_path, predictor, write_behind=write_behind)
    done = run_replay(radar, source, speed=0, stop=threading.Event(), max_bars=6)
    assert radar.close(timeout=60)
    assert done == 6
    store, scores = MarketStore(tmp_path), ScoreStore(tmp_path)
    for symbol in SYMBOLS:
        full = source.frames[symbol]
        replayed = full[full.index >= source.start].iloc[:6]
        stored = store.read(symbol, "1h")
        assert stored.index.is_unique and stored.index[-1] == replayed.index[-1]
        got = scores.read(symbol, "1h")
        assert list(got.index) == list(replayed.index)
        # the published probability is what /predict answers for the same bars
        t = replayed.index[-1]
        window = stored[stored.index > t - MIN_WINDOW]
        request = PredictRequest.model_validate({"symbol": "BTC", "bars": bars_payload(window)})
        want = predictor.predict(request)
        assert got["probability"].iloc[-1] == pytest.approx(want.probability, rel=1e-12)
        assert got["risk_level"].iloc[-1] == want.risk_level
        assert got["features_present"].iloc[-1] == want.features_present
        assert got["label"].iloc[-1] and got["model"].iloc[-1].startswith("flushrisk-btc:")
    snap = json.loads(snapshot_path(tmp_path).read_text())
    assert set(snap["symbols"]) == set(SYMBOLS) and snap["bar"] == "1h"
    entry = snap["symbols"]["ETH"]
    assert entry["time"] == replayed.index[-1].isoformat()
    assert len(entry["sparkline"]["probability"]) == 6
    assert entry["change_1h"] == pytest.approx(
        entry["sparkline"]["probability"][-1] - entry["sparkline"]["probability"][-2], abs=1e-5
    )
    assert all(d["text"] for d in entry["drivers"])


def test_restart_continues_without_losing_or_duplicating(tmp_path, predictor, source):
    radar = _radar(tmp_path, predictor)
    run_replay(radar, source, speed=0, stop=threading.Event(), max_bars=3)
    radar.close(timeout=60)
    again = _radar(tmp_path, predictor)
    done = run_replay(again, source, speed=0, stop=threading.Event(), max_bars=4)
    again.close(timeout=60)
    assert done == 4
    full = source.frames["BTC"]
    want = full[full.index >= source.start].index[:7]
    got = ScoreStore(tmp_path).read("BTC", "1h").index
    assert list(got) == list(want)
    stored = MarketStore(tmp_path).read("BTC", "1h")
    assert stored.index.is_unique and stored.index[-1] == want[-1]
    pd.testing.assert_frame_equal(stored.loc[want], full.loc[want], check_freq=False)


def test_a_missing_bar_is_a_gap_not_invented(tmp_path, predictor, source):
    radar = _radar(tmp_path, predictor, write_behind=False)
    source.store_past(radar.store)
    last = radar.warm_up(SYMBOLS)
    times = source.bar_times(last)[:4]
    for k, t in enumerate(times):
        bars = source.bars_at(t, last)
        if k == 2:
            bars.pop("ETH")  # the collector could not complete ETH's bar
        radar.on_bars(bars)
    stored = MarketStore(tmp_path).read("ETH", "1h")
    assert times[2] not in stored.index and times[3] in stored.index
    assert radar.publisher.collector["gaps"] == 1
    scores = ScoreStore(tmp_path).read("ETH", "1h")
    assert times[2] not in scores.index and np.isfinite(scores["probability"]).all()


def test_drivers_are_computed_at_the_alert_level_and_alerts_keep_them(
    tmp_path, predictor, model_dir, source
):
    """The radar computes tree-SHAP drivers only for rows at or above the alert level (the
    probability of every row comes from the booster's plain prediction); those rows, and so
    every alert, carry /predict's drivers; the others say has_drivers False everywhere."""
    from models import FlushModel
    from serving.alerts import AlertManager, AlertRules, read_alerts
    from serving.predictor import Predictor

    first = _radar(tmp_path / "probe", predictor, write_behind=False)
    run_replay(first, source, speed=0, stop=threading.Event(), max_bars=8)
    probe = ScoreStore(tmp_path / "probe").read("BTC", "1h")["probability"].to_numpy()
    # a model whose alert level ("high") sits in the middle of the replayed probabilities
    model = FlushModel.load(model_dir)
    cut = float(np.median(probe))
    model.metadata["thresholds"] = {"elevated": cut / 2, "high": cut, "extreme": 1.0}
    alerting = Predictor(model, "flushrisk-btc", "test", {"symbol": "BTC"})
    manager = AlertManager([], tmp_path / "run", page_url="http://x", rules=AlertRules(
        cooldown=pd.Timedelta(0), rearm_below="high"), mode="replay")
    radar = _radar(tmp_path / "run", alerting, write_behind=False, on_scored=manager.on_scored)
    run_replay(radar, source, speed=0, stop=threading.Event(), max_bars=8)
    radar.close(timeout=60)

    store = MarketStore(tmp_path / "run")
    scores = ScoreStore(tmp_path / "run").read("BTC", "1h")
    at_alert = scores["probability"].to_numpy() >= cut
    assert at_alert.any() and not at_alert.all()
    assert scores["has_drivers"].tolist() == at_alert.tolist()
    assert (scores["drivers"][~at_alert] == "[]").all()
    stored = store.read("BTC", "1h")
    for t in scores.index[at_alert]:
        window = stored[(stored.index > t - MIN_WINDOW) & (stored.index <= t)]
        want = alerting.predict(PredictRequest.model_validate({"symbol": "BTC", "bars": bars_payload(window)}))
        got = json.loads(scores.loc[t, "drivers"])
        assert got and [d["feature"] for d in got] == [d.feature for d in want.drivers]
        np.testing.assert_allclose([d["contribution"] for d in got],
                                   [d.contribution for d in want.drivers], rtol=1e-9)
    alerts = [a for a in read_alerts(tmp_path / "run", "BTC") if a["kind"] == "alert"]
    assert alerts and all(a["drivers"] for a in alerts)
    entry = json.loads(snapshot_path(tmp_path / "run").read_text())["symbols"]["BTC"]
    assert entry["has_drivers"] == (entry["probability"] >= cut)
    if not entry["has_drivers"]:
        assert entry["drivers"] == []


def test_a_restart_restores_the_saved_streaming_state(tmp_path, predictor, source):
    """close() saves each symbol's streaming state; a restart restores it (no 30-day replay)
    and catches up from the store, scoring exactly what a restart that seeds scores."""
    for run in ("restored", "seeded"):
        radar = _radar(tmp_path / run, predictor)
        run_replay(radar, source, speed=0, stop=threading.Event(), max_bars=3)
        assert radar.close(timeout=60)
    saved = sorted((tmp_path / "restored" / "_radar" / "engine").rglob("*.state"))
    assert [p.stem for p in saved] == sorted(SYMBOLS)
    for path in (tmp_path / "seeded" / "_radar" / "engine").rglob("*.state"):
        path.unlink()
    scores, seeded = {}, {}
    for run in ("restored", "seeded"):
        again = _radar(tmp_path / run, predictor)
        seeded[run] = []
        seed = again.engine.seed
        again.engine.seed = lambda name, history, run=run, seed=seed: (seeded[run].append(name), seed(name, history))
        run_replay(again, source, speed=0, stop=threading.Event(), max_bars=4)
        again.close(timeout=60)
        scores[run] = ScoreStore(tmp_path / run).read("BTC", "1h")
    assert seeded == {"restored": [], "seeded": SYMBOLS}
    assert len(scores["restored"]) == 7
    pd.testing.assert_frame_equal(scores["restored"], scores["seeded"])
