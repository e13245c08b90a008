"""Baselines the model must beat, run through exactly the same walk-forward evaluation.

* ``base_rate``: the training frequency of flushes as a constant. Its PR-AUC equals the test
  base rate, so "PR-AUC / base rate" reads as lift over knowing nothing.
* ``logistic``: logistic regression on the same features (median imputation, scaling). If the
  booster cannot beat a linear model, its complexity buys nothing.
* ``rule``: the transparent score a trader computes by eye: funding z-score + open-interest
  growth + depth thinness, each standardised on the training rows, turned into a probability
  by a one-variable logistic fit. If the model cannot beat this, it only restates the obvious.

Every baseline has ``fit(X, y) -> self`` and ``predict_proba(X) -> 1-D array``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from features.errors import DataError

_EPS = 1e-5


class Predictor(Protocol):
    name: str

    def fit(self, X: pd.DataFrame, y: pd.Series | np.ndarray) -> Predictor: ...

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...


def _finite(X: pd.DataFrame) -> np.ndarray:
    arr = X.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(arr), arr, np.nan)


class BaseRate:
    """A constant: the training base rate."""

    name = "base_rate"

    def __init__(self) -> None:
        self.rate = 0.5

    def fit(self, X: pd.DataFrame, y: pd.Series | np.ndarray) -> BaseRate:
        self.rate = float(np.clip(np.mean(np.asarray(y, dtype=np.float64)), _EPS, 1 - _EPS))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.full(len(X), self.rate)


class LogisticBaseline:
    """Logistic regression on the same features with median imputation and scaling."""

    name = "logistic"

    def __init__(self, C: float = 0.1, max_iter: int = 300) -> None:
        self.C = C
        self.max_iter = max_iter
        self.pipeline = None

    def fit(self, X: pd.DataFrame, y: pd.Series | np.ndarray) -> LogisticBaseline:
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.pipeline = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(C=self.C, max_iter=self.max_iter),
        )
        arr = _finite(X)
        # Heavy-tailed features (OI/depth ratios, liquidation notionals) would dominate the
        # scaled fit; clipping at training quantiles keeps the linear model a fair baseline.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.lo = np.nanquantile(arr, 0.005, axis=0)
            self.hi = np.nanquantile(arr, 0.995, axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on near-separable folds
            self.pipeline.fit(self._clip(arr), np.asarray(y, dtype=np.float64).astype(int))
        return self

    def _clip(self, arr: np.ndarray) -> np.ndarray:
        lo = np.where(np.isnan(self.lo), -np.inf, self.lo)
        hi = np.where(np.isnan(self.hi), np.inf, self.hi)
        return np.clip(arr, lo, hi)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.pipeline is None:
            raise DataError("the logistic baseline is not fitted")
        p = self.pipeline.predict_proba(self._clip(_finite(X)))[:, 1]
        return np.clip(p, _EPS, 1 - _EPS)


# Each term of the rule score: candidate feature names (first one present wins) and the sign
# that makes "riskier" positive.
RULE_TERMS: dict[str, tuple[tuple[str, ...], int]] = {
    "funding": (("funding_z_7d", "funding_z_30d", "funding_rate"), +1),
    "oi_growth": (("oi_growth_4h", "oi_growth_1h", "oi_growth_24h"), +1),
    "depth_thinness": (
        ("oi_to_bid_depth_1pct", "oi_to_bid_depth_2pct", "depth_bid_1pct_rel_7d"),
        +1,
    ),
}
# a depth level itself measures thickness: its sign flips.
_THICKNESS = re.compile(r"^depth_(bid|ask)_")


def rule_columns(features: Sequence[str]) -> dict[str, tuple[str, int]]:
    """The feature used for each rule term and its sign, or no entry when none is present."""
    chosen: dict[str, tuple[str, int]] = {}
    for term, (candidates, sign) in RULE_TERMS.items():
        for name in candidates:
            if name in features:
                chosen[term] = (name, -sign if _THICKNESS.match(name) else sign)
                break
    return chosen


class RuleScore:
    """funding z-score + OI growth + depth thinness, standardised; probability by logistic fit."""

    name = "rule"

    def __init__(self) -> None:
        self.columns: dict[str, tuple[str, int]] = {}

    def fit(self, X: pd.DataFrame, y: pd.Series | np.ndarray) -> RuleScore:
        from sklearn.linear_model import LogisticRegression

        self.columns = rule_columns(list(X.columns))
        if not self.columns:
            raise DataError(
                "the rule baseline found none of its features "
                f"{[c for cands, _ in RULE_TERMS.values() for c in cands]}"
            )
        self.center: dict[str, float] = {}
        self.scale: dict[str, float] = {}
        for name, _ in self.columns.values():
            col = X[name].to_numpy(dtype=np.float64, na_value=np.nan)
            col = col[np.isfinite(col)]
            med = float(np.median(col)) if len(col) else 0.0
            iqr = float(np.subtract(*np.quantile(col, [0.75, 0.25]))) if len(col) else 1.0
            self.center[name] = med
            self.scale[name] = iqr / 1.349 if iqr > 0 else (float(np.std(col)) or 1.0)
        score = self.score(X)[:, None]
        yv = np.asarray(y, dtype=np.float64).astype(int)
        self.logit = LogisticRegression(C=1.0).fit(score, yv) if len(set(yv)) > 1 else None
        self.rate = float(np.clip(yv.mean(), _EPS, 1 - _EPS))
        return self

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """The transparent score: sum of the robustly standardised, clipped terms."""
        total = np.zeros(len(X))
        for name, sign in self.columns.values():
            z = (X[name].to_numpy(dtype=np.float64, na_value=np.nan) - self.center[name]) / self.scale[name]
            total += sign * np.clip(np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0), -5, 5)
        return total

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.logit is None:
            return np.full(len(X), self.rate)
        return np.clip(self.logit.predict_proba(self.score(X)[:, None])[:, 1], _EPS, 1 - _EPS)


BASELINES: dict[str, Callable[[], Predictor]] = {
    "base_rate": BaseRate,
    "logistic": LogisticBaseline,
    "rule": RuleScore,
}

__all__ = ["BASELINES", "RULE_TERMS", "BaseRate", "LogisticBaseline", "RuleScore", "rule_columns"]
