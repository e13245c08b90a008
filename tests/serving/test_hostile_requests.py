"""Absurd but finite feature values: a 400 naming the field, never a 500, and a driver never
carries a null value or "inf %" text (issue 22: schemathesis found ``long_short_ratio:
9007199254740992.0`` -> OverflowError in features/descriptions.py, and a driver
``"value": null`` with the text "price inf % above its 7-day low")."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.descriptions import DESCRIPTIONS, describe, natural_value, plausible
from features.pipeline import FEATURES
from tests.serving.conftest import SYMBOL

ABSURD = [9007199254740992.0, -9007199254740992.0, 1e308, -1e308, 1000.0, 5e15]
LOG_PERCENT_FEATURE = next(
    name for name, d in DESCRIPTIONS.items() if d.unit.symbol == "%" and name in FEATURES
    and d.unit.convert.__name__ == "_log_ratio_percent"
)


@pytest.mark.parametrize("value", ABSURD)
def test_words_for_any_finite_value_never_fail_nor_say_inf(value: float) -> None:
    for feature in DESCRIPTIONS:
        text = describe(feature, value, {})
        assert "inf" not in text.split(), (feature, text)
        natural = natural_value(feature, value)  # never raises (was OverflowError)
        if plausible(feature, value):
            assert math.isfinite(natural)


@pytest.mark.parametrize(
    ("feature", "value"),
    [("long_short_ratio", 9007199254740992.0), (LOG_PERCENT_FEATURE, 1000.0),
     ("funding_rate", 1e308)],
)
def test_an_absurd_feature_value_is_a_400_naming_it(
    client: Any, feature_matrix: pd.DataFrame, feature: str, value: float
) -> None:
    row = feature_matrix.iloc[-1]
    features = {k: (None if np.isnan(v) else float(v)) for k, v in row.items()}
    features[feature] = value
    for path, body in (
        ("/predict", {"symbol": SYMBOL, "features": features}),
        ("/predict_batch", {"items": [{"symbol": SYMBOL, "features": features}]}),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 400, response.text[:300]
        assert feature in response.json()["error"], response.json()["error"]
        assert "plausible" in response.json()["error"]


def test_drivers_of_an_extreme_row_are_finite_numbers_in_words(
    predictor: Any, feature_matrix: pd.DataFrame
) -> None:
    """Bars can still make extreme features (the pipeline's own output): such a feature is
    named by the out_of_training_range warning, never a driver with a null value."""
    from serving.schemas import PredictRequest

    row = feature_matrix.iloc[-1]
    features = {k: (None if np.isnan(v) else float(v)) for k, v in row.items()}
    known = [name for name in features if features[name] is not None]
    for name in known[::2]:  # half the features absurd, the other half ordinary
        features[name] = 1e300
    request = PredictRequest.model_construct(symbol=SYMBOL, features=features, bars=None,
                                             as_of=None)
    answer = predictor.predict(request)
    body = answer.model_dump(mode="json")
    for driver in body["drivers"]:
        assert driver["value"] is not None and math.isfinite(driver["value"]), driver
        assert "inf" not in driver["text"].split(), driver
    assert body["drivers"], "the ordinary features still explain the number"
    assert any(w["code"] == "out_of_training_range" for w in body["warnings"])
