"""The evaluation protocol: is the model better than every trivial predictor, and how sure are we?

One call, :func:`protocol_report`, turns out-of-fold predictions of the model and of the
baselines on the SAME rows into the full report: point metrics, 90 % confidence intervals, the
paired difference between the model and each baseline, calibration (equal-mass ECE, slope,
intercept, a reliability table with bands), the spread over booster seeds, and one verdict line.
The training job, the benchmarks and anyone trying a model change call it the same way.

Why a day-block bootstrap. Hourly rows are not independent: a cascade spans several rows, and
features share their look-back windows. Resampling single rows would pretend there is far more
evidence than there is, so whole UTC days are resampled (with replacement) and every row of a
drawn day comes along. A day drawn twice weighs twice. Each resample is a vector of row weights,
so every metric is computed for all resamples at once (a matrix product of the block counts
with per-block statistics of each predictor), and the SAME weights serve
every predictor: the interval of a difference is the interval of the paired difference, which
is much narrower than comparing two separate intervals.

The verdict compares the model with the best baseline by PR-AUC (the primary metric for a rare
event). "Beats" needs the lower end of the 90 % interval of the difference above zero; a positive
difference whose interval includes zero is "not a clear win"; otherwise the model does not beat
the baseline. The line says which, with the numbers, and is printed first everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from training.metrics import bin_index, binary_metrics, calibration_fit

MODEL = "model"
PRIMARY = "pr_auc"
# Bootstrapped metrics and whether higher is better.
BOOTSTRAPPED: dict[str, bool] = {"pr_auc": True, "roc_auc": True, "brier_skill": True, "log_loss": False}


class ProtocolConfig(BaseModel):
    """How uncertainty is measured (recorded in the report)."""

    model_config = ConfigDict(frozen=True)

    resamples: int = Field(200, ge=20, le=10_000, description="day-block bootstrap resamples")
    level: float = Field(0.90, gt=0.5, lt=1.0, description="confidence level of the intervals")
    block: str = Field("1D", description="bootstrap block length (calendar blocks, UTC)")
    bins: int = Field(10, ge=2, le=50, description="equal-mass calibration bins")
    seed: int = 0


# -- bootstrap: block statistics and block counts --------------------------------------------
def block_ids(index: pd.DatetimeIndex, block: str = "1D") -> np.ndarray:
    """0-based id of each row's calendar block (UTC day by default), in time order."""
    floored = pd.DatetimeIndex(index).floor(block)
    _, ids = np.unique(floored.asi8, return_inverse=True)
    return ids.astype(np.int64)


