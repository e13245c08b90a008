"""A logistic regression on the features that serving evaluates with numpy alone.

Why a linear part. On real hourly data with real liquidations (about 4,300 hours, ~230
positives) a plain logistic regression beat the booster on a six-fold walk-forward (PR-AUC 0.242
vs 0.202): with that few events, a tree ensemble spends its capacity on noise that a linear score
cannot fit. The two err differently, so the model blends them in log-odds (see
:mod:`models.lgbm`): ``w * booster margin + (1 - w) * linear log-odds``.

The fit is scikit-learn's (median imputation, clipping at the training 0.5/99.5 % quantiles so
heavy tails do not dominate, standardisation, L2 logistic regression, as the logistic baseline);
what is kept are a handful of arrays, stored as JSON with the model, so the serving process needs
neither sklearn nor pickle. Contributions are exact and additive: ``coef * standardised value``
per feature; a missing feature's imputed part goes to the bias, so a feature without a value never
appears as a driver.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from features.errors import FlushRiskError

DEFAULT_C = 0.1
# Ridge penalty of the size fit on standardised features (chosen on the real development set's
# walk-forward among 10, 100, 1000: 0.303, 0.309, 0.290 pooled PR-AUC; robust in between).
DEFAULT_ALPHA = 100.0
SIZE_UNITS_PER_THRESHOLD = 50.0


@dataclass(frozen=True, eq=False)
class LinearScorer:
    """Standardise, clip, impute, then a linear log-odds; arrays in feature order."""

    features: list[str]
    lo: np.ndarray
    hi: np.ndarray
    fill: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def _z(self, arr: np.ndarray) -> np.ndarray:
        # in place, the same arithmetic as (where(isnan, fill, clip) - mean) / scale
        z = np.clip(arr, self.lo, self.hi)
        np.copyto(z, np.broadcast_to(self.fill, z.shape), where=np.isnan(z))
        z -= self.mean
        z /= self.scale
        return z

    def logit(self, arr: np.ndarray) -> np.ndarray:
        """Log-odds of each row of a float matrix in :attr:`features` order (NaN = missing).

        One compiled pass over the rows (clip, impute, standardise and the dot product per
        row): the numpy form made six passes over the matrix, a quarter of the booster's own
        prediction time in a backtest. Equal to ``_z(arr) @ coef + intercept`` within float
        rounding of the sum's order.
        """
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        if arr.ndim != 2:
            arr = arr.reshape(1, -1) if arr.ndim == 1 else arr
        parts = (self.lo, self.hi, self.fill, self.mean, self.scale, self.coef)
        coef = np.asarray(self.coef, dtype=np.float64)
        active = np.flatnonzero(coef != 0.0)  # a zero weight adds exactly nothing: skip it
        return _logit_rows(arr, *(np.asarray(a, dtype=np.float64) for a in parts), float(self.intercept),
                           active)

    @cached_property
    def terms(self) -> tuple[np.ndarray, ...]:
        """The features with a weight, as a compiled pass reads them (models.compiled): their
        index, clip bounds, median, mean and ``coef / scale`` (a feature without bounds takes
        the median whatever its value: bounds equal to it)."""
        coef = np.asarray(self.coef, dtype=np.float64)
        index = np.flatnonzero(coef != 0.0).astype(np.int64)
        lo, hi, fill = (np.asarray(a, dtype=np.float64)[index] for a in (self.lo, self.hi, self.fill))
        unbounded = np.isnan(lo) | np.isnan(hi)
        lo, hi = np.where(unbounded, fill, lo), np.where(unbounded, fill, hi)
        mean = np.asarray(self.mean, dtype=np.float64)[index]
        weight = coef[index] / np.asarray(self.scale, dtype=np.float64)[index]
        return index, lo, hi, fill, mean, weight

    def contributions(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature log-odds contributions (0 for a missing value) and each row's bias.

        ``contributions.sum(axis=1) + bias == logit(arr)``.
        """
        arr = np.asarray(arr, dtype=np.float64)
        parts = self._z(arr) * self.coef
        missing = np.isnan(arr)
        bias = self.intercept + np.where(missing, parts, 0.0).sum(axis=1)
        return np.where(missing, 0.0, parts), bias

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            **{k: [float(v) for v in getattr(self, k)] for k in ("lo", "hi", "fill", "mean", "scale", "coef")},
            "intercept": float(self.intercept),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearScorer:
        try:
            arrays = {k: np.asarray(data[k], dtype=np.float64) for k in ("lo", "hi", "fill", "mean", "scale", "coef")}
            features = [str(f) for f in data["features"]]
            if any(len(v) != len(features) for v in arrays.values()):
                raise ValueError("arrays and feature list differ in length")
            return cls(features=features, intercept=float(data["intercept"]), **arrays)
        except (KeyError, TypeError, ValueError) as err:
            raise FlushRiskError(f"invalid linear scorer data: {err}") from None


