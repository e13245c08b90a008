"""Fitting the LightGBM booster: parameters, monotone priors and time-ordered early stopping.

Early stopping needs a validation set the booster does not train on. With time series a random
split would let the booster see the future of its own validation rows, so the validation set is
the LAST ``valid_fraction`` of the training rows, and the fit rows whose label window reaches
into it (within ``gap``) are purged. After choosing the number of rounds the booster is refit on
all training rows, so the most recent data is not wasted.

Monotone priors. A flush is a cascade of forced long liquidations; the mechanism says more
liquidation fuel just below the price and less liquidity to absorb it can only make it more
likely. Long liquidation notional just below the price and open interest against bid depth get
an increasing constraint; depth levels a decreasing one (thin book, higher risk). This guards
the model against learning noise that would, say, lower the risk as the book thins, which no
trader would trust. The map is by feature-name pattern (see :data:`MONOTONE_PATTERNS`).
The sim-to-real history of the blend is in the git log; what holds now is below.

Leverage. Funding (rate, its 24-hour cost) and open-interest growth over 24 hours get an
increasing constraint too: with them free, a request with funding at 0.3 %/8 h and open interest
up 50 % in 24 h was answered lower than the untouched one (issue 18), which no trader would
trust. On the real development set the constraint cost nothing (walk-forward PR-AUC 0.310 ->
0.315, docs/concepts/model.md).

Blend with a linear part. On real hourly data with real liquidations a logistic regression tied
or beat the booster alone: with ~160 positives a tree ensemble spends its capacity on noise that a
linear score cannot fit. With ``blend`` < 1 the raw score is ``sigmoid(blend * booster log-odds +
(1 - blend) * linear log-odds)`` (see :mod:`models.linear`; the linear part keeps the monotone
signs), calibrated as one score; the two parts err differently. The linear part is, by default,
a *size* fit (``linear_target="size"``): a ridge regression of the log size of the next window's
long liquidations, turned into the label's log-odds, so every quiet hour tells the fit how far it
was from a squeeze instead of only "not one". It leaves out the ``cascade`` group
(``linear_exclude_groups``): on real data each of those 16 features, added alone, lowered the
walk-forward PR-AUC (they restate the last hours' liquidations that ``price_flow`` already has,
over heavy-tailed ratios to quiet-week means); the booster keeps them. Measured on the real
development set (6-fold walk-forward whose tests include the January/February 2026 crash): the
previous set-up (logistic linear part, blend 0.7) 0.228 PR-AUC against the logistic baseline's
0.236; this one (size fit without cascade, blend 0.5, with the hour-of-day features) 0.308,
+0.073 [90 % CI +0.031, +0.112] over logistic. The blend weight is 0.5, not the real set's best
0.3 (0.321): on simulated symbol-years, where the booster is strong, 0.3 lost ~0.03 PR-AUC to the
previous model while 0.7 tied it (and scored 0.283 on real); 0.5 is the robust middle. Choosing
the linear target on the inner validation rows (``linear_target="auto"``) was measured too and
lost on real (0.284): ~25 inner-validation positives cannot tell the two apart reliably.

Parameters for small, rare-event data. A symbol-year of hourly windows holds ~150 positives
among ~9k rows, and the signal is many weak, mostly additive effects spread over 61 features.
So the booster learns slowly (learning rate 0.03 with up to 2000 rounds and patient early
stopping), each tree sees a random 30 % of the features (``feature_fraction``) and picks random
split thresholds (``extra_trees``). Both decorrelate the trees, which spreads the fit over many
weak features instead of re-splitting the few loudest ones on noise. Measured on simulated
symbol-years NOT used by the benchmark (BTC seeds 11-14, ETH and SOL seed 11), these settings
together with the shrunk Platt calibration of training.fit raised the mean out-of-fold PR-AUC
from 0.313 to 0.336 (logistic baseline: 0.322); on fresh symbol-years the two are close, so
the benchmark compares them over several seeds.

Training target: near misses. With ~150 positives a year each tree sees few events, but many
more hours come close: long liquidations reached half the threshold (see
:func:`features.make_label_strength`). With ``target="near_miss"`` the booster trains with the
``cross_entropy`` objective (labels in [0, 1]) on 1 for a positive, ``near_miss_weight`` (0.3)
for an hour whose strength reached ``near_miss_ratio`` (0.5) and 0 otherwise; early stopping
also scores that target (less noisy than ~30 validation positives). Everything downstream is
still on the hard label: the inner-validation predictions returned for calibration, the
calibrator (so a served probability still means P(hard label)) and every metric. Measured on
the tuning symbol-years (booster seeds 7 and 8): mean out-of-fold PR-AUC 0.338 -> 0.342 on
BTC 11-14/ETH 11/SOL 11 and 0.299 -> 0.313 on BTC 15-16/ETH 12/SOL 12.
Without a strength (``fit_booster(..., target=None)``) the target is the hard label, and
``cross_entropy`` on 0/1 labels is the same fit as ``binary``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from features.errors import DataError
from models.linear import LinearScorer, fit_linear

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "cross_entropy",  # = binary on 0/1 labels; also accepts the near-miss target
    "learning_rate": 0.03,
    "num_leaves": 7,
    "max_depth": -1,
    "min_data_in_leaf": 100,
    "min_sum_hessian_in_leaf": 1e-3,
    "feature_fraction": 0.3,
    "extra_trees": True,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 63,
    "monotone_constraints_method": "intermediate",
    "verbose": -1,
    "seed": 7,
    "deterministic": True,
    "force_col_wise": True,
    # One thread: on a 2-core machine shared with other work, OpenMP threads spin against each
    # other (measured 7x slower than one thread under load); the walk-forward runs the
    # baselines in a second thread instead.
    "num_threads": 1,
}

NO_GAP = pd.Timedelta(0)

# (regex on the feature name, +1 increasing / -1 decreasing). First match wins; unmatched: 0.
MONOTONE_PATTERNS: tuple[tuple[str, int], ...] = (
    (r"^oi_to_bid_depth_\dpct$", +1),  # fuel against the liquidity that must absorb it
    (r"^depth_bid_\dpct_rel_7d$", -1),  # a thin bid book
    (r"^liq_long_within_\dpct$", +1),  # long liquidation prices just below the price
    # more leverage never lowers the risk: funding longs pay, open interest built over a day
    (r"^funding_(rate|annualized|cum_24h)$", +1),
    (r"^oi_(coin_)?growth_24h$", +1),
)


class BoosterConfig(BaseModel):
    """How one booster is fitted (recorded as MLflow params)."""

    model_config = ConfigDict(frozen=True)

    params: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_PARAMS))
    num_boost_round: int = Field(2000, gt=0)
    early_stopping_rounds: int = Field(100, gt=0)
    valid_fraction: float = Field(0.2, gt=0, lt=0.5)
    refit: bool = True
    monotone: bool = True
    target: Literal["hard", "near_miss"] = "near_miss"
    near_miss_ratio: float = Field(0.5, gt=0, lt=1, description="label strength of a near miss")
    near_miss_weight: float = Field(0.3, ge=0, lt=1, description="training target of a near miss")
    blend: float = Field(
        0.5, gt=0, le=1, description="weight of the booster's log-odds against the linear part's"
    )
    linear_c: float = Field(0.1, gt=0, description="L2 strength (inverse) of the linear part")
    linear_target: Literal["label", "size", "auto"] = Field(
        "size",
        description="linear part: logistic on the label, ridge on the log size of the next "
        "window's long liquidations mapped to the label's log-odds (needs the label strength), "
        "or auto: whichever of the two scores the higher PR-AUC on the inner validation rows",
    )
    linear_alpha: float = Field(100.0, gt=0, description="ridge penalty of the size fit")
    linear_exclude_groups: tuple[str, ...] = Field(
        ("cascade",), description="feature groups the linear part leaves out (zero coefficients)"
    )

    def with_params(self, **params: Any) -> BoosterConfig:
        return self.model_copy(update={"params": {**self.params, **params}})


def training_target(
    y: pd.Series | np.ndarray,
    strength: pd.Series | np.ndarray | None,
    config: BoosterConfig | None = None,
) -> np.ndarray:
    """What the booster trains on: the hard label, or with near misses (see the module docstring).

    ``strength`` is :func:`features.make_label_strength` on the same rows (>= 1 exactly where
    ``y`` is 1); ``None`` or ``config.target == "hard"`` gives the hard label.
    """
    config = config or BoosterConfig()
    yv = np.asarray(y, dtype=np.float64)
    if strength is None or config.target == "hard":
        return yv
    sv = np.asarray(strength, dtype=np.float64)
    if sv.shape != yv.shape:
        raise DataError(f"label strength has {sv.shape[0]} rows, labels have {yv.shape[0]}")
    if np.isnan(sv).any() or (sv < 0).any():
        bad = int(np.flatnonzero(np.isnan(sv) | (sv < 0))[0])
        raise DataError(f"label strength must be finite and >= 0 (row {bad}: {sv[bad]})")
    if ((sv >= 1.0) != (yv == 1.0)).any():
        bad = int(np.flatnonzero((sv >= 1.0) != (yv == 1.0))[0])
        raise DataError(
            f"label strength and label disagree at row {bad} (strength {sv[bad]}, label {yv[bad]}):"
            " were they made with the same LabelSpec?"
        )
    near = (sv >= config.near_miss_ratio) & (yv == 0.0)
    return np.where(yv == 1.0, 1.0, np.where(near, config.near_miss_weight, 0.0))


def monotone_constraints(features: Sequence[str]) -> list[int]:
    """The monotone sign of each feature (see the module docstring)."""
    out = []
    for name in features:
        sign = 0
        for pattern, s in MONOTONE_PATTERNS:
            if re.search(pattern, name):
                sign = s
                break
        out.append(sign)
    return out


@dataclass
class BoosterFit:
    """A fitted booster, its chosen rounds and its out-of-sample predictions on the inner split.

    With a blend (``config.blend < 1``) ``linear`` is the linear part fitted on all training rows
    and ``valid_raw`` the blended inner-validation probability (linear part fitted on the fit
    rows only, so the calibrator sees honest out-of-sample values of both parts).
    """

    booster: lgb.Booster
    best_iteration: int
    valid_index: pd.DatetimeIndex
    valid_raw: np.ndarray
    valid_y: np.ndarray
    linear: LinearScorer | None = None
    blend: float = 1.0
    linear_target: str = ""

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        """The uncalibrated probability of rows: the booster's, or the blend of both parts."""
        arr = X.to_numpy(dtype=np.float64, na_value=np.nan)
        return blend_raw(self.booster, self.linear, self.blend, arr)


