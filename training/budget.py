"""Equal alert budget: every predictor judged at its own threshold, spending as many alert hours
as the model does.

Why. A probability threshold means something different for every predictor: at the model's
threshold a flat baseline alerts on every hour (and "warns before every onset") or on none. A
fair comparison gives each predictor the same number of alert hours, the trader's real cost,
and asks who warns before more onsets with them.

How, per walk-forward fold:

* the model alerts at its own threshold (the fold's alert level, from its training base rate);
  its share of alert hours on the fold's test rows is the fold's budget ``s``;
* every baseline alerts above the score that ``s`` of ITS OWN training-row scores exceed (chosen
  on the rows it was fitted on, never on the rows it is judged on);
* ties at the cut alert only when that stays within the budget, so a constant predictor (the
  base rate) alerts on nothing rather than everywhere: staying on cannot buy a perfect score.

When a fold carries no training-row scores for a predictor (an older caller), its cut is taken
on the fold's test rows instead (top ``s`` of them), and ``chosen_on`` says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def budget_cut(scores: np.ndarray, share: float) -> float:
    """The threshold (alert when ``p >= cut``) at which at most ``share`` of ``scores`` alert.

    Rows tied at the cut alert only when that keeps within the share; otherwise the cut moves
    just above the tie, so a constant never alerts. ``inf`` when the budget is below one row.
    """
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    count = int(np.floor(share * len(scores) + 1e-9))
    if count <= 0 or not len(scores):
        return float("inf")
    cut = float(np.sort(scores)[::-1][min(count, len(scores)) - 1])
    if int(np.sum(scores >= cut)) <= count:
        return cut
    return float(np.nextafter(cut, np.inf))


def equal_budget_thresholds(
    predictions: Mapping[str, np.ndarray],
    model_thresholds: np.ndarray,
    fold_of_row: np.ndarray,
    train_scores: Sequence[Mapping[str, np.ndarray]] | None = None,
    model: str = "model",
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per predictor, one alert threshold per evaluated row (``alert = p >= threshold``).

    ``predictions``: out-of-fold probabilities of every predictor on the evaluated rows;
    ``model_thresholds``: the model's alert threshold per row; ``fold_of_row``: the fold number
    (0..k-1) of each row; ``train_scores[k]``: name -> that predictor's scores on fold k's
    training rows. Returns the thresholds and a description (budget per fold, where each cut
    was chosen).
    """
    fold_of_row = np.asarray(fold_of_row)
    thr_model = np.broadcast_to(np.asarray(model_thresholds, dtype=np.float64), fold_of_row.shape)
    p_model = np.asarray(predictions[model], dtype=np.float64)
    folds = np.unique(fold_of_row)
    out = {name: np.empty(len(fold_of_row)) for name in predictions}
    out[model] = np.array(thr_model, dtype=np.float64)
    shares: list[float] = []
    chosen_on: dict[str, str] = {name: "own training rows" for name in predictions if name != model}
    for k in folds:
        rows = fold_of_row == k
        share = float(np.mean(p_model[rows] >= thr_model[rows])) if rows.any() else 0.0
        shares.append(share)
        scores_k = train_scores[int(k)] if train_scores is not None and int(k) < len(train_scores) else {}
        for name, p in predictions.items():
            if name == model:
                continue
            own = scores_k.get(name)
            if own is None or not len(own):
                chosen_on[name] = "evaluated rows (no training-row scores)"
                own = np.asarray(p, dtype=np.float64)[rows]
            out[name][rows] = budget_cut(own, share)
    info = {
        "rule": "each predictor at its own threshold, chosen on its training rows to alert on the "
                "same share of hours as the model",
        "model_alert_share_per_fold": shares,
        "chosen_on": chosen_on,
    }
    return out, info


def same_rule_thresholds(
    predictions: Mapping[str, np.ndarray],
    model_thresholds: np.ndarray,
    fold_of_row: np.ndarray,
    train_scores: Sequence[Mapping[str, np.ndarray]],
    train_calm: Sequence[np.ndarray],
    running: np.ndarray,
    model: str = "model",
) -> dict[str, np.ndarray]:
    """Every baseline under the model's calm-hour alert rule, at the model's alert budget.

    Why: the model alerts only in calm hours (no squeeze running). Whether its onset warnings
    come from that rule or from its ranking is answered by giving every baseline the same rule:
    silent where a squeeze runs, and in calm hours alerting above the cut that gives the model's
    share of hours, chosen on ITS OWN calm training rows (``train_calm[k]``: per training row
    of fold k, no squeeze running). ``model_thresholds``: the model's, already infinite where
    a squeeze runs. A diagnostic beside the yardstick, not the yardstick.
    """
    fold_of_row = np.asarray(fold_of_row)
    running = np.asarray(running, dtype=bool)
    p_model = np.asarray(predictions[model], dtype=np.float64)
    out = {model: np.asarray(model_thresholds, dtype=np.float64)}
    for name in predictions:
        if name == model:
            continue
        cut = np.empty(len(fold_of_row))
        for k in np.unique(fold_of_row):
            rows = fold_of_row == k
            share = float(np.mean(p_model[rows] >= out[model][rows])) if rows.any() else 0.0
            calm = np.asarray(train_calm[int(k)], dtype=bool)
            own = np.asarray(train_scores[int(k)][name], dtype=np.float64)
            # the share of ALL hours, spent in calm hours only: a larger share of the calm ones
            cut[rows] = budget_cut(own[calm], share * len(own) / max(int(calm.sum()), 1))
        out[name] = np.where(running, np.inf, cut)
    return out


__all__ = ["budget_cut", "equal_budget_thresholds", "same_rule_thresholds"]
