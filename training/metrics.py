"""Out-of-sample metrics for a probability forecast of a rare event, in numpy.

Why these. Flushes are rare (a few percent of bars), so accuracy and ROC-AUC flatter any model;
PR-AUC (average precision) and PR-AUC divided by the base rate (lift) say how much better than
chance the alerts are. Brier score and log loss judge the probabilities themselves, and the
Brier skill score compares them with always forecasting the sample base rate (> 0 = better).
Expected calibration error (ECE, 10 equal-MASS bins, weighted by bin size) says whether "10 %"
means 10 %: with a rare event most predictions are small, so equal-width bins would put almost
every row into the first bin and hide miscalibration where the alerts are. The calibration slope
and intercept (logistic fit of the outcome on logit(p); perfect = slope 1, intercept 0) say in
which direction: a slope below 1 means over-confident (too extreme), above 1 under-confident. A trader acts on alerts, so precision and recall at the alert threshold and the
number of alert episodes per week (consecutive alerting bars count once) are reported too.

Undefined values (ROC-AUC without both classes, ...) are NaN and become ``null`` in JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

_LOG_EPS = 1e-15
WEEK = pd.Timedelta(days=7)


def _arrays(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels and predictions must be 1-D of equal length: {y.shape} vs {p.shape}")
    return y, p


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the precision-recall curve as a step sum (same definition as sklearn)."""
    y, p = _arrays(y, p)
    positives = y.sum()
    if positives == 0:
        return math.nan
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    # The last row of each group of tied scores is where a threshold takes effect.
    last = np.r_[np.flatnonzero(np.diff(ps) != 0), len(ps) - 1]
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values) != 0) + 1]
    ends = np.r_[starts[1:], len(values)]
    avg = (starts + ends + 1) / 2.0  # 1-based average rank of each tie group
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC by the Mann-Whitney statistic, ties counting one half."""
    y, p = _arrays(y, p)
    n_pos = y.sum()
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(p)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    y, p = _arrays(y, p)
    return float(np.mean((p - y) ** 2)) if len(y) else math.nan


def brier_skill(y: np.ndarray, p: np.ndarray) -> float:
    """1 - Brier / Brier of forecasting the sample base rate: > 0 beats the base rate."""
    y, _ = _arrays(y, p)
    rate = y.mean() if len(y) else math.nan
    reference = rate * (1 - rate)
    return float(1 - brier(y, p) / reference) if reference > 0 else math.nan


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    y, p = _arrays(y, p)
    if not len(y):
        return math.nan
    p = np.clip(p, _LOG_EPS, 1 - _LOG_EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def bin_index(p: np.ndarray, bins: int = 10, strategy: str = "quantile") -> np.ndarray:
    """The calibration bin of every prediction, 0 .. bins-1.

    ``quantile`` (equal mass): bins of about equal row counts by rank; tied predictions always
    share a bin (a tie group goes where its first row falls), so a bin never splits one value.
    ``uniform``: equal-width bins on [0, 1].
    """
    p = np.asarray(p, dtype=np.float64)
    if strategy == "uniform":
        return np.clip((p * bins).astype(int), 0, bins - 1)
    if not len(p):
        return np.zeros(0, dtype=int)
    first = np.searchsorted(np.sort(p), p, side="left")
    return np.minimum(first * bins // len(p), bins - 1).astype(int)


def calibration_bins(
    y: np.ndarray, p: np.ndarray, bins: int = 10, strategy: str = "quantile"
) -> pd.DataFrame:
    """Per bin: prediction range, mean predicted probability, observed frequency and count."""
    y, p = _arrays(y, p)
    which = bin_index(p, bins, strategy)
    count = np.bincount(which, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(which, weights=p, minlength=bins) / count
        freq = np.bincount(which, weights=y, minlength=bins) / count
    lo = np.full(bins, np.inf)
    hi = np.full(bins, -np.inf)
    np.minimum.at(lo, which, p)
    np.maximum.at(hi, which, p)
    table = pd.DataFrame({"bin": np.arange(bins), "lo": lo, "hi": hi, "mean_p": mean_p, "freq": freq, "count": count})
    return table[table["count"] > 0].reset_index(drop=True)


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, bins: int = 10, strategy: str = "quantile"
) -> float:
    """ECE: bin-size-weighted mean |mean predicted - observed frequency|, equal-mass bins."""
    y, p = _arrays(y, p)
    if not len(y):
        return math.nan
    table = calibration_bins(y, p, bins, strategy)
    return float(np.sum(table["count"] * np.abs(table["mean_p"] - table["freq"])) / len(y))


def calibration_fit(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """(intercept, slope) of the logistic fit P(y=1) = sigmoid(a + b * logit(p)).

    Perfect calibration is (0, 1). NaN when undefined (one class, or constant predictions).
    Newton's method on two parameters: exact, fast, no regularisation.
    """
    y, p = _arrays(y, p)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    q = np.clip(p, 1e-6, 1 - 1e-6)
    x = np.log(q / (1 - q))
    pos = float(np.sum(w * y))
    if len(y) < 3 or pos <= 0 or pos >= w.sum() or np.ptp(x[w > 0]) < 1e-9:
        return math.nan, math.nan
    def nll(a: float, b: float) -> float:
        eta = a + b * x
        return float(np.sum(w * (np.logaddexp(0.0, eta) - y * eta)))

    rate = pos / w.sum()
    a, b = math.log(rate / (1 - rate)), 0.0
    current = nll(a, b)
    for _ in range(100):
        mu = 1.0 / (1.0 + np.exp(-np.clip(a + b * x, -35, 35)))
        r = w * (y - mu)
        h = w * mu * (1 - mu)
        g0, g1 = r.sum(), (r * x).sum()
        h00, h01, h11 = h.sum(), (h * x).sum(), (h * x * x).sum()
        det = h00 * h11 - h01 * h01
        if det <= 1e-12:
            return math.nan, math.nan
        da = (h11 * g0 - h01 * g1) / det
        db = (h00 * g1 - h01 * g0) / det
        step = 1.0
        while step > 1e-6 and nll(a + step * da, b + step * db) > current + 1e-12:
            step /= 2  # damped Newton: never increase the loss
        a, b = a + step * da, b + step * db
        previous, current = current, nll(a, b)
        if abs(step * da) + abs(step * db) < 1e-10 or previous - current < 1e-12:
            break
    if not (math.isfinite(a) and math.isfinite(b)) or abs(b) > 1e3:
        return math.nan, math.nan
    return float(a), float(b)


def alert_episodes(times: pd.DatetimeIndex, alert: np.ndarray, bar: pd.Timedelta) -> np.ndarray:
    """Positions where an alert episode starts: alerting now, and not alerting on the bar before.

    A gap in the data ends an episode, so an alert after a gap counts as a new one.
    """
    alert = np.asarray(alert, dtype=bool)
    if not len(alert):
        return np.zeros(0, dtype=int)
    t = pd.DatetimeIndex(times).as_unit("ns").asi8
    previous_adjacent = np.r_[False, np.diff(t) <= bar.value]
    previous_alert = np.r_[False, alert[:-1]]
    return np.flatnonzero(alert & ~(previous_adjacent & previous_alert))


def covered_weeks(times: pd.DatetimeIndex, bar: pd.Timedelta) -> float:
    """Weeks of data actually present (rows times bar length), not the calendar span."""
    return len(times) * bar / WEEK


def binary_metrics(
    y: np.ndarray,
    p: np.ndarray,
    threshold: float | np.ndarray,
    times: pd.DatetimeIndex | None = None,
    bar: pd.Timedelta | None = None,
) -> dict[str, float]:
    """All metrics of one forecast on one set of rows.

    ``threshold`` may be one value or one per row (each walk-forward fold fixes its own alert
    threshold from its training base rate).
    """
    y, p = _arrays(y, p)
    rate = float(y.mean()) if len(y) else math.nan
    ap = average_precision(y, p)
    intercept, slope = calibration_fit(y, p)
    alert = p >= threshold
    tp = float(np.sum(alert & (y == 1)))
    out = {
        "rows": float(len(y)),
        "positives": float(y.sum()),
        "base_rate": rate,
        "pr_auc": ap,
        "pr_auc_lift": ap / rate if rate > 0 else math.nan,
        # a constant ranks nothing: its ROC-AUC (0.5 by ties) is n/a, not a score
        "roc_auc": roc_auc(y, p) if len(p) and np.ptp(p) > 0 else math.nan,
        "brier": brier(y, p),
        "brier_skill": brier_skill(y, p),
        "log_loss": log_loss(y, p),
        "ece": expected_calibration_error(y, p),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
        "mean_p": float(p.mean()) if len(p) else math.nan,
        "alert_threshold": float(np.mean(threshold)) if len(y) else math.nan,
        "precision_at_alert": float(tp / alert.sum()) if alert.sum() else math.nan,
        "recall_at_alert": float(tp / y.sum()) if y.sum() else math.nan,
        "alert_rate": float(alert.mean()) if len(alert) else math.nan,
    }
    if times is not None and bar is not None:
        weeks = covered_weeks(times, bar)
        episodes = len(alert_episodes(times, alert, bar))
        out["alerts_per_week"] = episodes / weeks if weeks > 0 else math.nan
    return out


def json_safe(value: object) -> object:
    """NaN/inf -> None, numpy scalars -> Python, recursively (for JSON reports and MLflow)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


HEADLINE = ("pr_auc", "pr_auc_lift", "roc_auc", "brier", "brier_skill", "log_loss", "ece",
            "calibration_slope", "precision_at_alert", "recall_at_alert", "alerts_per_week")

__all__ = [
    "HEADLINE",
    "alert_episodes",
    "average_precision",
    "bin_index",
    "binary_metrics",
    "brier",
    "brier_skill",
    "calibration_bins",
    "calibration_fit",
    "expected_calibration_error",
    "json_safe",
    "log_loss",
    "roc_auc",
]
