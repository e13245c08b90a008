"""The yardstick's fairness: equal alert budget, false alarms a predictor cannot lower by staying
on, no verdict without positives, fold placement, n/a for a constant, and an in-sample warning
only for real overlap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError
from training.budget import budget_cut, equal_budget_thresholds
from training.events import event_study
from training.protocol import ProtocolConfig, lead_verdict, protocol_report
from training.walkforward import WalkForwardConfig, walk_forward_splits

H = pd.Timedelta("1h")


def _month(seed: int = 0):
    """A month of hours with six onsets (isolated squeezes); the model warns two hours before
    three of them and alerts on 30 hours in all."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2025-10-01", periods=30 * 24, freq="1h", tz="UTC")
    y = np.zeros(len(t))
    onsets = np.arange(60, len(t) - 10, 110)[:6]
    y[onsets] = 1
    p = np.full(len(t), 0.01) + 0.001 * rng.random(len(t))
    for at in onsets[:3]:
        p[at - 2 : at + 1] = 0.5
    for at in onsets:
        p[at + 40 : at + 43] = 0.4  # false alarms, far from any squeeze
    return t, y, p, onsets


def test_an_always_on_baseline_cannot_score_perfectly():
    t, y, p, _ = _month()
    folds = np.repeat([0, 1], len(t) // 2)
    always = np.ones(len(t))  # "always on": above the model's threshold on every hour
    train_scores = [{"always": np.ones(500)}, {"always": np.ones(500)}]
    thresholds, info = equal_budget_thresholds({"model": p, "always": always}, np.full(len(t), 0.3), folds,
                                               train_scores)
    assert info["chosen_on"]["always"] == "own training rows"
    out = event_study(t, {"model": p, "always": always}, y, thresholds, H, H)
    on = out["predictors"]["always"]
    # at the model's threshold it would warn before 6/6 onsets with no false-alarm EPISODE; at
    # the model's budget a constant alerts on nothing, so it warns before none
    assert on["onset_hits"] == 0 and on["alert_share"] == 0
    assert out["predictors"]["model"]["onset_hits"] == 3
    equal = out["equal_budget"]
    assert equal["best_baseline"] == "always" and equal["differences"]["always"]["value"] == pytest.approx(0.5)
    lo, hi = equal["differences"]["always"]["ci"]
    assert lo is not None and lo <= 0.5 <= hi

    # staying on does not lower false alarms: they are alert hours with no squeeze in their window
    still_on = event_study(t, {"model": p, "always": always}, y, 0.3, H, H)["predictors"]["always"]
    weeks = len(t) / (24 * 7)
    assert still_on["false_alarm_episodes_per_week"] == pytest.approx(0.0)  # the old count: one true episode
    assert still_on["false_alarms_per_week"] == pytest.approx((len(t) - y.sum()) / weeks)


def test_each_baseline_spends_the_models_budget_at_its_own_cut():
    rng = np.random.default_rng(1)
    scores = rng.random(1000)
    cut = budget_cut(scores, 0.05)
    assert np.sum(scores >= cut) == 50
    assert budget_cut(np.full(100, 0.2), 0.05) > 0.2  # ties beyond the budget never alert
    assert budget_cut(scores, 0.0) == np.inf


def test_zero_positives_in_the_evaluated_rows_are_refused_with_one_line():
    from training.jobs import check_evaluated_positives

    class _WF:
        y = np.zeros(48)
        index = pd.date_range("2025-01-01", periods=48, freq="1h", tz="UTC")

    from features import LabelSpec

    with pytest.raises(DataError) as err:
        check_evaluated_positives(_WF(), LabelSpec(threshold_usd=5e6), "BTC")
    text = str(err.value)
    assert "\n" not in text and "no positive label" in text and "48 evaluated rows" in text
    assert "2025-01-01 00:00 .. 2025-01-02 23:00" in text


def test_min_train_places_the_first_fold_and_the_report_names_each_period():
    index = pd.date_range("2025-12-04", "2026-03-24", freq="1h", tz="UTC")
    config = WalkForwardConfig(n_folds=4, min_train=pd.Timedelta(days=30))
    folds = walk_forward_splits(index, config)
    assert folds[0].test_start == index[0] + pd.Timedelta(days=30)
    assert folds[-1].test_end == index[-1] and len(folds) == 4
    default = walk_forward_splits(index, WalkForwardConfig(n_folds=4))
    assert default[0].test_start > folds[0].test_start  # the 40 % default starts much later
    with pytest.raises(DataError, match="leaves nothing to test"):
        walk_forward_splits(index, WalkForwardConfig(min_train=pd.Timedelta(days=400)))


def test_a_constant_predictor_gets_n_a_for_roc_and_calibration_slope():
    rng = np.random.default_rng(2)
    t = pd.date_range("2025-01-01", periods=24 * 60, freq="1h", tz="UTC")
    y = (rng.random(len(t)) < 0.08).astype(float)
    p = np.clip(0.05 + 0.3 * y * rng.random(len(t)) + 0.05 * rng.random(len(t)), 0, 1)
    folds = np.repeat([0, 1, 2], len(t) // 3)
    base = np.choose(folds, [0.03, 0.09, 0.06])  # one constant per fold, like the base rate
    report = protocol_report({"model": p, "base_rate": base}, y, t, H, 0.2,
                             config=ProtocolConfig(resamples=50), folds=folds)
    m = report["metrics"]["base_rate"]
    assert np.isnan(m["roc_auc"]) and np.isnan(m["calibration_slope"]) and m["constant"] is True
    assert m["ci"]["roc_auc"] == [None, None]
    assert report["calibration"]["base_rate"]["slope"] is None
    assert np.isfinite(report["metrics"]["model"]["roc_auc"])

    from training.cli.train import metrics_table
    from training.metrics import json_safe

    table = metrics_table(json_safe({"model": report["metrics"]["model"], "base_rate": m}), "t")
    roc_row = [c._cells for c in table.columns]
    assert "n/a" in roc_row[2][2]  # the ROC-AUC row of the base_rate column


def test_the_verdict_leads_with_pr_auc_and_onsets_at_equal_budget():
    verdict = {"text": "model beats best baseline logistic by +0.020 PR-AUC (90% CI +0.005 to +0.030)",
               "level": 0.9, "beats": True}
    equal = {"onsets": 20, "level": 0.9, "best_baseline": "persistence",
             "differences": {"persistence": {"model_hits": 9, "baseline_hits": 5, "value": 0.2, "ci": [0.05, 0.35]}}}
    out = lead_verdict(verdict, equal)
    assert out["lines"][0].startswith("model beats best baseline logistic")
    assert out["lines"][1].startswith("onsets warned at equal alert budget: model warned before more onsets than "
                                      "best baseline persistence, 9/20 vs 5/20 (+20.0 pts, 90% CI +5.0 to +35.0 pts)")
    assert out["text"] == "\n".join(out["lines"]) and out["beats"] is True
    again = lead_verdict(out, equal)  # idempotent: the PR-AUC line is kept once
    assert again["lines"] == out["lines"]
    # a baseline whose training-row cut spent far more hours out of sample is flagged
    equal["differences"]["persistence"].update(model_alert_share=0.039, baseline_alert_share=0.131)
    flagged = lead_verdict(verdict, equal)["lines"][1]
    assert flagged.endswith("alert hours 3.9% vs 13.1%; unequal spending: persistence alerted on 3.4x the "
                            "model's hours out of sample)")


def test_in_sample_warning_only_for_the_models_own_rows_of_the_same_data():
    from training.jobs import data_fingerprint, in_sample_rows

    t = pd.date_range("2025-01-01", periods=24 * 40, freq="1h", tz="UTC")
    rng = np.random.default_rng(3)
    trained = pd.DataFrame({"close": 100 + rng.normal(0, 1, len(t)).cumsum()}, index=t)
    other_seed = pd.DataFrame({"close": 100 + rng.normal(0, 1, len(t)).cumsum()}, index=t)
    meta = {"symbol": "BTC", "data_start": str(t[0]), "data_end": str(t[-1]),
            "data_fingerprint": data_fingerprint(trained, t)}
    evaluated = t[t >= t[24 * 20]]
    rows, why = in_sample_rows(meta, "BTC", trained, evaluated)
    assert rows == len(evaluated) and "trained on these rows" in why
    rows, why = in_sample_rows(meta, "BTC", other_seed, evaluated)  # same dates, another series
    assert rows == 0 and "data differ" in why
    assert in_sample_rows(meta, "ETH", trained, evaluated)[0] == 0
    later = pd.date_range(t[-1] + H, periods=100, freq="1h", tz="UTC")
    assert in_sample_rows(meta, "BTC", trained, later)[0] == 0
