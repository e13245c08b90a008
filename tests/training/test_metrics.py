"""Metrics agree with scikit-learn's reference implementations and handle rare-event edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from training.metrics import (
    alert_episodes,
    average_precision,
    binary_metrics,
    brier,
    expected_calibration_error,
    log_loss,
    roc_auc,
)


@pytest.mark.parametrize("seed", range(4))
def test_agree_with_sklearn_including_ties(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(3000) < 0.03).astype(float)
    p = np.round(np.clip(rng.random(3000) * 0.2 + 0.3 * y * rng.random(3000), 1e-6, 1), 2)
    assert average_precision(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    assert roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert brier(y, p) == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, p), abs=1e-12)


def test_expected_calibration_error_is_zero_for_exact_frequencies_and_large_when_off():
    p = np.repeat([0.05, 0.25, 0.55], 400)
    y = np.concatenate([np.r_[np.ones(20), np.zeros(380)], np.r_[np.ones(100), np.zeros(300)], np.r_[np.ones(220), np.zeros(180)]])
    assert expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(y, np.clip(p + 0.2, 0, 1)) == pytest.approx(0.2, abs=1e-9)


def test_undefined_metrics_are_nan_not_errors():
    out = binary_metrics(np.zeros(50), np.full(50, 0.1), threshold=0.5)
    assert math.isnan(out["pr_auc"]) and math.isnan(out["roc_auc"]) and math.isnan(out["recall_at_alert"])


def test_alert_episodes_count_runs_and_restart_after_gaps():
    t = pd.date_range("2025-01-01", periods=10, freq="1h", tz="UTC").delete([6])
    alert = np.array([0, 1, 1, 0, 1, 1, 1, 1, 0], dtype=bool)  # the gap sits inside the second run
    assert list(alert_episodes(t, alert, pd.Timedelta("1h"))) == [1, 4, 6]


def test_alerts_per_week_uses_covered_time():
    t = pd.date_range("2025-01-01", periods=24 * 14, freq="1h", tz="UTC")
    p = np.zeros(len(t))
    p[[10, 100, 200, 300]] = 0.9
    y = np.zeros(len(t))
    y[[10, 50]] = 1
    out = binary_metrics(y, p, 0.5, t, pd.Timedelta("1h"))
    assert out["alerts_per_week"] == pytest.approx(2.0)
    assert out["precision_at_alert"] == pytest.approx(0.25) and out["recall_at_alert"] == pytest.approx(0.5)
