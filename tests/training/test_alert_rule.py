"""The onset alert rule: a model alerts from its alert level in calm hours only (no squeeze of its
label ended in the last 6 h), the yardstick judges it by that rule, and every baseline can be put
under the same rule so the verdict never credits the model's ranking with what the rule does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import LabelSpec
from features.labels import CALM_WINDOW, running_cascade
from tests.features.feature_frames import synthetic
from training.budget import same_rule_thresholds
from training.events import event_study
from training.jobs import same_rule_section
from training.protocol import lead_verdict

H = pd.Timedelta("1h")


def _frame_with_squeezes(bars: tuple[int, ...] = (100, 101, 102, 200)) -> pd.DataFrame:
    frame = synthetic(days=300 / 24, seed=0)
    frame["open_interest_usd"] = 1e9
    frame["long_liq_usd"] = 1e5
    for bar in bars:
        frame.loc[frame.index[bar], "long_liq_usd"] = 5e6
    return frame


def test_a_squeeze_runs_from_the_hour_it_is_on_the_tape_until_the_calm_window_has_passed():
    frame = _frame_with_squeezes()
    running = running_cascade(frame, LabelSpec())
    # bar 100's liquidations are known once it closed (row 100); six calm hours later (row 108,
    # as the onset label counts) the next squeeze is an onset again
    assert not running.iloc[:100].any()
    assert running.iloc[100:108].all()
    assert not running.iloc[108:200].any()
    assert running.iloc[200:206].all() and not running.iloc[206:].any()
    assert CALM_WINDOW == pd.Timedelta("6h")


@pytest.mark.parametrize("cut", [100, 101, 150, 203])
def test_running_uses_nothing_after_its_row(cut: int):
    frame = _frame_with_squeezes()
    full = running_cascade(frame, LabelSpec())
    later = frame.copy()
    later.iloc[cut + 1 :, later.columns.get_loc("long_liq_usd")] = 9e6  # a different future
    assert running_cascade(later, LabelSpec()).iloc[: cut + 1].equals(full.iloc[: cut + 1])
    assert running_cascade(frame.iloc[: cut + 1], LabelSpec()).equals(full.iloc[: cut + 1])


def _month():
    """Two folds of hours: squeezes in runs of three; the model's probability is high inside
    every run (it re-announces it) and before two of the six onsets."""
    t = pd.date_range("2025-10-01", periods=30 * 24, freq="1h", tz="UTC")
    y = np.zeros(len(t))
    starts = np.arange(60, len(t) - 20, 115)[:6]
    for s in starts:
        y[s : s + 3] = 1
    running = np.zeros(len(t), dtype=bool)
    for s in starts:
        running[s + 1 : s + 9] = True  # known once the first squeeze hour closed
    p = np.full(len(t), 0.01)
    p[running] = 0.6  # a running cascade: the probability is rightly high
    for s in starts[[0, 3]]:  # one in each half
        p[s - 1] = 0.4  # the hour before an onset
    return t, y, p, running, starts


def test_the_model_spends_no_alert_hour_on_a_running_squeeze_and_warns_before_onsets():
    t, y, p, running, _ = _month()
    thresholds = np.where(running, np.inf, 0.3)
    out = event_study(t, {"model": p}, y, {"model": thresholds}, H, H, running=running)
    model = out["predictors"]["model"]
    assert model["onset_hits"] == 2 and out["onsets"] == 6
    assert model["alert_share"] == pytest.approx(2 / len(t))  # only the two calm hours alerted
    # the same probabilities under the legacy rule (every hour) spend 48 hours on running cascades
    legacy = event_study(t, {"model": p}, y, 0.3, H, H, running=running)["predictors"]["model"]
    assert legacy["alert_share"] == pytest.approx((2 + running.sum()) / len(t))


def test_a_baseline_under_the_same_rule_is_silent_on_running_squeezes_with_its_cut_from_calm_rows():
    t, y, p, running, starts = _month()
    folds = np.repeat([0, 1], len(t) // 2)
    persistence = np.where(running, 0.9, 0.0)
    persistence[starts - 1] = 0.5  # liquidations picking up in the hour before every onset
    # its training rows: 90 running hours (0.9), two pick-up hours (0.5), calm zeros
    train = {"persistence": np.r_[np.full(90, 0.9), np.full(2, 0.5), np.zeros(908)]}
    calm_train = np.r_[np.zeros(90, dtype=bool), np.ones(910, dtype=bool)]
    model_thr = np.where(running, np.inf, 0.3)
    th = same_rule_thresholds({"model": p, "persistence": persistence}, model_thr, folds,
                              [train, train], [calm_train, calm_train], running)
    assert np.isinf(th["persistence"][running]).all()
    # the model alerts on 1 hour in 360: 2.8 of the 910 calm training rows, so the cut is the
    # pick-up score (under the legacy budget, on all rows, it would be the running hours' 0.9)
    assert th["persistence"][~running][0] == pytest.approx(0.5)
    out = event_study(t, {"model": p, "persistence": persistence}, y, th, H, H, running=running)
    per = out["predictors"]
    assert per["persistence"]["onset_hits"] == 6 and per["model"]["onset_hits"] == 2
    section = same_rule_section(out)
    assert section["best_baseline"] == "persistence"
    assert f"persistence {per['persistence']['onset_hits']}/6" in section["text"]


def test_the_verdict_says_what_the_baselines_do_under_the_same_rule():
    equal = {"onsets": 10, "level": 0.9, "best_baseline": "logistic", "differences": {
        "logistic": {"model_hits": 6, "baseline_hits": 3, "value": 0.3, "ci": [0.1, 0.5],
                     "model_alert_share": 0.06, "baseline_alert_share": 0.06}}}
    same = {"text": "with every predictor under the same calm-hour rule: model 6/10, best "
                    "baseline persistence 7/10"}
    verdict = lead_verdict({"text": "model beats logistic", "level": 0.9}, equal, same)
    assert verdict["lines"][1].endswith("best baseline persistence 7/10")
    assert "6/10 vs 3/10" in verdict["lines"][1]
