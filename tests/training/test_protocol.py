"""The evaluation protocol: bootstrap CIs that match resampling by hand, paired differences, the
verdict line, equal-mass calibration, and the persistence/volatility baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.baselines import Persistence, Volatility, make_baseline
from training.metrics import (
    average_precision,
    brier_skill,
    calibration_fit,
    expected_calibration_error,
    log_loss,
    roc_auc,
)
from training.protocol import ProtocolConfig, _BlockStats, _weighted, block_ids, protocol_report

H = pd.Timedelta("1h")


def _rows(n=2400, seed=0):
    rng = np.random.default_rng(seed)
    t = pd.date_range("2025-01-01", periods=n, freq="1h", tz="UTC")
    y = (rng.random(n) < 0.05).astype(float)
    p = np.round(np.clip(0.02 + 0.25 * y * rng.random(n) + 0.1 * rng.random(n), 1e-4, 1), 3)
    return t, y, p, rng


def test_bootstrap_metrics_equal_the_metrics_of_the_resampled_days():
    t, y, p, rng = _rows()
    ids = block_ids(t)
    assert ids.max() + 1 == 100  # 2400 hours = 100 UTC days
    K = rng.integers(0, 3, size=(4, 100)).astype(float)
    got = _weighted(_BlockStats(y, p, ids, 100), K)
    for k in range(4):
        rows = np.repeat(np.arange(len(y)), K[k][ids].astype(int))  # each day copied K times
        assert got["pr_auc"][k] == pytest.approx(average_precision(y[rows], p[rows]), abs=1e-12)
        assert got["roc_auc"][k] == pytest.approx(roc_auc(y[rows], p[rows]), abs=1e-12)
        assert got["brier_skill"][k] == pytest.approx(brier_skill(y[rows], p[rows]), abs=1e-9)
        assert got["log_loss"][k] == pytest.approx(log_loss(y[rows], p[rows]), abs=1e-9)


def test_report_has_cis_paired_differences_and_a_verdict_first():
    t, y, p, rng = _rows()
    noisy = np.clip(p + rng.normal(0, 0.08, len(p)), 1e-4, 1)
    report = protocol_report({"model": p, "noisy": noisy, "base_rate": np.full(len(p), y.mean())}, y, t, H, 0.2,
                             seed_predictions=[p, p], config=ProtocolConfig(resamples=100))
    assert next(iter(report)) == "verdict"
    lo, hi = report["metrics"]["model"]["ci"]["pr_auc"]
    assert lo < report["metrics"]["model"]["pr_auc"] < hi
    d = report["differences"]["noisy"]["pr_auc"]
    assert d["value"] == pytest.approx(report["metrics"]["model"]["pr_auc"] - report["metrics"]["noisy"]["pr_auc"])
    assert report["verdict"]["best_baseline"] == "noisy"
    assert report["verdict"]["beats"] and report["verdict"]["text"].startswith("model beats best baseline noisy by +")
    assert "90% CI" in report["verdict"]["text"]
    # a model that IS the baseline cannot beat it
    same = protocol_report({"model": noisy, "noisy": noisy}, y, t, H, 0.2, config=ProtocolConfig(resamples=50))
    assert not same["verdict"]["beats"] and "does NOT beat" in same["verdict"]["text"]


def test_equal_mass_ece_sees_miscalibration_that_equal_width_bins_hide():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.0, 0.08, 20000)  # every prediction in the first equal-width bin
    y = (rng.random(20000) < np.where(p < 0.04, 0.0, 0.08)).astype(float)  # right on average only
    assert expected_calibration_error(y, p, strategy="uniform") < 0.005
    assert expected_calibration_error(y, p) > 0.015


def test_calibration_slope_below_one_for_over_confident_forecasts():
    rng = np.random.default_rng(4)
    true = rng.uniform(0.01, 0.3, 50000)
    y = (rng.random(50000) < true).astype(float)
    logit = np.log(true / (1 - true))
    over = 1 / (1 + np.exp(-2 * logit))  # twice as extreme as the truth
    assert calibration_fit(y, true)[1] == pytest.approx(1.0, abs=0.1)
    assert calibration_fit(y, over)[1] == pytest.approx(0.5, abs=0.08)


def test_persistence_scores_what_it_should_on_a_hand_made_series():
    """Liquidation label: a flush follows every hour whose long liquidations exceed 1 % of OI,
    and only those. Persistence ranks exactly those hours first (PR-AUC 1), its probability
    rises with the quantity, and it is fitted on training rows only."""
    rng = np.random.default_rng(5)
    n = 2000
    liq = rng.exponential(0.001, n)
    liq[rng.choice(n, 60, replace=False)] = rng.uniform(0.012, 0.05, 60)
    y = (liq > 0.01).astype(float)
    X = pd.DataFrame({"liq_long_1h_oi": liq, "ret_1h": rng.normal(0, 0.01, n), "rvol_7d": 0.01})
    train, test = slice(0, 1200), slice(1200, None)
    model = make_baseline("persistence", "liquidation").fit(X.iloc[train], y[train])
    p = model.predict_proba(X.iloc[test])
    assert average_precision(y[test], p) == pytest.approx(1.0)
    order = np.argsort(liq[test])
    assert np.all(np.diff(p[order]) >= -1e-12)  # monotone in the last hour's liquidations
    assert abs(p.mean() - y[test].mean()) < 0.03  # a calibrated probability, not a raw ratio
    # proxy label: the last hour's drop over trailing volatility
    drop = -X["ret_1h"] / X["rvol_7d"]
    y_proxy = (drop > 2.0).astype(float).to_numpy()
    proxy = Persistence("proxy").fit(X.iloc[train], y_proxy[train])
    assert average_precision(y_proxy[test], proxy.predict_proba(X.iloc[test])) == pytest.approx(1.0)
    # missing values are neutral, not an error
    X_missing = X.iloc[test].assign(liq_long_1h_oi=np.nan)
    assert np.ptp(model.predict_proba(X_missing)) == 0


def test_persistence_uses_the_labels_own_quantity_when_given():
    """A USD-threshold label: persistence scores the last window's liquidations over the USD
    threshold (the label strength), not liquidations over a varying open interest; the logistic
    baseline never sees this baseline-only column."""
    from features import LabelSpec
    from features.labels import last_window_strength
    from models.baselines import PERSISTENCE_COLUMN, LogisticBaseline

    n = 600
    t = pd.date_range("2025-01-01", periods=n, freq="1h", tz="UTC")
    rng = np.random.default_rng(7)
    liq = rng.exponential(1e5, n)
    big = rng.choice(np.arange(1, n - 1), 40, replace=False)
    liq[big] = 6e6
    liq[big + 1] = 6e6  # every squeeze hour is followed by another
    frame = pd.DataFrame({"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0, "funding_rate": 1e-4,
                          "long_liq_usd": liq, "open_interest_usd": rng.uniform(1e8, 5e9, n)}, index=t)
    spec = LabelSpec(threshold_usd=5e6)
    past = last_window_strength(frame, spec)
    assert past.iloc[5] == pytest.approx(liq[5] / 5e6)  # window (t-1h, t] = bar t, known at t
    y = (np.r_[liq[1:], np.nan] >= 5e6).astype(float)[:-1]
    X = pd.DataFrame({"liq_long_1h_oi": liq / frame["open_interest_usd"].to_numpy(),
                      PERSISTENCE_COLUMN: past.to_numpy()}, index=t)[:-1]
    p = Persistence("liquidation").fit(X.iloc[:400], y[:400]).predict_proba(X.iloc[400:])
    squeezed = past.to_numpy()[:-1][400:] >= 1.0
    assert p[squeezed].min() > p[~squeezed].max()  # ranks "a squeeze just happened" first
    # ... which the features alone (liquidations / a varying open interest) do not guarantee
    by_oi = Persistence("liquidation").fit(X.iloc[:400, :1], y[:400]).predict_proba(X.iloc[400:, :1])
    assert not by_oi[squeezed].min() > by_oi[~squeezed].max()
    logistic = LogisticBaseline().fit(X.iloc[:400], y[:400])
    assert logistic.pipeline.n_features_in_ == 1


def test_volatility_baseline_ranks_by_short_realised_volatility():
    rng = np.random.default_rng(6)
    vol = rng.lognormal(-5, 0.5, 3000)
    y = (rng.random(3000) < 0.2 * (vol > np.quantile(vol, 0.9))).astype(float)
    X = pd.DataFrame({"rvol_4h": vol})
    p = Volatility().fit(X, y).predict_proba(X)
    assert roc_auc(y, p) > 0.8
