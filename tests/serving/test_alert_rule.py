"""The served alert rule: a model trained now alerts from 'elevated' in calm hours only (no squeeze
of its label ended in the last 6 h), as its evaluation judged it; a model saved before the rule
alerts from 'high' in every hour. Radar alerts, /risk rows, the backtest record and the model
card all follow and say the same rule."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest

from features.labels import LabelSpec, running_cascade
from features.sources.live.replay import ReplayPlan, ReplaySource
from features.store import MarketStore
from serving.alerts import AlertManager, AlertRules, read_alerts
from serving.backtest import warned_record
from serving.radar import Radar, RadarClock, run_replay, snapshot_path

CALM_RULE = {"level": "elevated", "calm_hours": 6.0}
T0 = pd.Timestamp("2025-03-01 00:00", tz="UTC")
THRESHOLDS = {"elevated": 0.02, "high": 0.05, "extreme": 0.12}


def _manager(tmp_path, **rules) -> AlertManager:
    return AlertManager([], tmp_path, page_url="http://x",
                        rules=AlertRules(cooldown=pd.Timedelta(0), **rules))


def _observe(manager, k, p, level, **rule):
    return manager.observe("BTC", T0 + pd.Timedelta(hours=k), p, level, "a squeeze",
                           thresholds=THRESHOLDS, bar="1h", horizon="1h", **rule)


def test_no_alert_while_a_squeeze_runs_and_the_same_probability_alerts_in_a_calm_hour(tmp_path):
    manager = _manager(tmp_path)
    rule = {"alert_level": "elevated", "calm_hours": 6.0}
    assert _observe(manager, 0, 0.03, "elevated", running=True, **rule) is None
    assert _observe(manager, 1, 0.03, "elevated", running=True, **rule) is None
    alert = _observe(manager, 2, 0.03, "elevated", running=False, **rule)
    assert alert is not None and alert.kind == "alert" and alert.crossed == "elevated"
    assert alert.threshold == THRESHOLDS["elevated"]
    assert "no squeeze in the last 6 h" in alert.text()
    logged = read_alerts(tmp_path, "BTC")
    assert [a["time"] for a in logged] == [(T0 + pd.Timedelta(hours=2)).isoformat()]
    assert logged[0]["calm_hours"] == 6.0


def test_a_model_without_a_calm_rule_alerts_from_high_in_every_hour(tmp_path):
    manager = _manager(tmp_path)
    assert _observe(manager, 0, 0.03, "elevated", running=True) is None  # legacy: from high
    alert = _observe(manager, 1, 0.06, "high", running=True)  # and a running squeeze is no bar
    assert alert is not None and alert.crossed == "high"
    assert "no squeeze" not in alert.text()


def test_a_configured_level_only_raises_the_models_level(tmp_path):
    manager = _manager(tmp_path, level="extreme")
    rule = {"alert_level": "elevated", "calm_hours": 6.0, "running": False}
    assert _observe(manager, 0, 0.06, "high", **rule) is None
    alert = _observe(manager, 1, 0.2, "extreme", **rule)
    assert alert is not None and alert.crossed == "extreme"
    assert manager.alert_level("high") == "extreme"
    assert _manager(tmp_path / "b", level="elevated").alert_level("high") == "high"


def test_the_backtest_counts_alert_bars_by_the_rule():
    times = pd.date_range(T0, periods=6, freq="1h")
    p = np.array([0.0, 0.5, 0.5, 0.0, 0.5, 0.0])
    labels = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0])  # row 4: the squeeze in (4, 5]
    running = np.array([False, True, True, False, False, False])
    events = [{"start": times[5].isoformat()}]
    record = warned_record(events, times, p, labels, 0.1, pd.Timedelta("1h"), pd.Timedelta("1h"),
                           None, running)
    assert record["alert_bars"] == 1 and record["squeeze_bars"] == 2
    assert record["false_alarms"] == 0  # the bars in the running squeeze are no alarms
    assert record["warned"] == 1 and events[0]["warned"] is True


@pytest.fixture(scope="module")
def source() -> ReplaySource:
    return ReplaySource(ReplayPlan(symbols=["BTC", "ETH"], bar="1h", warm_days=31, days=1.0, seed=4))


def _calm_predictor(model_dir, spec: dict) -> object:
    from models import FlushModel
    from serving.predictor import Predictor

    model = FlushModel.load(model_dir)
    model.label_spec = spec
    model.metadata["alert_rule"] = dict(CALM_RULE)
    # every bar at or above 'elevated': the rule alone decides which bars alert
    model.metadata["thresholds"] = {"elevated": 1e-9, "high": 0.999, "extreme": 1.0}
    model.metadata["data_end"] = "2025-01-15T00:00:00+00:00"  # the replayed day: out of sample
    return Predictor(model, "flushrisk-btc", "test", {"symbol": "BTC"})


def test_radar_alerts_only_in_calm_hours_by_the_label_on_the_stored_market(
    tmp_path, model_dir, source
):
    """The radar's 'squeeze running' (from its own recent bars and the store) is the label's
    running_cascade on the whole stored market, and alerts fire exactly on the calm bars."""
    spec = LabelSpec(threshold_usd=2.5e6)
    predictor = _calm_predictor(model_dir, spec.to_dict())
    manager = AlertManager([], tmp_path, page_url="http://x", mode="replay",
                           rules=AlertRules(cooldown=pd.Timedelta(0), rearm_below="high"))
    radar = Radar(tmp_path, "1h", {"BTC": predictor, "ETH": predictor}, clock=RadarClock(),
                  write_behind=False, on_scored=manager.on_scored)
    seen: list = []
    run_replay(radar, source, speed=0, stop=threading.Event(),
               on_bar=lambda t, scored: seen.extend(scored))
    radar.close(timeout=60)
    for symbol in ("BTC", "ETH"):
        mine = [s for s in seen if s.symbol == symbol]
        times = pd.DatetimeIndex([s.time for s in mine])
        stored = MarketStore(tmp_path).read(symbol, "1h")
        want = running_cascade(stored, spec).reindex(times).to_numpy(dtype=bool)
        got = np.array([s.squeeze_running for s in mine])
        assert got.tolist() == want.tolist()
        assert want.any() and not want.all()  # both kinds of hour were replayed
        fired = [pd.Timestamp(a["time"]) for a in read_alerts(tmp_path, symbol)
                 if a["kind"] == "alert"]
        assert fired == list(times[~want])
    entry = json.loads(snapshot_path(tmp_path).read_text())["symbols"]["BTC"]
    last = [s for s in seen if s.symbol == "BTC"][-1]
    assert isinstance(entry["squeeze_running"], bool)
    assert entry["squeeze_running"] == last.squeeze_running

    # the backtest record of /scores counts the same bars: alert bars in calm hours, the
    # others at the level as 'squeeze_bars'
    from features.scores import ScoreStore
    from serving.radar_api import label_events
    from serving.state import STATE

    scored = ScoreStore(tmp_path).read("ETH", "1h")
    served = dict(STATE.predictors)
    STATE.replace({"ETH": predictor})
    try:
        _, record, _ = label_events(tmp_path, "ETH", "1h", scored)
    finally:
        STATE.replace(served)
    until = pd.Timestamp(predictor.info.trained_until)
    until = until.tz_localize("UTC") if until.tzinfo is None else until
    oos = scored.index > until
    assert oos.any()
    assert record["alert_rule"]["calm_hours"] == 6.0
    assert record["squeeze_bars"] == int((want & oos).sum())
    assert record["alert_bars"] == int((~want & oos).sum())


def test_risk_rows_say_whether_a_squeeze_is_under_way():
    from serving.radar_api import risk_table

    snap = {
        "clock": T0.isoformat(), "written_at": 0.0, "speed": 0.0, "bar": "1h", "mode": "replay",
        "symbols": {
            "BTC": {"time": T0.isoformat(), "probability": 0.04, "risk_level": "elevated",
                    "squeeze_running": True},
            "ETH": {"time": T0.isoformat(), "probability": 0.01, "risk_level": "low"},
        },
    }
    rows = {r["symbol"]: r for r in risk_table(snap, wall=0.0)["symbols"]}
    assert rows["BTC"]["squeeze_running"] is True
    assert rows["ETH"]["squeeze_running"] is None


def test_the_model_card_states_the_alert_rule(model_dir, predictor):
    legacy = predictor.card()
    assert legacy.alert_rule.level == "high" and legacy.alert_rule.calm_hours is None
    assert legacy.alert_rule.text == "every hour, from high"
    calm = _calm_predictor(model_dir, LabelSpec().to_dict()).card()
    assert calm.alert_rule.level == "elevated" and calm.alert_rule.calm_hours == 6.0
    assert "no squeeze of its label in the last 6 h" in calm.alert_rule.text
    assert calm.alert_threshold == calm.thresholds["elevated"]
    assert "calm hours" in calm.labels["alert_threshold"]
    assert "alert_rule" in calm.labels and "alert_rule" not in calm.metadata


def test_a_score_is_an_alert_by_its_models_rule():
    """What the snapshot's ``alerting`` and the ``flushrisk_alerting`` gauge (read by the shipped
    Grafana rule) say: at or above the model's alert level, not while a squeeze of its label runs."""
    from serving.radar import ScoredBar

    def bar(level: str, running: bool | None, alert_level: str = "elevated") -> ScoredBar:
        return ScoredBar("BTC", pd.Timestamp("2026-01-01", tz="UTC"), 0.3, level, [], "m:1", "", 80,
                         [], alert_level=alert_level, calm_hours=6.0, squeeze_running=running)

    assert bar("elevated", False).alerting() and bar("extreme", None).alerting()
    assert not bar("elevated", True).alerting()  # squeeze under way: no new alert
    assert not bar("low", False).alerting()
    assert not bar("elevated", False, alert_level="high").alerting()  # a legacy model's level
