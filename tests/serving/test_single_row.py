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
