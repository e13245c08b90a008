"""Probability calibration fitted on out-of-fold predictions, evaluated with numpy alone.

A booster's raw probability ranks well but need not mean what it says. The calibrator maps
it to a frequency: fitted ONLY on out-of-fold predictions (rows the booster never trained on),
so it corrects the booster's real out-of-sample bias rather than its in-sample confidence.

Two methods:

* ``isotonic``: pool-adjacent-violators on the raw probability, each block shrunk toward the
  base rate by one pseudo-observation, so a block of one positive row does not become 1.0.
  Needs many positives; evaluated by linear interpolation between block centres, plus
  ``1e-6 * raw`` so that the map is strictly increasing and keeps the booster's ranking.
* ``platt``: a logistic fit ``sigmoid(a * logit(raw) + b)``; two parameters, so it stays
  stable with few positives.

``auto`` picks isotonic when the calibration set holds at least
:data:`MIN_POSITIVES_ISOTONIC` positives, else Platt. The calibrator is a handful of floats
serialised as JSON: the serving process needs neither sklearn nor pickle to use it. Outputs are
clipped to ``[eps, 1 - eps]``: a probability of exactly 0 or 1 would be a claim of certainty no
finite sample supports (and breaks log loss).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from features.errors import FlushRiskError

Method = Literal["isotonic", "platt", "identity"]

MIN_POSITIVES_ISOTONIC = 150
DEFAULT_EPS = 1e-5
TIE_BREAK = 1e-6
_LOGIT_CLIP = 1e-7


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _LOGIT_CLIP, 1.0 - _LOGIT_CLIP)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass(frozen=True)
class Calibrator:
    """A monotone map from raw booster probability to calibrated probability."""

    method: Method
    knots_x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    knots_y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    a: float = 1.0
    b: float = 0.0
    eps: float = DEFAULT_EPS
    n: int = 0
    positives: int = 0

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities in ``[eps, 1 - eps]`` (NaN stays NaN)."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.method == "isotonic":
            # The tiny raw term makes the map strictly increasing: isotonic plateaus would
            # otherwise tie rows the booster ranks apart (and cost PR-AUC at the top).
            out = np.interp(raw, self.knots_x, self.knots_y) + TIE_BREAK * raw
        elif self.method == "platt":
            out = _sigmoid(self.a * _logit(raw) + self.b)
        else:
            out = raw
        # np.clip's result through two ufuncs (NaN stays NaN): np.clip's dispatch costs more
        # than the clipping for the one-row calls of /predict
        return np.minimum(np.maximum(out, self.eps), 1.0 - self.eps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "knots_x": [float(v) for v in self.knots_x],
            "knots_y": [float(v) for v in self.knots_y],
            "a": float(self.a),
            "b": float(self.b),
            "eps": float(self.eps),
            "n": int(self.n),
            "positives": int(self.positives),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        try:
            method = data["method"]
            if method not in ("isotonic", "platt", "identity"):
                raise ValueError(f"unknown method {method!r}")
            knots_x = np.asarray(data.get("knots_x", []), dtype=np.float64)
            knots_y = np.asarray(data.get("knots_y", []), dtype=np.float64)
            if method == "isotonic" and (len(knots_x) == 0 or len(knots_x) != len(knots_y)):
                raise ValueError("isotonic calibrator needs equally long, non-empty knots")
            return cls(
                method=method,
                knots_x=knots_x,
                knots_y=knots_y,
                a=float(data.get("a", 1.0)),
                b=float(data.get("b", 0.0)),
                eps=float(data.get("eps", DEFAULT_EPS)),
                n=int(data.get("n", 0)),
                positives=int(data.get("positives", 0)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise FlushRiskError(f"invalid calibrator data: {err}") from None


def _check(raw: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    raw = np.asarray(raw, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if raw.shape != y.shape or raw.ndim != 1:
        raise FlushRiskError(f"calibration needs 1-D predictions and labels of equal length, got {raw.shape} and {y.shape}")
    keep = np.isfinite(raw) & np.isfinite(y)
    raw, y = raw[keep], y[keep]
    if len(raw) == 0:
        raise FlushRiskError("calibration needs at least one out-of-fold prediction")
    return raw, y


def fit_isotonic(raw: np.ndarray, y: np.ndarray, eps: float = DEFAULT_EPS) -> Calibrator:
    """Pool-adjacent-violators on (raw, y), blocks shrunk toward the base rate, as knots."""
    raw, y = _check(raw, y)
    base = float(y.mean())
    values, inverse = np.unique(raw, return_inverse=True)
    weight = np.bincount(inverse).astype(np.float64)
    pos = np.bincount(inverse, weights=y)
    # PAV over the distinct raw values: a stack of blocks (sum_pos, weight, sum_weighted_x).
    s_pos: list[float] = []
    s_w: list[float] = []
    s_x: list[float] = []
    for v, w, p in zip(values, weight, pos, strict=True):
        cp, cw, cx = float(p), float(w), float(v * w)
        while s_w and s_pos[-1] / s_w[-1] >= cp / cw:
            cp += s_pos.pop()
            cw += s_w.pop()
            cx += s_x.pop()
        s_pos.append(cp)
        s_w.append(cw)
        s_x.append(cx)
    block_w = np.asarray(s_w)
    block_p = (np.asarray(s_pos) + base) / (block_w + 1.0)  # one pseudo-row at the base rate
    block_p = np.maximum.accumulate(block_p)  # shrinkage must not break monotonicity
    centres = np.asarray(s_x) / block_w
    return Calibrator(
        method="isotonic",
        knots_x=centres,
        knots_y=np.clip(block_p, eps, 1.0 - eps),
        eps=eps,
        n=len(raw),
        positives=int(y.sum()),
    )


def fit_platt(raw: np.ndarray, y: np.ndarray, eps: float = DEFAULT_EPS) -> Calibrator:
    """Logistic regression of y on logit(raw) by Newton's method, lightly regularised.

    The slope is kept positive: a calibrator must never reverse the booster's ranking.
    """
    raw, y = _check(raw, y)
    z = _logit(raw)
    # Platt's target smoothing keeps the fit finite when one class is (almost) absent.
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    t = np.where(y > 0.5, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    design = np.column_stack([z, np.ones_like(z)])
    theta = np.array([1.0, 0.0])
    ridge = 1e-6 * np.eye(2)
    for _ in range(50):
        p = _sigmoid(design @ theta)
        grad = design.T @ (p - t)
        hess = (design * (p * (1.0 - p))[:, None]).T @ design + ridge
        step = np.linalg.solve(hess, grad)
        theta = theta - step
        if np.max(np.abs(step)) < 1e-9:
            break
    a, b = float(theta[0]), float(theta[1])
    if not np.isfinite(a) or not np.isfinite(b) or a <= 0:
        # No usable slope (e.g. no positives): fall back to the base rate as a constant.
        a, b = 1e-6, float(_logit(np.array([max(t.mean(), eps)]))[0])
    return Calibrator(method="platt", a=a, b=b, eps=eps, n=len(raw), positives=int(n_pos))


def fit_calibrator(
    raw: np.ndarray,
    y: np.ndarray,
    method: Literal["auto", "isotonic", "platt"] = "auto",
    eps: float = DEFAULT_EPS,
) -> Calibrator:
    """Fit a calibrator on out-of-fold raw probabilities and their labels.

    ``auto``: isotonic with at least :data:`MIN_POSITIVES_ISOTONIC` positives, else Platt.
    """
    _, yy = _check(raw, y)
    if method == "auto":
        method = "isotonic" if yy.sum() >= MIN_POSITIVES_ISOTONIC else "platt"
    if method == "isotonic":
        return fit_isotonic(raw, y, eps)
    if method == "platt":
        return fit_platt(raw, y, eps)
    raise FlushRiskError(f"unknown calibration method {method!r}; use auto, isotonic or platt")


__all__ = ["MIN_POSITIVES_ISOTONIC", "Calibrator", "fit_calibrator", "fit_isotonic", "fit_platt"]
