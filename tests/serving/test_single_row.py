"""The single-row SHAP fast path returns exactly what Booster.predict(pred_contrib=True) does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from serving.single_row import SingleRowContributions


def test_single_row_contributions_equal_the_boosters(tiny_model: Any, feature_matrix: pd.DataFrame):
    booster = tiny_model.booster
    rows = feature_matrix.to_numpy(np.float64)[-50:].copy()
    rows[::7, ::3] = np.nan  # missing values take the trees' default branches
    fast = SingleRowContributions.create(booster, rows[:2])
    assert fast is not None
    for row in rows:
        expected = booster.predict(row[None, :], pred_contrib=True, num_threads=1)[0]
        got = fast(row)
        assert np.array_equal(got, expected, equal_nan=True)
    assert fast(rows[0]) is not fast(rows[0])  # each answer is its own array


def test_the_predictor_scores_one_row_as_the_model_does(predictor: Any, feature_matrix):
    row = feature_matrix.to_numpy(np.float64)[-1:]
    assert predictor._fast_contributions is not None
    probabilities, _ = predictor.score(row)
    # the service sums the exact per-feature log-odds (tree SHAP + the linear part's terms),
    # the model adds the two parts' scores: the same sum in another order, so equal to rounding
    np.testing.assert_allclose(probabilities, predictor.model.predict_proba(row), rtol=1e-12, atol=0)


def test_a_blended_model_takes_the_fast_path_with_the_same_numbers(tiny_model: Any, feature_matrix):
    """A blended model (booster + linear part, as training makes by default) answers one row
    through the fast path too, with exactly the contributions of FlushModel.contributions."""
    from models import FlushModel
    from models.linear import fit_linear
    from serving.predictor import Predictor

    X = feature_matrix
    y = pd.Series((np.nan_to_num(X.iloc[:, 0].to_numpy()) > np.nanquantile(X.iloc[:, 0], 0.8)).astype(float),
                  index=X.index)
    m = tiny_model
    blended = FlushModel(m.booster, m.features, m.calibrator, m.label_spec, {**m.metadata, "blend": 0.6},
                         fit_linear(X, y))
    predictor = Predictor(blended, "flushrisk-btc", "1")
    assert predictor._fast_contributions is not None
    rows = X.to_numpy(np.float64)[-30:].copy()
    rows[::5, ::4] = np.nan
    for row in rows:
        _, contrib, _, p = predictor.explained(row[None, :])
        assert np.array_equal(contrib, blended.contributions(row[None, :]), equal_nan=True)
        np.testing.assert_allclose(p, blended.predict_proba(row[None, :]), rtol=1e-9, atol=1e-12)