def blend_raw(
    booster: lgb.Booster,
    linear: LinearScorer | None,
    weight: float,
    arr: np.ndarray,
    **kw: Any,
) -> np.ndarray:
    """sigmoid(w * booster margin + (1 - w) * linear log-odds); the booster alone without one."""
    if linear is None or weight >= 1.0:
        return np.asarray(booster.predict(arr, **kw))
    margin = np.asarray(booster.predict(arr, raw_score=True, **kw))
    return _sigmoid(weight * margin + (1.0 - weight) * linear.logit(arr))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _params(config: BoosterConfig, features: Sequence[str]) -> dict[str, Any]:
    params = dict(config.params)
    if config.monotone:
        signs = monotone_constraints(features)
        if any(signs):
            params["monotone_constraints"] = signs
    return params


def _dataset(X: pd.DataFrame, y: np.ndarray, params: dict[str, Any]) -> lgb.Dataset:
    return lgb.Dataset(
        X.to_numpy(dtype=np.float64, na_value=np.nan),
        label=y,
        feature_name=list(X.columns),
        params={"max_bin": params.get("max_bin", 255), "verbose": -1},
        free_raw_data=False,
    ).construct()


def inner_split(
    index: pd.DatetimeIndex, valid_fraction: float, gap: pd.Timedelta
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of fit and validation rows: validation is the latest part, fit is purged by ``gap``."""
    n = len(index)
    n_valid = max(1, round(n * valid_fraction))
    valid_start = index[n - n_valid]
    fit = np.flatnonzero(index < valid_start - gap)
    valid = np.arange(n - n_valid, n)
    return fit, valid


def fit_booster(
    X: pd.DataFrame,
    y: pd.Series | np.ndarray,
    config: BoosterConfig | None = None,
    gap: pd.Timedelta = NO_GAP,
    target: np.ndarray | None = None,
    strength: np.ndarray | None = None,
) -> BoosterFit:
    """Fit a booster with early stopping on a time-ordered inner validation split.

    ``X`` must have a time-ordered DatetimeIndex; ``gap`` is the purge between fit and
    validation rows (at least the label horizon). ``target`` (from :func:`training_target`,
    default: ``y``) is what the booster trains and early-stops on; the returned validation
    labels are always the hard ``y``.
    """
    config = config or BoosterConfig()
    if not isinstance(X.index, pd.DatetimeIndex) or not X.index.is_monotonic_increasing:
        raise DataError("training rows must have an increasing DatetimeIndex")
    yv = np.asarray(y, dtype=np.float64)
    if len(X) < 20:
        raise DataError(f"too few training rows ({len(X)}) to fit a booster")
    if yv.sum() == 0:
        raise DataError(
            f"no positive labels in the {len(X)} training rows from {X.index[0]} to "
            f"{X.index[-1]}: lower the label threshold or use more data"
        )
    tv = yv if target is None else np.asarray(target, dtype=np.float64)
    if tv.shape != yv.shape:
        raise DataError(f"training target has {tv.shape[0]} rows, labels have {yv.shape[0]}")
    params = _params(config, list(X.columns))
    full = _dataset(X, tv, params)
    fit_pos, valid_pos = inner_split(X.index, config.valid_fraction, gap)
    linear_kind = ""
    if len(fit_pos) < 10 or yv[fit_pos].sum() == 0:
        # Too little history to hold out a validation set: train without early stopping.
        booster = lgb.train(params, full, num_boost_round=min(config.num_boost_round, 100))
        linear = final_linear(X, yv, config, strength)
        return BoosterFit(
            booster, booster.current_iteration(), X.index[:0], np.zeros(0), np.zeros(0), linear,
            config.blend,
        )
    fit_set = full.subset(fit_pos)
    valid_set = full.subset(valid_pos)
    booster = lgb.train(
        params,
        fit_set,
        num_boost_round=config.num_boost_round,
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )
    best = max(1, booster.best_iteration or booster.current_iteration())
    valid_raw = booster.predict(
        X.iloc[valid_pos].to_numpy(dtype=np.float64, na_value=np.nan), num_iteration=best
    )
    linear = None
    if config.blend < 1.0:
        valid_arr = X.iloc[valid_pos].to_numpy(dtype=np.float64, na_value=np.nan)
        sv = None if strength is None else np.asarray(strength, dtype=np.float64)
        # The booster's margin enters as it is: put on the hard label's scale by a Platt fit
        # (it trains on the near-miss target, so it runs higher) the blend scored worse on all
        # six data sets measured (mean PR-AUC -0.008).
        margin = booster.predict(valid_arr, num_iteration=best, raw_score=True)
        scored = []
        for kind in linear_choices(config, sv):
            inner = final_linear(X.iloc[fit_pos], yv[fit_pos], config, None if sv is None else sv[fit_pos], kind)
            raw = _sigmoid(config.blend * margin + (1.0 - config.blend) * inner.logit(valid_arr))
            scored.append((_pr_auc(yv[valid_pos], raw), kind, raw))
        _score, linear_kind, valid_raw = max(scored, key=lambda s: s[0])  # ties: the first choice
        linear = final_linear(X, yv, config, sv, linear_kind)
    if config.refit:
        booster = lgb.train(params, full, num_boost_round=best)
    else:
        booster = booster if booster.current_iteration() == best else _truncate(booster, best)
    return BoosterFit(
        booster, best, X.index[valid_pos], np.asarray(valid_raw), yv[valid_pos], linear, config.blend,
        linear_kind if linear is not None else "",
    )


def train_rounds(
    X: pd.DataFrame, y: pd.Series | np.ndarray, rounds: int, config: BoosterConfig | None = None
) -> lgb.Booster:
    """Fit a booster on all rows for a fixed number of rounds (the final model).

    ``y`` is the training target (hard labels or :func:`training_target`).
    """
    config = config or BoosterConfig()
    params = _params(config, list(X.columns))
    return lgb.train(params, _dataset(X, np.asarray(y, dtype=np.float64), params), rounds)


def linear_choices(config: BoosterConfig, strength: np.ndarray | None) -> list[str]:
    """The linear targets to try: both for ``auto`` (size first: it wins ties), else the one."""
    if strength is None:
        return ["label"]
    return ["size", "label"] if config.linear_target == "auto" else [config.linear_target]


def _pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, p)) if 0 < y.sum() < len(y) else 0.0


def final_linear(
    X: pd.DataFrame,
    y: pd.Series | np.ndarray,
    config: BoosterConfig | None = None,
    strength: pd.Series | np.ndarray | None = None,
    kind: str | None = None,
) -> LinearScorer | None:
    """The linear part fitted on these rows, or None without a blend.

    ``kind`` (default: ``config.linear_target``, where ``auto`` means ``size``): ``size`` with
    the rows' label ``strength`` is the ridge size fit of :func:`models.linear.fit_linear`;
    otherwise the logistic fit on the labels.
    """
    config = config or BoosterConfig()
    if config.blend >= 1.0:
        return None
    features = list(X.columns)
    signs = monotone_constraints(features) if config.monotone else None
    exclude = linear_excluded(features, config)
    kind = kind or config.linear_target
    if kind in ("size", "auto") and strength is not None:
        return fit_linear(X, y, signs=signs, strength=strength, alpha=config.linear_alpha, exclude=exclude)
    return fit_linear(X, y, C=config.linear_c, signs=signs, exclude=exclude)


def linear_excluded(features: Sequence[str], config: BoosterConfig) -> list[str]:
    """The features of ``config.linear_exclude_groups`` (see :data:`features.FEATURE_GROUPS`)."""
    from features.pipeline import FEATURE_GROUPS

    groups = set(config.linear_exclude_groups)
    return [f for f in features if FEATURE_GROUPS.get(f) in groups]


def _truncate(booster: lgb.Booster, rounds: int) -> lgb.Booster:
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=rounds))


__all__ = [
    "DEFAULT_PARAMS",
    "MONOTONE_PATTERNS",
    "BoosterConfig",
    "BoosterFit",
    "blend_raw",
    "final_linear",
    "fit_booster",
    "inner_split",
    "monotone_constraints",
    "train_rounds",
    "training_target",
]
