"""/predict says whether the model's alert rule fires for the bar it scores, by the same rule the
radar alerts by and the walk-forward judged: at or above the alert level and, for a model with a
calm rule, not while a squeeze of its label runs, read from the request's own bars. A request
that cannot show the tape alerts as for a calm hour and says so (warning calm_unknown)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import MIN_WINDOW, build_features
from features.labels import CALM_WINDOW, LabelSpec, running_at_last, running_cascade
from tests.serving.conftest import SYMBOL, bars_payload
from tests.serving.test_alert_rule import _calm_predictor
from tests.serving.test_predictor import bars_request, codes, features_request


@pytest.fixture(scope="module")
def spec(market: pd.DataFrame) -> LabelSpec:
    """A label that fires on about one bar in ten of the simulated market."""
    return LabelSpec(threshold_usd=float(market["long_liq_usd"].quantile(0.9)))


@pytest.fixture(scope="module")
def running(market: pd.DataFrame, spec: LabelSpec) -> pd.Series:
    return running_cascade(market, spec)


def _window(market: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    return market[(market.index > end - MIN_WINDOW) & (market.index <= end)]


def test_a_bars_request_judges_running_from_its_own_bars_as_the_label_on_the_whole_market(
    model_dir, market, spec, running
):
    predictor = _calm_predictor(model_dir, spec.to_dict())  # every bar at or above 'elevated'
    late = running[running.index >= market.index[0] + MIN_WINDOW]
    ends = [*late[late].index[:3], *late[~late].index[:3]]
    assert len(ends) == 6  # both kinds of hour are asked
    for end in ends:
        answer = predictor.predict(bars_request(_window(market, end)))
        assert answer.squeeze_running is bool(running[end]), end
        assert answer.alert is (not running[end]), end
        assert "calm_unknown" not in codes(answer)


def test_without_the_label_columns_the_answer_alerts_as_in_a_calm_hour_and_says_it_cannot_tell(
    model_dir, market, spec, running
):
    predictor = _calm_predictor(model_dir, spec.to_dict())
    end = running[running & (running.index >= market.index[0] + MIN_WINDOW)].index[0]
    window = _window(market, end).drop(columns=["long_liq_usd"])
    answer = predictor.predict(bars_request(window))
    assert answer.squeeze_running is None and answer.alert is True
    warning = next(w for w in answer.warnings if w.code == "calm_unknown")
    assert "long_liq_usd" in warning.message and "last 6 h" in warning.message
    assert "open_interest_usd" not in warning.message  # a fixed USD threshold needs no OI

    row = build_features(market).loc[end]
    answer = predictor.predict(features_request(row, as_of=end.isoformat()))
    assert answer.squeeze_running is None and answer.alert is True
    assert "calm_unknown" in codes(answer)


def test_below_the_alert_level_nothing_is_judged_and_a_legacy_model_alerts_in_every_hour(
    model_dir, predictor, market, window
):
    calm = _calm_predictor(model_dir, LabelSpec().to_dict())
    calm.model.metadata["thresholds"] = {"elevated": 0.999, "high": 0.9995, "extreme": 0.9999}
    calm.__dict__.pop("_level_edges", None)  # the edges are read once per model
    answer = calm.predict(bars_request(window))
    assert answer.risk_level == "low"
    assert answer.alert is False and answer.squeeze_running is None
    assert "calm_unknown" not in codes(answer)

    # the session's model was saved before the rule: from 'high', whatever the tape shows
    legacy = predictor.predict(bars_request(window))
    assert legacy.squeeze_running is None
    assert legacy.alert is (legacy.risk_level in ("high", "extreme"))


def test_running_at_last_is_the_cascade_at_the_last_bar_and_unknown_when_a_counted_bar_is_missing(
    market, spec, running
):
    bar = pd.Timedelta("1h")
    ends = running.index[-200::7]
    for end in ends:
        frame = market[market.index <= end]
        assert running_at_last(frame, spec, CALM_WINDOW, bar) is bool(running[end])
    calm_end = next(t for t in ends if not running[t])
    frame = market[market.index <= calm_end]
    gap = frame.drop(index=calm_end - pd.Timedelta(hours=3))  # a bar whose squeeze would count
    assert running_at_last(gap, spec, CALM_WINDOW, bar) is None
    blank = frame.copy()
    blank.loc[calm_end - pd.Timedelta(hours=2), "long_liq_usd"] = np.nan
    assert running_at_last(blank, spec, CALM_WINDOW, bar) is None
    assert running_at_last(frame.drop(columns=["long_liq_usd"]), spec, CALM_WINDOW, bar) is None


def test_the_http_answer_carries_alert_and_squeeze_running(client, window):
    body = {"symbol": SYMBOL, "bars": bars_payload(window)}
    answer = client.post("/predict", json=body).json()
    # the session's model was saved before the calm rule: it alerts from 'high', every hour
    assert answer["alert"] is (answer["risk_level"] in ("high", "extreme"))
    assert answer["squeeze_running"] is None  # nothing to judge without a calm rule
    batch = client.post("/predict_batch", json={"items": [body]}).json()["results"][0]
    assert (batch["alert"], batch["squeeze_running"]) == (answer["alert"], None)


def test_the_radar_tape_without_liquidations_is_not_called_calm(model_dir, market, spec, running):
    """The radar judges its tape by the same rule: liquidations missing (a collector without
    them) is 'not known', not a calm hour; with them, the label's cascade at the last bar."""
    from serving.alert_rule import running_now

    model = _calm_predictor(model_dir, spec.to_dict()).model
    end = running[~running].index[-1]
    tape = market[["long_liq_usd", "open_interest_usd"]][market.index <= end].iloc[-10:]
    assert running_now(tape, model, pd.Timedelta("1h")) is False
    blind = tape.assign(long_liq_usd=np.nan)  # what the tape keeps for an absent column
    assert running_now(blind, model, pd.Timedelta("1h")) is None
