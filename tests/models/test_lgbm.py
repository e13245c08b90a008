"""The booster's training target: hard labels, or hard labels plus near misses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError
from models.lgbm import BoosterConfig, fit_booster, training_target


def test_near_miss_target_keeps_positives_and_softens_only_near_misses():
    y = np.array([1.0, 0.0, 0.0, 0.0, 1.0])
    strength = np.array([1.0, 0.7, 0.49, 0.0, 3.2])
    config = BoosterConfig(near_miss_ratio=0.5, near_miss_weight=0.3)
    assert training_target(y, strength, config).tolist() == [1.0, 0.3, 0.0, 0.0, 1.0]


def test_without_strength_or_with_the_hard_target_the_booster_trains_on_the_label():
    y = np.array([1.0, 0.0, 0.0])
    strength = np.array([1.5, 0.9, 0.0])
    assert training_target(y, None).tolist() == y.tolist()
    assert training_target(y, strength, BoosterConfig(target="hard")).tolist() == y.tolist()


@pytest.mark.parametrize(
    "strength", [np.array([0.2, 1.0]), np.array([1.0, np.nan]), np.array([1.0, -0.1]), np.array([1.0])]
)
def test_a_strength_that_does_not_match_the_labels_is_refused(strength):
    with pytest.raises(DataError):
        training_target(np.array([1.0, 0.0]), strength)


def test_booster_trains_on_the_target_but_reports_hard_validation_labels():
    rng = np.random.default_rng(0)
    n = 600
    index = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC", name="time")
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)}, index=index)
    strength = np.exp(X["a"] + rng.normal(0, 0.5, n) - 2.0)
    y = (strength >= 1.0).astype(float).to_numpy()
    target = training_target(y, strength.to_numpy())
    assert 0 < y.sum() < (target > 0).sum()  # near misses exist
    config = BoosterConfig(num_boost_round=50, early_stopping_rounds=10).with_params(min_data_in_leaf=20)
    fit = fit_booster(X, y, config, target=target)
    assert set(np.unique(fit.valid_y)) <= {0.0, 1.0}
    p = fit.booster.predict(X.to_numpy())
    assert ((p > 0) & (p < 1)).all()
    assert np.corrcoef(p, X["a"])[0, 1] > 0.5  # it learned the driver of the target
