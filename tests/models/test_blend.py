"""The blended model: booster and linear part in log-odds, saved, loaded and explained exactly."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.errors import ModelNotFoundError
from models import FlushModel
from models.calibration import fit_calibrator
from models.flush_model import LINEAR_FILE, risk_thresholds
from models.lgbm import BoosterConfig, fit_booster
from models.linear import LinearScorer, fit_linear

FEATURES = ["liq_long_1h_oi", "drawdown_24h_vol", "noise_a", "noise_b"]


def _data(n: int = 3000, seed: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=FEATURES,
                     index=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"))
    X.iloc[::40, 2] = np.nan
    logit = -3 + 1.2 * X["liq_long_1h_oi"] - 0.8 * X["drawdown_24h_vol"]
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float), index=X.index)
    return X, y


@pytest.fixture(scope="module")
def blended() -> FlushModel:
    X, y = _data()
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "num_leaves": 7},
        lgb.Dataset(X.to_numpy(), y.to_numpy(), feature_name=FEATURES), 40,
    )
    linear = fit_linear(X, y)
    meta = {"symbol": "BTC", "bar": "1h", "blend": 0.6, "base_rate": float(y.mean()),
            "thresholds": risk_thresholds(float(y.mean()))}
    raw = FlushModel(booster, FEATURES, fit_calibrator(booster.predict(X.to_numpy()), y, "platt"),
                     {"kind": "liquidation"}, meta, linear).predict_raw(X)
    return FlushModel(booster, FEATURES, fit_calibrator(raw, y, "platt"), {"kind": "liquidation"}, meta, linear)


def test_linear_contributions_add_up_and_skip_missing_values():
    X, y = _data()
    linear = fit_linear(X, y)
    arr = X.to_numpy()
    contrib, bias = linear.contributions(arr)
    np.testing.assert_allclose(contrib.sum(axis=1) + bias, linear.logit(arr), rtol=1e-12, atol=1e-12)
    assert (contrib[np.isnan(arr)] == 0.0).all()
    # it learned the signs the data were made with
    assert linear.coef[0] > 0 > linear.coef[1]
    again = LinearScorer.from_dict(json.loads(json.dumps(linear.to_dict())))
    np.testing.assert_array_equal(again.logit(arr), linear.logit(arr))


def test_blend_is_the_weighted_sum_of_log_odds(blended):
    X, _ = _data(200, seed=5)
    arr = X.to_numpy()
    margin = blended.booster.predict(arr, raw_score=True)
    expected = 1 / (1 + np.exp(-(0.6 * margin + 0.4 * blended.linear.logit(arr))))
    np.testing.assert_allclose(blended.predict_raw(X), expected, rtol=1e-12)


def test_blended_drivers_add_up_to_the_raw_log_odds(blended):
    X, _ = _data(50, seed=6)
    arr = X.to_numpy()
    drivers = blended.explain(X, top=len(FEATURES))
    shap_bias = blended.booster.predict(arr, pred_contrib=True)[:, -1]
    _, linear_bias = blended.linear.contributions(arr)
    raw = blended.predict_raw(X)
    for k, row in enumerate(drivers):
        total = sum(d["contribution"] for d in row) + 0.6 * shap_bias[k] + 0.4 * linear_bias[k]
        assert total == pytest.approx(np.log(raw[k] / (1 - raw[k])), abs=1e-9)


def test_a_blended_model_round_trips_and_a_broken_linear_file_is_named(blended, tmp_path):
    X, _ = _data(100, seed=7)
    blended.save(tmp_path / "m")
    again = FlushModel.load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict_proba(X), blended.predict_proba(X))
    assert again.blend == 0.6
    (tmp_path / "m" / LINEAR_FILE).write_text('{"features": ["a"]}')
    with pytest.raises(ModelNotFoundError, match="unreadable model files"):
        FlushModel.load(tmp_path / "m")


def test_fit_booster_with_a_blend_gives_honest_validation_values_of_both_parts():
    X, y = _data()
    config = BoosterConfig(blend=0.5, num_boost_round=200, early_stopping_rounds=20)
    fit = fit_booster(X, y, config)
    assert fit.linear is not None and fit.blend == 0.5
    assert len(fit.valid_raw) == len(fit.valid_y) > 0
    assert ((fit.valid_raw > 0) & (fit.valid_raw < 1)).all()
    alone = fit_booster(X, y, config.model_copy(update={"blend": 1.0}))
    assert alone.linear is None
    assert not np.allclose(fit.predict_raw(X.iloc[:100]), alone.predict_raw(X.iloc[:100]))


def test_the_linear_part_keeps_the_monotone_signs():
    X, y = _data()
    free = fit_linear(X, y)
    assert free.coef[1] < 0  # drawdown_24h_vol lowers the log-odds in these data
    kept = fit_linear(X, y, signs=[0, +1, 0, 0])  # ...but is declared increasing
    assert kept.coef[1] == 0.0 and kept.coef[0] > 0


def test_contributions_sum_to_the_raw_log_odds_so_serving_can_use_one_pass(blended):
    X, _ = _data(30, seed=8)
    contrib = blended.contributions(X)
    assert contrib.shape == (30, len(FEATURES) + 1)
    raw = blended.predict_raw(X)
    np.testing.assert_allclose(contrib.sum(axis=1), np.log(raw / (1 - raw)), rtol=1e-9, atol=1e-9)


def test_the_compiled_linear_score_equals_the_numpy_arithmetic():
    """The one-pass linear log-odds is the clip/impute/standardise/dot of the documented form,
    for missing values, values beyond the clip bounds, and infinities."""
    rng = np.random.default_rng(5)
    k = 6
    linear = LinearScorer(
        features=[f"f{j}" for j in range(k)], lo=np.full(k, -1.0), hi=np.full(k, 2.0),
        fill=rng.normal(size=k), mean=rng.normal(size=k), scale=rng.uniform(0.5, 2, size=k),
        coef=rng.normal(size=k), intercept=-1.5,
    )
    arr = rng.normal(scale=3, size=(500, k))
    arr[rng.random(arr.shape) < 0.1] = np.nan
    arr[0, 0], arr[1, 1] = np.inf, -np.inf
    expected = linear._z(arr.copy()) @ linear.coef + linear.intercept
    np.testing.assert_allclose(linear.logit(arr), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(linear.logit(arr[3]), expected[3:4], rtol=1e-12, atol=1e-12)
