"""Baselines the model must beat, run through exactly the same walk-forward evaluation.

* ``base_rate``: the training frequency of flushes as a constant. Its PR-AUC equals the test
  base rate, so "PR-AUC / base rate" reads as lift over knowing nothing.
* ``logistic``: logistic regression on the same features (median imputation, scaling). If the
  booster cannot beat a linear model, its complexity buys nothing.
* ``rule``: the transparent score a trader computes by eye: funding z-score + open-interest
  growth + depth thinness, each standardised on the training rows, turned into a probability
  by a one-variable logistic fit. If the model cannot beat this, it only restates the obvious.
* ``persistence``: "it is already happening". The label's own quantity in the last bar: long
  liquidations of the last hour over open interest (``liquidation`` label), or the last hour's
  price drop over trailing volatility (``proxy`` label). Cascades cluster: on real data 20 of
  the 50 largest liquidation hours followed a large liquidation hour, so a model that cannot
  beat this only notices a flush once it runs.
* ``volatility``: short realised volatility (4 h). Large moves cluster too; a model that cannot
  beat this is a volatility forecaster, not a flush forecaster.

Persistence and volatility are one feature each, turned into a probability by a one-variable
logistic fit on a log-like transform of the feature, fitted on the training rows only.

Every baseline has ``fit(X, y) -> self`` and ``predict_proba(X) -> 1-D array``; build them with
:func:`make_baseline` (the persistence baseline depends on the label kind).
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


# Baseline-only inputs travel in X under names starting with "__": the label's own quantity in
# the last window (see Persistence). Feature-based baselines ignore them.
PERSISTENCE_COLUMN = "__label_last_window__"


def features_only(X: pd.DataFrame) -> pd.DataFrame:
    hidden = [c for c in X.columns if str(c).startswith("__")]
    return X.drop(columns=hidden) if hidden else X


def _finite(X: pd.DataFrame) -> np.ndarray:
    arr = features_only(X).to_numpy(dtype=np.float64, na_value=np.nan)
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


class OneFeature:
    """A probability from one score: logistic fit on a log-like transform, on training rows.

    Missing scores take the training median (neutral). ``transform`` is ``log1p`` for a
    non-negative, heavy-tailed quantity (scaled by its median positive training value) and
    ``asinh`` for a signed one.
    """

    name = "one_feature"
    transform = "asinh"

    def score(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def _u(self, raw: np.ndarray) -> np.ndarray:
        x = np.where(np.isfinite(raw), raw, self.fill)
        if self.transform == "log1p":
            return np.log1p(np.clip(x, 0.0, None) / self.scale)
        return np.arcsinh(x / self.scale)

    def fit(self, X: pd.DataFrame, y: pd.Series | np.ndarray) -> OneFeature:
        from sklearn.linear_model import LogisticRegression

        raw = self.score(X)
        finite = raw[np.isfinite(raw)]
        self.fill = float(np.median(finite)) if len(finite) else 0.0
        positive = finite[finite > 0] if self.transform == "log1p" else np.abs(finite[finite != 0])
        self.scale = float(np.median(positive)) if len(positive) else 1.0
        yv = np.asarray(y, dtype=np.float64).astype(int)
        self.rate = float(np.clip(yv.mean(), _EPS, 1 - _EPS))
        u = self._u(raw)[:, None]
        self.logit = (
            LogisticRegression(C=1.0).fit(u, yv) if len(set(yv)) > 1 and np.ptp(u) > 0 else None
        )
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.logit is None:
            return np.full(len(X), self.rate)
        return np.clip(self.logit.predict_proba(self._u(self.score(X))[:, None])[:, 1], _EPS, 1 - _EPS)


def _column(X: pd.DataFrame, name: str) -> np.ndarray:
    if name not in X.columns:
        return np.full(len(X), np.nan)
    return X[name].to_numpy(dtype=np.float64, na_value=np.nan)


class Persistence(OneFeature):
    """The label's own quantity in the last bar (see the module docstring).

    Given the column ``PERSISTENCE_COLUMN`` (the label strength of the window that ended at the
    row: forward quantity over threshold, for exactly the label being predicted, e.g. long
    liquidations in USD over a USD threshold), it scores that; otherwise the features that
    approximate it (liq_long_1h_oi, or -ret_1h / rvol_7d for the proxy label).
    """

    name = "persistence"

    def __init__(self, label_kind: str = "liquidation") -> None:
        if label_kind not in ("liquidation", "proxy"):
            raise DataError(f"persistence baseline: unknown label kind {label_kind!r}")
        self.label_kind = label_kind
        self.transform = "log1p" if label_kind == "liquidation" else "asinh"

    def fit(self, X: pd.DataFrame, y: pd.Series | np.ndarray) -> Persistence:
        if PERSISTENCE_COLUMN in X.columns:
            self.transform = "log1p"  # a strength: >= 0, 1 = at the label threshold
        return super().fit(X, y)  # type: ignore[return-value]

    def score(self, X: pd.DataFrame) -> np.ndarray:
        if PERSISTENCE_COLUMN in X.columns:
            return _column(X, PERSISTENCE_COLUMN)
        if self.label_kind == "liquidation":
            return _column(X, "liq_long_1h_oi")
        with np.errstate(all="ignore"):
            return -_column(X, "ret_1h") / _column(X, "rvol_7d")


class Volatility(OneFeature):
    """Short realised volatility (4 h of 1-bar returns)."""

    name = "volatility"
    transform = "log1p"

    def score(self, X: pd.DataFrame) -> np.ndarray:
        return _column(X, "rvol_4h")


BASELINES: dict[str, Callable[..., Predictor]] = {
    "base_rate": BaseRate,
    "logistic": LogisticBaseline,
    "rule": RuleScore,
    "persistence": Persistence,
    "volatility": Volatility,
}


def make_baseline(name: str, label_kind: str = "liquidation") -> Predictor:
    """A fresh, unfitted baseline; ``label_kind`` picks what persistence measures."""
    if name not in BASELINES:
        raise DataError(f"unknown baseline {name!r}; choose from {list(BASELINES)}")
    if name == "persistence":
        return Persistence(label_kind)
    return BASELINES[name]()


__all__ = [
    "BASELINES",
    "PERSISTENCE_COLUMN",
    "RULE_TERMS",
    "BaseRate",
    "LogisticBaseline",
    "Persistence",
    "RuleScore",
    "Volatility",
    "features_only",
    "make_baseline",
    "rule_columns",
]
