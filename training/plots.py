"""The evaluation plots logged to MLflow (matplotlib, Agg backend: no display needed).

* ``pr_curves.png``: precision-recall of the model and every baseline, base rate as a line;
* ``reliability.png``: observed frequency against predicted probability, equal-mass bins with
  day-block bootstrap bands, and the bin counts, so calibration can be judged where the
  predictions actually lie;
* ``feature_importance.png``: total gain per feature of the final booster;
* ``timeline.png``: probability over time with the alert threshold, positive labels and events;
* ``fold_metrics.png``: PR-AUC lift and Brier skill per fold, model against baselines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from training.metrics import calibration_bins

_DPI = 90


def _pr_points(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-p, kind="mergesort")
    ys = y[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ys) + 1)
    return tp / max(ys.sum(), 1), tp / k


def pr_curves(y: np.ndarray, predictions: dict[str, np.ndarray], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, p in predictions.items():
        if name == "base_rate":
            continue
        recall, precision = _pr_points(y, p)
        ax.plot(recall, precision, label=name, lw=2 if name == "model" else 1)
    ax.axhline(float(np.mean(y)), color="grey", ls="--", label=f"base rate {np.mean(y):.3f}")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall, out of fold", ylim=(0, 1))
    ax.legend()
    return _save(fig, path)


def reliability(
    y: np.ndarray, p: np.ndarray, path: Path, bins: int = 10, calibration: dict[str, Any] | None = None
) -> Path:
    """Equal-mass reliability diagram; with the protocol's ``calibration`` table (see
    :mod:`training.protocol`) the observed frequencies carry their day-block bootstrap bands."""
    if calibration is None:
        table = calibration_bins(y, p, bins=bins, strategy="quantile")
        mean_p, freq, count = table["mean_p"].to_numpy(), table["freq"].to_numpy(), table["count"].to_numpy()
        lo = hi = None
        title = "Reliability (equal-mass bins)"
    else:
        mean_p, freq = np.asarray(calibration["mean_p"]), np.asarray(calibration["freq"])
        count = np.asarray(calibration["count"])
        lo = np.array([np.nan if v is None else v for v in calibration["freq_lo"]], dtype=float)
        hi = np.array([np.nan if v is None else v for v in calibration["freq_hi"]], dtype=float)
        title = (f"Reliability (equal-mass bins, bootstrap bands); ECE {calibration['ece']:.4f}, "
                 f"slope {calibration['slope']:.2f}")
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(6, 6), height_ratios=[3, 1], sharex=True)
    values = [mean_p.max(), freq.max()] + ([np.nanmax(hi)] if hi is not None and np.isfinite(hi).any() else [])
    top = max(float(np.nanmax(values)), 1e-3) * 1.1
    ax.plot([0, top], [0, top], color="grey", ls="--", label="perfect")
    if lo is not None:
        ax.fill_between(mean_p, lo, hi, color="C0", alpha=0.2, label="90% band")
    ax.plot(mean_p, freq, "o-", label="model")
    ax.set(ylabel="observed frequency", xlim=(0, top), ylim=(0, top))
    ax.set_title(title, fontsize=9)
    ax.legend()
    ax_n.bar(mean_p, count, width=top / (4 * max(len(mean_p), 1)))
    ax_n.set(xlabel="mean predicted probability", ylabel="rows")
    return _save(fig, path)


def feature_importance(booster: Any, path: Path, top: int = 25) -> Path:
    gain = pd.Series(booster.feature_importance("gain"), index=booster.feature_name())
    gain = gain.sort_values().tail(top)
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(gain) + 1.2))
    ax.barh(gain.index, gain.to_numpy())
    ax.set(xlabel="total gain", title="Feature importance (final booster)")
    return _save(fig, path)


def timeline(
    times: pd.DatetimeIndex,
    p: np.ndarray,
    y: np.ndarray,
    threshold: float | np.ndarray,
    path: Path,
    events: list[pd.Timestamp] | None = None,
) -> Path:
    fig, ax = plt.subplots(figsize=(11, 3.5))
    ax.plot(times, p, lw=0.6, label="probability")
    thr = np.broadcast_to(np.asarray(threshold, dtype=float), np.shape(p))
    ax.plot(times, thr, color="orange", lw=0.8, label="alert threshold")
    pos = np.asarray(y) > 0.5
    ax.scatter(times[pos], np.asarray(p)[pos], s=6, color="red", label="flush (label)", zorder=3)
    for k, when in enumerate(events or []):
        ax.axvline(when, color="black", ls=":", lw=0.8, label="event" if k == 0 else None)
    ax.set(ylabel="probability", title="Out-of-fold probability over time")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def fold_metrics(report: dict[str, dict[str, Any]], path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    names = [n for n in report if n != "base_rate"]
    for ax, metric in zip(axes, ("pr_auc_lift", "brier_skill"), strict=True):
        width = 0.8 / max(len(names), 1)
        for k, name in enumerate(names):
            folds = report[name]["folds"]
            x = np.arange(len(folds)) + k * width
            values = [f[metric] if f[metric] is not None else np.nan for f in folds]
            ax.bar(x, values, width=width, label=name)
        ax.set(xlabel="fold", title=metric.replace("_", " "))
        ax.axhline(1.0 if metric == "pr_auc_lift" else 0.0, color="grey", ls="--", lw=0.8)
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


__all__ = ["feature_importance", "fold_metrics", "pr_curves", "reliability", "timeline"]
