"""FlushModel: save/load round trip, light loading, inputs matched by name, risk levels."""

from __future__ import annotations

import json
import subprocess
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.errors import DataError, ModelNotFoundError
from models import FlushModel
from models.calibration import fit_calibrator
from models.flush_model import risk_thresholds

FEATURES = ["funding_z_7d", "oi_growth_4h", "noise_a", "noise_b"]


@pytest.fixture(scope="module")
def model() -> FlushModel:
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(3000, 4)), columns=FEATURES)
    X.iloc[::50, 2] = np.nan
    y = (rng.random(3000) < 1 / (1 + np.exp(-(-3 + 1.2 * X["funding_z_7d"] + X["oi_growth_4h"])))).astype(float)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "num_leaves": 7},
        lgb.Dataset(X.to_numpy(), y, feature_name=FEATURES),
        40,
    )
    calibrator = fit_calibrator(booster.predict(X.to_numpy()), y.to_numpy(), "platt")
    meta = {"symbol": "BTC", "bar": "1h", "base_rate": float(y.mean()), "thresholds": risk_thresholds(float(y.mean()))}
    return FlushModel(booster, FEATURES, calibrator, {"kind": "liquidation", "horizon": "1h"}, meta)


@pytest.fixture(scope="module")
def X() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return pd.DataFrame(rng.normal(size=(200, 4)), columns=FEATURES)


def test_save_load_round_trip_gives_identical_predictions_and_metadata(model, X, tmp_path):
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["booster.txt", "calibrator.json", "metadata.json"]
    again = FlushModel.load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    assert again.explain(X.iloc[:3]) == model.explain(X.iloc[:3])
    assert again.features == FEATURES and again.metadata["symbol"] == "BTC"
    assert again.label_spec == model.label_spec and again.thresholds == model.thresholds


def test_loading_needs_neither_sklearn_nor_mlflow(model, tmp_path):
    model.save(tmp_path / "m")
    code = (
        "import sys; from models import FlushModel; "
        f"m = FlushModel.load({str(tmp_path / 'm')!r}); m.predict_proba([[0.0, 0.0, 0.0, 0.0]]); "
        "print(sorted(k for k in ('sklearn', 'mlflow', 'training') if k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_inputs_are_matched_by_name_not_position(model, X):
    shuffled = X[list(reversed(FEATURES))].assign(unrelated=1.0)
    np.testing.assert_array_equal(model.predict_proba(shuffled), model.predict_proba(X))


def test_single_row_equals_the_same_row_in_a_batch(model, X):
    batch = model.predict_proba(X)
    for i in (0, 17, 199):
        assert model.predict_proba(X.iloc[i]) == pytest.approx(batch[i], abs=0)
        assert model.predict_proba(X.iloc[i].to_dict())[0] == batch[i]


def test_missing_feature_is_an_error_naming_it(model, X):
    with pytest.raises(DataError, match="oi_growth_4h"):
        model.predict_proba(X.drop(columns=["oi_growth_4h"]))


def test_probabilities_are_open_and_infinities_count_as_missing(model, X):
    extreme = X.copy()
    extreme.iloc[0] = [50.0, 50.0, 0.0, 0.0]
    extreme.iloc[1] = [-50.0, -50.0, 0.0, 0.0]
    p = model.predict_proba(extreme)
    assert np.all((p > 0) & (p < 1))
    with_inf = X.iloc[:1].copy()
    with_inf["noise_a"] = np.inf
    with_nan = X.iloc[:1].copy()
    with_nan["noise_a"] = np.nan
    assert model.predict_proba(with_inf)[0] == model.predict_proba(with_nan)[0]


def test_explain_gives_top_contributions_that_sum_with_bias_to_the_raw_log_odds(model, X):
    rows = model.explain(X.iloc[:2], top=4)
    assert [len(r) for r in rows] == [4, 4]
    contrib = np.asarray(model.booster.predict(X.iloc[:1].to_numpy(), pred_contrib=True))[0]
    total = sum(d["contribution"] for d in rows[0]) + contrib[-1]
    raw = model.predict_raw(X.iloc[:1])[0]
    assert total == pytest.approx(np.log(raw / (1 - raw)), abs=1e-9)
    magnitudes = [abs(d["contribution"]) for d in rows[0]]
    assert magnitudes == sorted(magnitudes, reverse=True)
    json.dumps(rows)  # plain JSON types


def test_risk_levels_follow_the_fixed_thresholds(model):
    t = model.thresholds
    assert 0 < t["elevated"] < t["high"] < t["extreme"] < 1
    assert model.risk_level(t["elevated"] / 2) == "low"
    assert model.risk_level(t["elevated"]) == "elevated"
    assert model.risk_level((t["high"] + t["extreme"]) / 2) == "high"
    assert model.risk_level(0.999) == "extreme"
    assert list(model.risk_levels(np.array([0.0, t["high"], 1.0]))) == ["low", "high", "extreme"]


def test_thresholds_are_odds_multiples_of_the_base_rate():
    t = risk_thresholds(0.02)
    odds = 0.02 / 0.98
    assert t["elevated"] / (1 - t["elevated"]) == pytest.approx(2 * odds)
    assert risk_thresholds(0.4)["extreme"] < 1


def test_loading_a_directory_without_a_model_says_what_is_missing(tmp_path):
    with pytest.raises(ModelNotFoundError, match="booster.txt"):
        FlushModel.load(tmp_path)
