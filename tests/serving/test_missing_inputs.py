"""Missing inputs never lower the risk quietly: warnings, a count, and a floor at the base rate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from features import FEATURES, build_features
from features.schema import SIGNAL_GROUPS
from serving.predictor import Predictor
from serving.schemas import PredictRequest
from tests.serving.conftest import SYMBOL, bars_payload, train_tiny_model


def _features(row: pd.Series, drop: tuple[str, ...] = ()) -> PredictRequest:
    values = {k: float(v) for k, v in row.items() if not np.isnan(v) and k not in drop}
    return PredictRequest.model_validate({"symbol": SYMBOL, "features": values})


def _bars(frame: pd.DataFrame) -> PredictRequest:
    return PredictRequest.model_validate({"symbol": SYMBOL, "bars": bars_payload(frame)})


def _codes(response: Any) -> list[str]:
    return [w.code for w in response.warnings]


def test_a_features_request_without_funding_rate_warns_and_counts(
    predictor: Predictor, feature_matrix: pd.DataFrame
) -> None:
    row = feature_matrix.iloc[-1]
    full = predictor.predict(_features(row))
    assert "missing_feature" not in _codes(full)
    assert full.features_present == full.model_features == predictor.features_used
    assert full.model_features == int(row.notna().sum())

    response = predictor.predict(_features(row, drop=("funding_rate",)))
    missing = [w for w in response.warnings if w.code == "missing_feature"]
    assert [w.features for w in missing] == [["funding_rate"]]
    assert "funding_rate" in missing[0].message
    assert response.features_present == full.features_present - 1


def test_bars_with_only_prices_and_funding_warn_per_group_and_never_fall_below_the_base_rate(
    predictor: Predictor, window: pd.DataFrame
) -> None:
    bare = window[["open", "high", "low", "close", "funding_rate"]]
    response = predictor.predict(_bars(bare))
    groups = {
        w.message.split("'")[1] for w in response.warnings if w.code == "missing_signal_group"
    }
    expected = {g for g in predictor.groups if g not in ("price", "funding")}
    assert groups == expected, response.warnings
    assert response.features_present < response.model_features
    base = predictor.base_rate
    assert base is not None
    assert response.probability >= base
    if response.model_probability < base:
        assert "probability_floored" in _codes(response)
        assert response.probability == pytest.approx(base)
    else:
        assert response.probability == response.model_probability


def test_the_floor_is_applied_when_the_model_answers_below_the_base_rate(
    predictor: Predictor, feature_matrix: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = feature_matrix.iloc[-1]
    monkeypatch.setattr(predictor, "base_rate", 0.99)  # every answer is below it
    complete = predictor.predict(_features(row))
    assert complete.probability == complete.model_probability < 0.99  # nothing missing: no floor
    partial = predictor.predict(_features(row, drop=("funding_rate",)))
    assert partial.probability == 0.99 and partial.model_probability < 0.99
    floored = [w for w in partial.warnings if w.code == "probability_floored"]
    assert floored and "base rate" in floored[0].message


def test_a_model_trained_without_liquidations_names_its_groups_and_does_not_warn_about_extras(
    market: pd.DataFrame, window: pd.DataFrame
) -> None:
    no_liq = market.drop(columns=list(SIGNAL_GROUPS["liquidations"]))
    model = train_tiny_model(build_features(no_liq))
    model.metadata["groups"] = [g for g in SIGNAL_GROUPS if g != "liquidations"]
    predictor = Predictor(model, "flushrisk-btc", "okx-like", {"symbol": SYMBOL})
    assert "liquidations" not in predictor.card().groups
    response = predictor.predict(_bars(window))  # brings liquidations the model never used
    assert not [w for w in response.warnings if w.code.startswith("missing")], response.warnings
    assert response.features_present == response.model_features


def test_out_of_range_warnings_allow_a_tolerance_and_say_how_far_out(
    predictor: Predictor, feature_matrix: pd.DataFrame
) -> None:
    j = FEATURES.index("rvol_7d")
    lo, hi = predictor._lo[j], predictor._hi[j]
    row = feature_matrix.iloc[-1].copy()
    row["rvol_7d"] = hi + 0.003 * (hi - lo)  # just outside (0.1398 against 0.1395)
    assert "out_of_training_range" not in _codes(predictor.predict(_features(row)))
    row["rvol_7d"] = hi + 0.5 * (hi - lo)
    warning = next(
        w for w in predictor.predict(_features(row)).warnings if w.code == "out_of_training_range"
    )
    assert warning.features == ["rvol_7d"]
    assert "above the training maximum" in warning.message
    assert "50 % of the training spread" in warning.message


def test_the_card_shows_one_version_one_base_rate_one_alert_threshold_with_labels(
    predictor: Predictor,
) -> None:
    card = predictor.card().model_dump(mode="json")
    assert card["model"]["version"] == "3" and card["model"]["bentoml_tag"] == "flushrisk-btc:test"
    assert "mlflow_version" not in card["model"]
    assert card["base_rate"] == pytest.approx(predictor.model.metadata["base_rate"])
    assert card["alert_threshold"] == pytest.approx(card["thresholds"]["high"])
    for section in ("metrics", "metadata"):
        for duplicate in ("base_rate", "alert_threshold", "mlflow_version"):
            assert duplicate not in card[section], (section, duplicate)
    for field in ("model.version", "base_rate", "alert_threshold"):
        assert card["labels"][field]
    assert set(card["feature_descriptions"]) == set(FEATURES)
    assert "base rate" in card["missing_inputs"]