def size_target(strength: np.ndarray | pd.Series) -> np.ndarray:
    """The regression target of a size fit: log(1 + forward quantity / (threshold / 50)).

    ``strength`` is the label strength (forward quantity over the label threshold, see
    :func:`features.make_label_strength`), so the unit is a fiftieth of the threshold ($100k for
    a $5M label) whatever the symbol: quiet hours near 0, a positive above log(51) ~ 3.9.
    """
    sv = np.asarray(strength, dtype=np.float64)
    return np.log1p(np.clip(np.nan_to_num(sv, nan=0.0), 0.0, None) * SIZE_UNITS_PER_THRESHOLD)


def fit_linear(
    X: pd.DataFrame,
    y: np.ndarray | pd.Series,
    C: float = DEFAULT_C,
    features: Sequence[str] | None = None,
    signs: Sequence[int] | None = None,
    strength: np.ndarray | pd.Series | None = None,
    alpha: float = DEFAULT_ALPHA,
    exclude: Sequence[str] = (),
) -> LinearScorer:
    """Fit the linear part on the training rows; its :meth:`LinearScorer.logit` is the log-odds
    of the hard 0/1 label either way.

    Without ``strength``: an L2 logistic regression on the labels. With it (the label strength
    of the rows): a ridge regression of :func:`size_target` (how large the next window's long
    liquidations are, not only whether they pass the threshold), mapped to the label's log-odds
    by a one-dimensional logistic fit of ``y`` on the ridge score on the same rows. Every quiet
    hour then tells the fit how far it was from a squeeze, instead of only 'not one': on the
    real development set this beat the logistic regression on the same features (see
    docs/concepts/model.md).

    ``signs`` (+1, -1 or 0 per feature, the booster's monotone constraints) are kept by the
    linear part too: a feature whose coefficient comes out with the wrong sign is left out and
    the rest refitted, so the blend stays monotone wherever the booster is. Features named in
    ``exclude`` get a zero coefficient (they stay in the feature list, so the scorer still
    reads the booster's matrix).
    """
    names = list(features) if features is not None else list(X.columns)
    arr = X.loc[:, names].to_numpy(dtype=np.float64, na_value=np.nan)
    arr = np.where(np.isfinite(arr), arr, np.nan)
    yv = np.asarray(y, dtype=np.float64).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        lo = np.nanquantile(arr, 0.005, axis=0)
        hi = np.nanquantile(arr, 0.995, axis=0)
    seen = ~np.isnan(lo)
    lo = np.where(seen, lo, -np.inf)
    hi = np.where(seen, hi, np.inf)
    clipped = np.clip(arr, lo, hi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fill = np.where(seen, np.nanmedian(np.where(seen, clipped, 0.0), axis=0), 0.0)
    filled = np.where(np.isnan(clipped), fill, clipped)
    mean = filled.mean(axis=0)
    scale = filled.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = (filled - mean) / scale
    if len(set(yv)) < 2:
        raise FlushRiskError("the linear part needs both classes among the training rows")
    sign = np.zeros(len(names)) if signs is None else np.asarray(signs, dtype=np.float64)
    usable = np.array([n not in set(exclude) for n in names])
    if strength is None:
        coef, intercept = _signed_fit(z, yv, C, sign, usable)
    else:
        target = size_target(strength)
        if target.shape != yv.shape:
            raise FlushRiskError(f"label strength has {target.shape[0]} rows, labels have {yv.shape[0]}")
        ridge, offset = _signed_fit(z, target, alpha, sign, usable, ridge=True)
        a, b = _platt(z @ ridge + offset, yv)
        coef, intercept = a * ridge, a * offset + b
    return LinearScorer(
        features=names, lo=lo, hi=hi, fill=fill, mean=mean, scale=scale, coef=coef, intercept=intercept,
    )


def _platt(score: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the log-odds of ``y`` given a score (a ranking without a scale)."""
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = LogisticRegression(C=1e4, max_iter=300).fit(score[:, None], y)
    # a size score that ranks against the label would flip the part: keep it flat instead
    return max(float(fit.coef_[0][0]), 0.0), float(fit.intercept_[0])


def _signed_fit(
    z: np.ndarray,
    y: np.ndarray,
    C: float,
    sign: np.ndarray,
    usable: np.ndarray | None = None,
    ridge: bool = False,
) -> tuple[np.ndarray, float]:
    """Logistic (or, with ``ridge``, ridge with penalty ``C``) fit whose coefficients agree with
    ``sign`` (wrong-signed features dropped), on the ``usable`` features only."""
    from sklearn.linear_model import LogisticRegression, Ridge

    active = np.ones(z.shape[1], dtype=bool) if usable is None else usable.copy()
    coef = np.zeros(z.shape[1])
    intercept = 0.0
    for _ in range(z.shape[1] + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on near-separable folds
            if ridge:
                fit = Ridge(alpha=C).fit(z[:, active], y)
            else:
                fit = LogisticRegression(C=C, max_iter=300).fit(z[:, active], y)
        coef = np.zeros(z.shape[1])
        coef[active] = np.ravel(fit.coef_)
        intercept = float(np.ravel(fit.intercept_)[0])
        wrong = active & (sign * coef < 0)
        if not wrong.any() or wrong.sum() == active.sum():
            break
        active &= ~wrong
    return np.where(sign * coef < 0, 0.0, coef), intercept


_BLOCK_ROWS = 256
"""Rows per block of :func:`_logit_rows` (their values stay in the L2 cache across features)."""


@njit(cache=True, nogil=True)
def _logit_rows(arr: np.ndarray, lo: np.ndarray, hi: np.ndarray, fill: np.ndarray, mean: np.ndarray,
                scale: np.ndarray, coef: np.ndarray, intercept: float,
                active: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    # Blocks of rows, feature by feature inside a block: each row's sum still adds its terms in
    # feature order (the same bits as row by row), but the rows' sums are independent chains the
    # CPU overlaps, where one row's 80 dependent additions and divisions wait on each other.
    n = arr.shape[0]
    out = np.zeros(n)
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        for j in active:
            low, high, median, mu, sd, w = lo[j], hi[j], fill[j], mean[j], scale[j], coef[j]
            if np.isnan(low) or np.isnan(high):  # no bounds: every row takes the median
                term = (median - mu) / sd * w
                for i in range(start, stop):
                    out[i] += term
                continue
            for i in range(start, stop):
                # as np.clip then NaN -> fill (a NaN value takes the training median); selects,
                # not branches, so the block's rows go through in vector registers
                z = arr[i, j]
                z = low if z < low else z  # noqa: FURB136 - max() may drop a NaN z
                z = high if z > high else z  # noqa: FURB136
                z = median if np.isnan(z) else z
                out[i] += (z - mu) / sd * w
        for i in range(start, stop):
            out[i] += intercept
    return out


__all__ = ["DEFAULT_ALPHA", "DEFAULT_C", "LinearScorer", "fit_linear", "size_target"]