def block_counts(n_blocks: int, resamples: int, seed: int = 0) -> np.ndarray:
    """resamples x blocks: how often each block was drawn (n_blocks draws with replacement)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_blocks, np.full(n_blocks, 1.0 / n_blocks), size=resamples).astype(np.float64)


def _levels(p: np.ndarray, max_levels: int) -> tuple[np.ndarray, int]:
    """Score level of each row, 0 = highest score; tied scores share a level.

    With more distinct scores than ``max_levels`` neighbouring ranks are merged (ties stay
    together), which changes the bootstrap PR-AUC by far less than the width of its interval.
    """
    uniq, inverse = np.unique(-p, return_inverse=True)
    if len(uniq) <= max_levels:
        return inverse, len(uniq)
    first = np.searchsorted(np.sort(-p), -p, side="left")
    level = first * max_levels // len(p)
    _, level = np.unique(level, return_inverse=True)
    return level, int(level.max()) + 1


class _BlockStats:
    """One predictor's per-block sufficient statistics: every resample's metrics come from a
    matrix product of block counts with these (exact up to the level merging of ``_levels``)."""

    def __init__(self, y: np.ndarray, p: np.ndarray, ids: np.ndarray, n_blocks: int,
                 max_levels: int = 4096) -> None:
        level, n_levels = _levels(p, max_levels)
        flat = ids * n_levels + level
        size = n_blocks * n_levels
        self.pos = np.bincount(flat, weights=y, minlength=size).reshape(n_blocks, n_levels)
        self.neg = np.bincount(flat, weights=1 - y, minlength=size).reshape(n_blocks, n_levels)
        q = np.clip(p, 1e-15, 1 - 1e-15)
        loss = -(y * np.log(q) + (1 - y) * np.log1p(-q))
        self.rows = np.bincount(ids, minlength=n_blocks).astype(np.float64)
        self.y = np.bincount(ids, weights=y, minlength=n_blocks)
        self.sq = np.bincount(ids, weights=(p - y) ** 2, minlength=n_blocks)
        self.loss = np.bincount(ids, weights=loss, minlength=n_blocks)


def _weighted(s: _BlockStats, K: np.ndarray) -> dict[str, np.ndarray]:
    """PR-AUC, ROC-AUC, Brier skill and log loss for every resample (rows of block counts K)."""
    gp = K @ s.pos  # resamples x levels (highest score first)
    gn = K @ s.neg
    tp = np.cumsum(gp, axis=1)
    fp = np.cumsum(gn, axis=1)
    P = tp[:, -1]
    N = fp[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
        d_recall = gp / P[:, None]
        ap = np.sum(np.where(gp > 0, d_recall * precision, 0.0), axis=1)
        ap = np.where(P > 0, ap, np.nan)
        # a positive beats every negative at lower levels; ties count one half
        neg_below = N[:, None] - fp
        auc = np.sum(gp * (neg_below + 0.5 * gn), axis=1) / (P * N)
        total = K @ s.rows
        rate = (K @ s.y) / total
        bss = 1.0 - ((K @ s.sq) / total) / (rate * (1 - rate))
        loss = (K @ s.loss) / total
    return {"pr_auc": ap, "roc_auc": auc, "brier_skill": bss, "log_loss": loss}


def _interval(values: np.ndarray, level: float) -> list[float | None]:
    finite = values[np.isfinite(values)]
    if len(finite) < 10:
        return [None, None]
    lo, hi = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


# -- the report ------------------------------------------------------------------------------
def protocol_report(
    predictions: Mapping[str, np.ndarray],
    y: np.ndarray,
    index: pd.DatetimeIndex,
    bar: pd.Timedelta,
    thresholds: float | np.ndarray | Mapping[str, np.ndarray],
    *,
    model: str = MODEL,
    seed_predictions: Sequence[np.ndarray] | None = None,
    config: ProtocolConfig | None = None,
    folds: np.ndarray | None = None,
) -> dict[str, Any]:
    """The full protocol on out-of-fold rows: metrics with CIs, paired differences, calibration,
    booster-seed spread and the verdict.

    ``predictions``: name -> probabilities on the rows of ``y``/``index`` (the model under
    ``model``, every baseline under its own name). ``thresholds``: the alert threshold, one value
    or one per row, or per predictor (name -> one per row: each at its own equal-budget cut, see
    :mod:`training.budget`). ``folds``: the fold number of each row; a predictor that is constant
    within every fold (the base rate) then gets n/a for ROC-AUC and the calibration fit, which
    pooling its per-fold constants would otherwise invent. ``seed_predictions``: the model's OOF probabilities for each booster seed
    (the first is usually ``predictions[model]`` itself).

    Returns ``{"verdict": {...,"text"}, "metrics": {name: {metric: value, "ci": {...}}},
    "differences": {baseline: {metric: {"value", "ci"}}}, "calibration": {name: {...}},
    "seeds": {...} | None, "bootstrap": {...}}``.
    """
    config = config or ProtocolConfig()
    yv = np.asarray(y, dtype=np.float64)
    index = pd.DatetimeIndex(index)
    probs = {name: np.asarray(p, dtype=np.float64) for name, p in predictions.items()}
    if model not in probs:
        raise ValueError(f"no predictions named {model!r} among {list(probs)}")
    for name, p in probs.items():
        if p.shape != yv.shape:
            raise ValueError(f"{name}: {p.shape[0]} predictions for {yv.shape[0]} rows")
    ids = block_ids(index, config.block)
    n_blocks = int(ids.max()) + 1 if len(ids) else 0
    K = block_counts(n_blocks, config.resamples, config.seed)
    boot = {name: _weighted(_BlockStats(yv, p, ids, n_blocks), K) for name, p in probs.items()}
    bins = {n: bin_index(p, config.bins) for n, p in probs.items()}
    reliability_draws = {n: _bin_frequencies(yv, b, ids, n_blocks, config.bins, K) for n, b in bins.items()}

    metrics: dict[str, dict[str, Any]] = {}
    constant = {name: is_constant(p, folds) for name, p in probs.items()}
    for name, p in probs.items():
        thr = thresholds[name] if isinstance(thresholds, Mapping) else thresholds
        point = binary_metrics(yv, p, thr, index, bar)
        point["ci"] = {m: _interval(boot[name][m], config.level) for m in BOOTSTRAPPED}
        if constant[name]:
            point.update({k: math.nan for k in CONSTANT_UNDEFINED})
            point["ci"]["roc_auc"] = [None, None]
            point["constant"] = True
        metrics[name] = point
    baselines = [n for n in probs if n != model]
    differences: dict[str, dict[str, Any]] = {}
    for name in baselines:
        differences[name] = {
            m: {
                "value": _diff(metrics[model].get(m), metrics[name].get(m)),
                "ci": _interval(boot[model][m] - boot[name][m], config.level),
                "higher_is_better": better,
            }
            for m, better in BOOTSTRAPPED.items()
        }
    calibration = {
        name: _calibration(yv, probs[name], bins[name], reliability_draws[name], config)
        for name in probs
    }
    for name in probs:
        if constant[name]:
            calibration[name].update(slope=None, intercept=None, constant=True)
            differences.get(name, {}).get("roc_auc", {}).update(value=None, ci=[None, None])
    seeds = _seeds(yv, seed_predictions, metrics, baselines, model) if seed_predictions else None
    verdict = make_verdict(metrics, differences, model, config.level, seeds)
    return {
        "verdict": verdict,
        "metrics": metrics,
        "differences": differences,
        "calibration": calibration,
        "seeds": seeds,
        "bootstrap": {
            "resamples": config.resamples,
            "level": config.level,
            "block": config.block,
            "blocks": n_blocks,
            "rows": len(yv),
            "seed": config.seed,
        },
    }


CONSTANT_UNDEFINED = ("roc_auc", "calibration_slope", "calibration_intercept")


def is_constant(p: np.ndarray, folds: np.ndarray | None = None) -> bool:
    """True when the predictor says one value on all rows, or one value within every fold: it
    ranks nothing, so ROC-AUC and a calibration slope of it are artefacts, shown as n/a."""
    p = np.asarray(p, dtype=np.float64)
    if not len(p):
        return False
    if folds is None:
        return bool(np.ptp(p) == 0)
    folds = np.asarray(folds)
    return all(np.ptp(p[folds == k]) == 0 for k in np.unique(folds))


def _bin_frequencies(
    y: np.ndarray, which: np.ndarray, ids: np.ndarray, n_blocks: int, bins: int, K: np.ndarray
) -> np.ndarray:
    """resamples x bins: observed frequency per calibration bin in every resample."""
    flat = ids * bins + which
    count = np.bincount(flat, minlength=n_blocks * bins).reshape(n_blocks, bins)
    hits = np.bincount(flat, weights=y, minlength=n_blocks * bins).reshape(n_blocks, bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (K @ hits) / (K @ count)


def _diff(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return None
    return float(a - b)


def _calibration(
    y: np.ndarray, p: np.ndarray, which: np.ndarray, freq_draws: np.ndarray, config: ProtocolConfig
) -> dict[str, Any]:
    """Equal-mass reliability table with bootstrap bands of the observed frequency per bin."""
    count = np.bincount(which, minlength=config.bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(which, weights=p, minlength=config.bins) / count
        freq = np.bincount(which, weights=y, minlength=config.bins) / count
    keep = count > 0
    bands = [_interval(freq_draws[:, k], config.level) for k in range(config.bins)]
    intercept, slope = calibration_fit(y, p)
    ece = float(np.nansum(count * np.abs(mean_p - freq)) / max(count.sum(), 1))
    return {
        "ece": ece,
        "slope": slope,
        "intercept": intercept,
        "bins": "equal-mass",
        "mean_p": [float(v) for v in mean_p[keep]],
        "freq": [float(v) for v in freq[keep]],
        "freq_lo": [bands[k][0] for k in np.flatnonzero(keep)],
        "freq_hi": [bands[k][1] for k in np.flatnonzero(keep)],
        "count": [int(v) for v in count[keep]],
    }


def _seeds(
    y: np.ndarray,
    seed_predictions: Sequence[np.ndarray],
    metrics: dict[str, dict[str, Any]],
    baselines: list[str],
    model: str,
) -> dict[str, Any]:
    """Per booster seed: the model's metrics and its PR-AUC margin over the best baseline."""
    from training.metrics import average_precision, brier_skill, log_loss, roc_auc

    best = best_baseline(metrics, baselines)
    best_value = metrics[best][PRIMARY] if best else math.nan
    per_seed = []
    for p in seed_predictions:
        p = np.asarray(p, dtype=np.float64)
        ap = average_precision(y, p)
        per_seed.append(
            {"pr_auc": ap, "roc_auc": roc_auc(y, p), "brier_skill": brier_skill(y, p),
             "log_loss": log_loss(y, p), "pr_auc_minus_best_baseline": ap - best_value}
        )
    summary: dict[str, Any] = {"n": len(per_seed), "per_seed": per_seed}
    for key in per_seed[0]:
        values = np.array([s[key] for s in per_seed], dtype=float)
        summary[key] = {
            "mean": float(np.nanmean(values)),
            "std": float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0,
            "min": float(np.nanmin(values)),
            "max": float(np.nanmax(values)),
        }
    return summary


