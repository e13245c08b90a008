"""Drivers a trader can read: words in natural units, the effect in probability, no missing values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from features import FEATURES
from features.descriptions import describe, natural_value
from serving.predictor import Predictor
from serving.schemas import PredictRequest
from tests.serving.conftest import SYMBOL


def _features_request(row: pd.Series, drop: list[str] = ()) -> PredictRequest:  # type: ignore[assignment]
    features = {k: (None if (np.isnan(v) or k in drop) else float(v)) for k, v in row.items()}
    return PredictRequest.model_validate({"symbol": SYMBOL, "features": features})


def test_drivers_carry_text_natural_value_and_probability_change(
    predictor: Predictor, feature_matrix: pd.DataFrame, tiny_model: Any
) -> None:
    row = feature_matrix.iloc[-1]
    response = predictor.predict(_features_request(row))
    assert response.drivers
    values = row.to_numpy(np.float64)
    contrib = tiny_model.booster.predict(values[None, :], pred_contrib=True)[0]
    margin = contrib.sum()
    for driver in response.drivers:
        j = FEATURES.index(driver.feature)
        assert driver.raw_value == pytest.approx(values[j])
        assert driver.value == pytest.approx(natural_value(driver.feature, values[j]))
        assert driver.text == describe(driver.feature, values[j], row.to_dict())
        # the change in probability: the answer minus the answer without this push
        without = tiny_model.calibrator(np.array([1.0 / (1.0 + np.exp(-(margin - contrib[j])))]))[0]
        assert driver.contribution == pytest.approx(response.probability - without, rel=1e-9)
        assert driver.contribution_log_odds == pytest.approx(contrib[j])


def test_missing_values_never_appear_as_drivers(
    predictor: Predictor, feature_matrix: pd.DataFrame
) -> None:
    row = feature_matrix.iloc[-1]
    full = predictor.predict(_features_request(row))
    dropped = [d.feature for d in full.drivers]
    response = predictor.predict(_features_request(row, drop=dropped))
    assert response.drivers, "other features still explain the answer"
    assert not {d.feature for d in response.drivers} & set(dropped)
    assert all(np.isfinite(d.raw_value) for d in response.drivers)
    nothing = predictor.predict(PredictRequest.model_validate({"symbol": SYMBOL, "features": {}}))
    assert nothing.drivers == []
