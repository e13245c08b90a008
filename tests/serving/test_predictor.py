"""In-process predictions: the same numbers as training, honest warnings, clear refusals."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features import FEATURES, MIN_WINDOW, build_features
from serving.predictor import ModelMismatchError, Predictor, RequestError
from serving.schemas import PredictRequest
from tests.serving.conftest import SYMBOL, bars_payload, train_tiny_model


def bars_request(frame: pd.DataFrame, symbol: str = SYMBOL) -> PredictRequest:
    return PredictRequest.model_validate({"symbol": symbol, "bars": bars_payload(frame)})


def features_request(values: pd.Series, **extra: Any) -> PredictRequest:
    feats = {k: (None if np.isnan(v) else float(v)) for k, v in values.items()}
    return PredictRequest.model_validate({"symbol": SYMBOL, "features": feats, **extra})


def codes(response: Any) -> list[str]:
    return [w.code for w in response.warnings]


def test_bars_and_features_give_the_training_pipelines_probability(
    predictor: Predictor, window: pd.DataFrame, market: pd.DataFrame, tiny_model: Any
) -> None:
    t = window.index[-1]
    expected_row = build_features(market).loc[t]
    expected = float(tiny_model.predict_proba(expected_row.to_numpy()[None, :])[0])

    from_bars = predictor.predict(bars_request(window))
    from_features = predictor.predict(features_request(expected_row, as_of=t.isoformat()))

    assert from_bars.probability == pytest.approx(expected, rel=1e-9)
    assert from_features.probability == pytest.approx(expected, rel=1e-9)
    assert 0.0 < from_bars.probability < 1.0
    assert from_bars.as_of == t.to_pydatetime()
    assert from_bars.risk_level == tiny_model.risk_level(from_bars.probability)


def test_older_bars_beyond_the_minimum_window_do_not_change_the_answer(
    predictor: Predictor, window: pd.DataFrame, market: pd.DataFrame
) -> None:
    longer = market[market.index > window.index[-1] - MIN_WINDOW - pd.Timedelta(days=10)]
    assert len(longer) > len(window)
    a = predictor.predict(bars_request(window)).probability
    b = predictor.predict(bars_request(longer)).probability
    assert a == pytest.approx(b, rel=1e-12)


def test_drivers_are_the_largest_contributions_with_their_values(
    predictor: Predictor, window: pd.DataFrame, tiny_model: Any
) -> None:
    response = predictor.predict(bars_request(window))
    row = build_features(window).iloc[-1].to_numpy()[None, :]
    contrib = tiny_model.booster.predict(row, pred_contrib=True)[0, : len(FEATURES)]
    known = ~np.isnan(row[0])
    top = [j for j in np.argsort(-np.abs(np.where(known, contrib, 0.0)), kind="stable")[:5]]
    assert [d.feature for d in response.drivers] == [FEATURES[j] for j in top]
    for driver, j in zip(response.drivers, top, strict=True):
        assert driver.contribution_log_odds == pytest.approx(contrib[j])
        assert driver.raw_value == pytest.approx(row[0, j])
        assert np.sign(driver.contribution) == np.sign(driver.contribution_log_odds)


def test_model_info_names_lineage_and_label(predictor: Predictor, window: pd.DataFrame) -> None:
    info = predictor.predict(bars_request(window)).model
    assert info.name == "flushrisk-btc"
    assert info.version == "3" and info.bentoml_tag == "flushrisk-btc:test"
    assert info.trained_until is not None and info.trained_until.startswith("20")
    assert info.label_spec["kind"] == "liquidation"
    assert info.label is not None and "liquidations" in info.label


def test_a_window_shorter_than_the_minimum_is_refused_naming_it(
    predictor: Predictor, window: pd.DataFrame
) -> None:
    with pytest.raises(RequestError) as err:
        predictor.predict(bars_request(window.iloc[1:]))
    assert err.value.loc == ("bars",)
    assert "720 bars" in err.value.message and "30d" in err.value.message


def test_bars_of_another_size_are_refused(predictor: Predictor, window: pd.DataFrame) -> None:
    five_minute = window.iloc[-50:].copy()
    five_minute.index = pd.date_range("2025-01-01", periods=50, freq="5min", tz="UTC", name="time")
    with pytest.raises(RequestError, match="5m apart but the model was trained on 1h bars"):
        predictor.predict(bars_request(five_minute))


def test_another_symbol_is_refused(predictor: Predictor, window: pd.DataFrame) -> None:
    with pytest.raises(RequestError) as err:
        predictor.predict(bars_request(window, symbol="ETH"))
    assert err.value.loc == ("symbol",)
    # The same market spelled as an exchange pair is accepted.
    assert predictor.predict(bars_request(window, symbol="btc")).probability > 0


def test_batch_errors_name_the_item(predictor: Predictor, window: pd.DataFrame) -> None:
    good = bars_request(window)
    short = bars_request(window.iloc[-10:])
    with pytest.raises(RequestError) as err:
        predictor.predict_many([good, short])
    assert err.value.loc[:2] == ("items", 1)


def test_warns_about_values_outside_the_training_range(
    predictor: Predictor, feature_matrix: pd.DataFrame
) -> None:
    row = feature_matrix.iloc[-1].copy()
    row["funding_rate"] = 0.04  # far beyond anything simulated for training
    response = predictor.predict(features_request(row))
    [warning] = [w for w in response.warnings if w.code == "out_of_training_range"]
    assert warning.features == ["funding_rate"]
    assert "funding_rate" in warning.message


def test_warns_when_a_trained_signal_group_is_missing(
    predictor: Predictor, window: pd.DataFrame, feature_matrix: pd.DataFrame
) -> None:
    no_depth = window.drop(columns=[c for c in window.columns if "depth" in c])
    response = predictor.predict(bars_request(no_depth))
    [warning] = [w for w in response.warnings if w.code == "missing_signal_group"]
    assert "depth" in warning.message
    assert "missing_signal_group" not in codes(predictor.predict(bars_request(window)))

    row = feature_matrix.iloc[-1].copy()
    row[[f for f in FEATURES if f.startswith("funding")]] = np.nan
    response = predictor.predict(features_request(row))
    [warning] = [w for w in response.warnings if w.code == "missing_signal_group"]
    assert "funding" in warning.message and "funding_rate" in warning.features


def test_warns_about_stale_and_future_data(predictor: Predictor, window: pd.DataFrame) -> None:
    request = bars_request(window)
    last = window.index[-1].to_pydatetime()
    assert "stale_data" not in codes(predictor.predict(request, now=last + timedelta(minutes=70)))
    assert "stale_data" in codes(predictor.predict(request, now=last + timedelta(hours=5)))
    assert "future_data" in codes(predictor.predict(request, now=last - timedelta(hours=3)))


def test_a_model_with_another_feature_order_is_refused(feature_matrix: pd.DataFrame) -> None:
    reordered = feature_matrix[list(reversed(feature_matrix.columns))]
    model = train_tiny_model(reordered)
    with pytest.raises(ModelMismatchError, match="another order"):
        Predictor(model, "flushrisk-btc", "1")


def test_a_model_with_other_features_is_refused(feature_matrix: pd.DataFrame) -> None:
    renamed = feature_matrix.rename(columns={"funding_rate": "funding_rate_v0"})
    model = train_tiny_model(renamed)
    with pytest.raises(ModelMismatchError, match="funding_rate"):
        Predictor(model, "flushrisk-btc", "1")


def test_a_sub_hourly_model_of_older_feature_definitions_is_refused(tiny_model: Any) -> None:
    """Since the 7- and 30-day windows of sub-hourly bars come from hourly aggregates, a 5-minute
    model trained before would see values its trees never split on: refused, saying why. An
    hourly model of the older definitions gets the same values and is still served."""
    from features.pipeline import FEATURE_DEFINITIONS
    from models import FlushModel

    def with_meta(**meta: Any) -> FlushModel:
        m = tiny_model
        return FlushModel(m.booster, m.features, m.calibrator, m.label_spec, {**m.metadata, **meta})

    # models written before the version existed carry none: definitions 1
    Predictor(with_meta(bar="1h", feature_definitions=None), "flushrisk-btc", "1")
    with pytest.raises(ModelMismatchError, match="5m model trained with feature definitions 1.*Retrain"):
        Predictor(with_meta(bar="5m", feature_definitions=None), "flushrisk-btc", "1")
    Predictor(with_meta(bar="5m", feature_definitions=FEATURE_DEFINITIONS), "flushrisk-btc", "1")


def test_a_model_whose_alert_rule_cannot_be_applied_is_refused_in_words(tiny_model: Any) -> None:
    """/predict's alert, the radar and the card all read the model's alert rule: one that cannot
    be read refuses the model once, saying what is wrong, instead of failing every answer."""
    from models import FlushModel

    def with_rule(rule: Any) -> FlushModel:
        m = tiny_model
        return FlushModel(m.booster, m.features, m.calibrator, m.label_spec,
                          {**m.metadata, "alert_rule": rule})

    Predictor(with_rule({"level": "elevated", "calm_hours": 6.0}), "flushrisk-btc", "1")
    Predictor(with_rule(None), "flushrisk-btc", "1")  # saved before the rule: from high, always
    for bad in ({"level": "severe", "calm_hours": 6.0}, {"level": "elevated", "calm_hours": -1},
                {"level": "high", "calm_hours": "soon"}, "elevated"):
        with pytest.raises(ModelMismatchError, match="alert rule this version cannot apply.*Retrain"):
            Predictor(with_rule(bad), "flushrisk-btc", "1")


def test_serving_never_imports_mlflow(model_dir: Path, bento_tag: str) -> None:
    """Start-up stays light: loading the service and its model must not pull in mlflow."""
    code = (
        "import sys\n"
        "from serving.service import FlushRiskService\n"
        "from serving.state import STATE\n"
        "service = FlushRiskService()\n"
        "assert STATE.get('BTC').model.booster.num_trees() > 0\n"
        "bad = [m for m in ('mlflow', 'training', 'sklearn') if m in sys.modules]\n"
        "print('loaded', sorted(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "loaded []" in done.stdout


@pytest.mark.parametrize(
    "dropped",
    [
        [],
        ["mark_price"],
        ["index_price"],
        ["bid_depth_2pct_usd"],
        ["long_short_ratio", "volume_usd"],
    ],
)
def test_signal_groups_of_a_request_follow_the_schemas_rule(
    window: pd.DataFrame, dropped: list[str]
) -> None:
    from features.schema import signal_groups
    from serving.predictor import present_groups

    frame = window.drop(columns=dropped)
    parsed = bars_request(frame).bars
    assert present_groups(list(parsed.columns)) == signal_groups(frame)


def test_one_shap_pass_gives_the_models_own_probabilities_and_drivers(
    predictor: Predictor, feature_matrix: pd.DataFrame, tiny_model: Any
) -> None:
    rows = feature_matrix.iloc[::37].to_numpy(np.float64)
    assert predictor._contrib_is_margin  # the fast path is the one being checked
    probabilities, drivers = predictor.score(rows)
    np.testing.assert_allclose(probabilities, tiny_model.predict_proba(rows), rtol=1e-10)
    contrib = tiny_model.booster.predict(rows, pred_contrib=True)[:, : len(FEATURES)]
    for values, row_contrib, got in zip(rows, contrib, drivers, strict=True):
        known = ~np.isnan(values)
        order = np.argsort(-np.abs(np.where(known, row_contrib, 0.0)), kind="stable")[:5]
        want = [j for j in order if known[j] and row_contrib[j] != 0.0]
        assert [d["feature"] for d in got] == [FEATURES[j] for j in want]
        np.testing.assert_allclose(
            [d["contribution_log_odds"] for d in got], row_contrib[want], rtol=1e-12
        )