def best_baseline(metrics: Mapping[str, Mapping[str, Any]], baselines: Sequence[str]) -> str | None:
    """The baseline with the highest PR-AUC (None when no baseline has one)."""
    scored = [(metrics[n].get(PRIMARY), n) for n in baselines]
    scored = [(v, n) for v, n in scored if v is not None and math.isfinite(v)]
    return max(scored)[1] if scored else None


def make_verdict(
    metrics: Mapping[str, Mapping[str, Any]],
    differences: Mapping[str, Mapping[str, Any]],
    model: str = MODEL,
    level: float = 0.90,
    seeds: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One line: does the model beat the best baseline on PR-AUC, by how much, how sure."""
    baselines = list(differences)
    best = best_baseline(metrics, baselines)
    pct = f"{level:.0%}"
    if best is None:
        return {"text": "no baseline could be scored: no verdict", "beats": False, "clear": False,
                "best_baseline": None, "metric": PRIMARY}
    d = differences[best][PRIMARY]
    value, (lo, hi) = d["value"], d["ci"]
    model_v, base_v = metrics[model].get(PRIMARY), metrics[best][PRIMARY]
    ci = "CI n/a" if lo is None else f"{pct} CI {lo:+.3f} to {hi:+.3f}"
    if value is None:
        text = f"model PR-AUC undefined on these rows; best baseline {best} {base_v:.3f}"
        status = "undefined"
    elif lo is not None and lo > 0:
        text = f"model beats best baseline {best} by {value:+.3f} PR-AUC ({ci})"
        status = "beats"
    elif value > 0:
        text = (f"model is ahead of best baseline {best} by {value:+.3f} PR-AUC but not clearly "
                f"({ci} includes zero)")
        status = "not_clear"
    else:
        text = f"model does NOT beat best baseline {best}: {value:+.3f} PR-AUC ({ci})"
        status = "loses"
    if model_v is not None and math.isfinite(model_v):
        text += f"; PR-AUC {model_v:.3f} vs {base_v:.3f}"
    if seeds and seeds.get("n", 0) > 1:
        s = seeds["pr_auc"]
        text += f"; over {seeds['n']} booster seeds {s['mean']:.3f} (range {s['min']:.3f} to {s['max']:.3f})"
    return {
        "text": text,
        "status": status,
        "beats": status == "beats",
        "clear": status in ("beats", "loses") and lo is not None and (lo > 0 or hi < 0),
        "best_baseline": best,
        "metric": PRIMARY,
        "difference": value,
        "ci": [lo, hi],
        "level": level,
        "model_value": model_v,
        "baseline_value": base_v,
    }


def onset_verdict(equal: Mapping[str, Any] | None, level: float = 0.90) -> dict[str, Any]:
    """The second lead line: onsets warned at equal alert budget, model against the baseline
    that warned before the most, with the day-block CI of the difference in onset hit rate.

    ``equal``: the event study's ``equal_budget`` section (:func:`training.events.event_study`).
    """
    pct = f"{level:.0%}"
    if not equal or not equal.get("onsets"):
        return {"text": "onsets at equal alert budget: no onset in the evaluated rows", "status": "undefined"}
    best = equal.get("best_baseline")
    if best is None:
        return {"text": "onsets at equal alert budget: no baseline to compare with", "status": "undefined"}
    d = equal["differences"][best]
    total, lo, hi = equal["onsets"], d["ci"][0], d["ci"][1]
    ci = "CI n/a" if lo is None else f"{pct} CI {lo * 100:+.1f} to {hi * 100:+.1f} pts"
    if lo is not None and lo > 0:
        status, verb = "more", "warned before more onsets than"
    elif lo is not None and hi < 0:
        status, verb = "fewer", "warned before FEWER onsets than"
    else:
        status, verb = "not_clear", "is not clearly ahead on onsets of"
    shares = (d.get("model_alert_share"), d.get("baseline_alert_share"))
    spent = "" if None in shares else f"; alert hours {shares[0]:.1%} vs {shares[1]:.1%}"
    if None not in shares and shares[0] > 0 and not 0.8 <= shares[1] / shares[0] <= 1.25:
        # each cut is chosen on training rows; out of sample a predictor may spend more or less
        spent += (f"; unequal spending: {best} alerted on {shares[1] / shares[0]:.1f}x the model's hours "
                  "out of sample")
    text = (f"onsets warned at equal alert budget: model {verb} best baseline {best}, "
            f"{d['model_hits']}/{total} vs {d['baseline_hits']}/{total} "
            f"({d['value'] * 100:+.1f} pts, {ci}{spent})")
    return {"text": text, "status": status, "best_baseline": best, "difference": d["value"],
            "ci": [lo, hi], "model_hits": d["model_hits"], "baseline_hits": d["baseline_hits"],
            "onsets": total, "level": level}


def lead_verdict(
    verdict: Mapping[str, Any], equal: Mapping[str, Any] | None, same_rule: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The verdict with its two lead lines: PR-AUC against the best baseline, then onsets warned
    at equal alert budget against the best baseline, each with its CI.

    Additive: the PR-AUC fields stay as they were; ``lines`` holds both lines, ``onsets`` the
    second line's figures, and ``text`` both lines (one per line) so every surface that prints
    the text leads with both.
    """
    out = dict(verdict)
    pr_line = str(verdict.get("pr_text") or verdict.get("text", "no verdict"))
    onsets = onset_verdict(equal, float(verdict.get("level") or 0.90))
    if same_rule is not None:
        # the model alerts in calm hours only: say what the baselines do under the same rule,
        # so the line never credits the model's ranking with what the rule does
        onsets = {**onsets, "same_rule": dict(same_rule),
                  "text": f"{onsets['text']}; {same_rule['text']}"}
    out.update(pr_text=pr_line, onsets=onsets, lines=[pr_line, onsets["text"]],
               text=f"{pr_line}\n{onsets['text']}")
    return out


__all__ = [
    "BOOTSTRAPPED",
    "ProtocolConfig",
    "best_baseline",
    "block_counts",
    "block_ids",
    "is_constant",
    "lead_verdict",
    "make_verdict",
    "onset_verdict",
    "protocol_report",
]
