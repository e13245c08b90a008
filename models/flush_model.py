"""FlushModel: the calibrated LightGBM model that training produces and serving loads.

One object holds everything a prediction needs: the booster, the ordered feature list, the
calibrator fitted on out-of-fold predictions, the label spec it was trained for and the
training metadata (data range, signal groups, risk thresholds, feature ranges, metrics,
MLflow lineage). On disk it is three plain files, so the serving process can load it without
mlflow, sklearn or pickle:

* ``booster.txt``      LightGBM's native text model;
* ``calibrator.json``  the calibrator's arrays (see :mod:`models.calibration`);
* ``metadata.json``    features, label spec and metadata;
* ``linear.json``      only for a blended model: the linear part (see :mod:`models.linear`),
  and ``metadata["blend"]`` the booster's weight in log-odds.

Risk levels. ``metadata["thresholds"]`` holds the probabilities where the levels ``elevated``,
``high`` and ``extreme`` begin. Training fixes them as multiples of the training base rate's
*odds* (by default 2x, 4x and 8x, see :func:`risk_thresholds`): "elevated" means the odds of a
flush are twice the usual, whatever the symbol's base rate; working on odds keeps every threshold
below 1 even for a high base rate. The ``high`` threshold is the alert threshold used in
evaluation (precision/recall at the alert, alerts per week).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numba import njit

from features.atomic import write_text_atomic
from features.errors import DataError, FlushRiskError, ModelNotFoundError
from features.labels import CALM_WINDOW
from models.calibration import Calibrator
from models.compiled import CompiledTrees
from models.linear import LinearScorer

if TYPE_CHECKING:
    import lightgbm

BOOSTER_FILE = "booster.txt"
CALIBRATOR_FILE = "calibrator.json"
METADATA_FILE = "metadata.json"
LINEAR_FILE = "linear.json"
FORMAT_VERSION = 1

RISK_LEVELS: tuple[str, ...] = ("low", "elevated", "high", "extreme")
DEFAULT_ODDS_MULTIPLES: tuple[float, float, float] = (2.0, 4.0, 8.0)
# The alert rule of a model trained now: an ONSET alert, from the "elevated" level (2x the
# base-rate odds), in calm hours only (no squeeze of the model's label ended within the calm
# window before; features.labels.running_cascade). While a squeeze runs no new alert hour is
# spent: "it is happening" is on the tape, and the trader asked to be warned before it starts.
# Measured on the real development set (docs/concepts/model.md, "Onset alerts").
ALERT_LEVEL = "elevated"
CALM_HOURS = CALM_WINDOW / pd.Timedelta(hours=1)
# Models saved before the rule record no "alert_rule": they alert from "high" in every hour.
LEGACY_ALERT_RULE: dict[str, Any] = {"level": "high", "calm_hours": None}
# Up to this many rows LightGBM predicts on one thread: starting threads costs more than it saves.
SINGLE_THREAD_ROWS = 256


def import_lightgbm() -> Any:
    """Import lightgbm without dragging in scikit-learn when nothing has imported it yet.

    ``import lightgbm`` imports sklearn (about a second) only to offer its sklearn-style
    estimators. Serving needs the native Booster alone, so when neither library is loaded yet
    we hide sklearn for the duration of the import. Training code that imports sklearn or
    lightgbm first gets the normal import.
    """
    if "lightgbm" in sys.modules:
        return sys.modules["lightgbm"]
    if "sklearn" in sys.modules:
        import lightgbm

        return lightgbm
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # makes `import sklearn` fail
    try:
        import lightgbm
    finally:
        del sys.modules["sklearn"]
    return lightgbm


def risk_thresholds(
    base_rate: float, odds_multiples: Sequence[float] = DEFAULT_ODDS_MULTIPLES
) -> dict[str, float]:
    """Probabilities where elevated/high/extreme begin: given multiples of the base-rate odds."""
    if not 0.0 < base_rate < 1.0:
        raise DataError(f"cannot set risk thresholds from a base rate of {base_rate}")
    if len(odds_multiples) != 3 or list(odds_multiples) != sorted(odds_multiples):
        raise DataError(f"need three increasing odds multiples, got {list(odds_multiples)}")
    odds = base_rate / (1.0 - base_rate)
    return {
        level: float(m * odds / (1.0 + m * odds))
        for level, m in zip(RISK_LEVELS[1:], odds_multiples, strict=True)
    }


def _json_value(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


@njit(cache=True, nogil=True)
def _has_inf(arr: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Whether any value of a 2-D array is +-inf (stops at the first); any memory layout, no copy."""
    for i in range(arr.shape[0]):
        for j in range(arr.shape[1]):
            if np.isinf(arr[i, j]):
                return True
    return False


class FlushModel:
    """A calibrated flush-probability model: booster + features + calibrator + metadata."""

    def __init__(
        self,
        booster: lightgbm.Booster,
        features: Sequence[str],
        calibrator: Calibrator,
        label_spec: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        linear: LinearScorer | None = None,
    ) -> None:
        self.booster = booster
        self.features = list(features)
        self.calibrator = calibrator
        self.label_spec = dict(label_spec)
        self.metadata = dict(metadata or {})
        self.linear = linear
        names = list(booster.feature_name())
        if names != self.features:
            raise DataError(
                f"the booster was trained on features {names[:5]}... which differ from the "
                f"model's feature list {self.features[:5]}..."
            )
        if linear is not None and linear.features != self.features:
            raise DataError("the linear part was fitted on another feature list than the booster")

    @property
    def blend(self) -> float:
        """Weight of the booster's log-odds in the raw score (1.0: the booster alone)."""
        return 1.0 if self.linear is None else float(self.metadata.get("blend", 1.0))

    # -- inputs --------------------------------------------------------------------------
    def matrix(self, X: pd.DataFrame | pd.Series | Mapping[str, Any] | np.ndarray) -> np.ndarray:
        """The float64 feature matrix in the model's column order (inf treated as missing).

        A DataFrame/Series/mapping is matched by feature NAME (extra columns are ignored, a
        missing one is an error naming it); a bare array must already be in model order.
        """
        arr = self._array(X)
        if _has_inf(arr):  # one pass, no temporary (NaN is common, inf rare)
            arr = np.where(np.isinf(arr), np.nan, arr)
        return arr

    def _array(self, X: pd.DataFrame | pd.Series | Mapping[str, Any] | np.ndarray) -> np.ndarray:
        """:meth:`matrix` before inf becomes missing."""
        if isinstance(X, pd.Series):
            X = X.to_frame().T
        elif isinstance(X, Mapping):
            X = pd.DataFrame([dict(X)])
        if isinstance(X, pd.DataFrame):
            missing = [f for f in self.features if f not in X.columns]
            if missing:
                raise DataError(
                    f"input lacks {len(missing)} feature column(s) the model needs: {missing[:10]}"
                )
            try:
                arr = X.loc[:, self.features].to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as err:
                raise DataError(f"feature values must be numbers: {err}") from None
        else:
            arr = np.asarray(X, dtype=np.float64)
            if arr.ndim == 1:
                arr = arr[None, :]
            if arr.ndim != 2 or arr.shape[1] != len(self.features):
                raise DataError(
                    f"expected a 2-D array with {len(self.features)} feature columns, "
                    f"got shape {arr.shape}"
                )
        return arr

    def _threads(self, rows: int) -> int:
        return 1 if rows <= SINGLE_THREAD_ROWS else 0

    # -- predictions ---------------------------------------------------------------------
    def predict_raw(self, X: Any, booster: Any | None = None) -> np.ndarray:
        """The booster's uncalibrated probability (used to fit and check the calibrator).

        ``booster``: what predicts the trees, when not :attr:`booster` itself: an object
        with the Booster's ``predict(rows, raw_score=, num_threads=)`` giving the same numbers
        (batch scoring's compiled trees, :mod:`models.compiled`). Compiled trees compute the
        whole of it, linear part and blend included, in one pass over the rows.
        """
        trees = self.booster if booster is None else booster
        if isinstance(trees, CompiledTrees):
            return trees.raw_probability(self._array(X), self.blend, self.linear)
        arr = self.matrix(X)
        threads = self._threads(len(arr))
        if self.linear is None or self.blend >= 1.0:
            return np.asarray(trees.predict(arr, num_threads=threads))
        margin = np.asarray(trees.predict(arr, raw_score=True, num_threads=threads))
        z = self.blend * margin + (1.0 - self.blend) * self.linear.logit(arr)
        return 0.5 * (1.0 + np.tanh(0.5 * z))

    def predict_proba(self, X: Any, booster: Any | None = None) -> np.ndarray:
        """Calibrated probability of a flush within the label horizon, one per row, in (0, 1)."""
        return self.calibrator(self.predict_raw(X, booster))

    def contributions(self, X: Any, booster_contributions: np.ndarray | None = None) -> np.ndarray:
        """Per row, each feature's log-odds contribution and, last, the bias (n x features+1).

        LightGBM's ``pred_contrib`` layout; the row sums are the raw score's log-odds, so
        ``calibrator(sigmoid(row sum)) == predict_proba``. For a blended model both parts are
        weighted as in the blend; a missing feature's linear part goes to the bias.
        ``booster_contributions``: the booster's own ``pred_contrib`` of these rows when the
        caller already has them (serving's single-row fast path), so they are not recomputed.
        """
        arr = self.matrix(X)
        if booster_contributions is None:
            contrib = np.asarray(
                self.booster.predict(arr, pred_contrib=True, num_threads=self._threads(len(arr)))
            )
        else:
            contrib = np.asarray(booster_contributions, dtype=np.float64)
        if self.linear is not None and self.blend < 1.0:
            linear, bias = self.linear.contributions(arr)
            contrib = self.blend * contrib
            contrib[:, : len(self.features)] += (1.0 - self.blend) * linear
            contrib[:, -1] += (1.0 - self.blend) * bias
        return contrib

    def explain(self, X: Any, top: int = 5) -> list[list[dict[str, Any]]]:
        """Per row, the ``top`` features that pushed the probability up or down the most.

        Contributions are LightGBM's exact tree SHAP values (``pred_contrib``) in log-odds of
        the booster's raw probability; they add up, with the bias, to the raw log-odds. The
        calibrator is monotone, so their signs hold for the calibrated probability too. A
        blended model adds the linear part's exact contributions with the same weights as the
        blend, so they still add up to the raw log-odds.
        """
        arr = self.matrix(X)
        contrib = self.contributions(arr)[:, : len(self.features)]
        out: list[list[dict[str, Any]]] = []
        for row, values in zip(contrib, arr, strict=True):
            order = np.argsort(-np.abs(row), kind="stable")[: max(0, top)]
            out.append(
                [
                    {
                        "feature": self.features[j],
                        "value": _json_value(values[j]),
                        "contribution": float(row[j]),
                    }
                    for j in order
                ]
            )
        return out

    # -- risk levels ---------------------------------------------------------------------
    @property
    def thresholds(self) -> dict[str, float]:
        """Where elevated/high/extreme begin (fixed at training; see the module docstring)."""
        thresholds = self.metadata.get("thresholds")
        if not thresholds:
            base = float(self.metadata.get("base_rate", 0.0))
            return risk_thresholds(base)
        return {k: float(thresholds[k]) for k in RISK_LEVELS[1:]}

    @property
    def alert_rule(self) -> dict[str, Any]:
        """``{"level": ..., "calm_hours": ...}``: alert from this level, and only in hours after
        ``calm_hours`` without a squeeze of the label (None: in every hour, the legacy rule)."""
        rule = self.metadata.get("alert_rule") or LEGACY_ALERT_RULE
        return {"level": str(rule.get("level", "high")), "calm_hours": rule.get("calm_hours")}

    @property
    def alert_threshold(self) -> float:
        """The probability from which the alert rule alerts (in a calm hour, when it has one)."""
        return self.thresholds[self.alert_rule["level"]]

    @property
    def calm_window(self) -> pd.Timedelta | None:
        """How long after a squeeze the alert stays silent (None: the legacy rule, never)."""
        hours = self.alert_rule["calm_hours"]
        return None if hours is None else pd.Timedelta(hours=float(hours))

    def risk_level(self, p: float) -> str:
        """``low``, ``elevated``, ``high`` or ``extreme`` for one probability."""
        level = RISK_LEVELS[0]
        for name, threshold in self.thresholds.items():
            if p >= threshold:
                level = name
        return level

    def risk_levels(self, p: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`risk_level`."""
        edges = [self.thresholds[k] for k in RISK_LEVELS[1:]]
        return np.asarray(RISK_LEVELS, dtype=object)[np.searchsorted(edges, p, side="right")]

    # -- persistence ---------------------------------------------------------------------
    def save(self, directory: Path | str) -> Path:
        """Write booster.txt, calibrator.json and metadata.json into ``directory`` (atomically)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(directory / BOOSTER_FILE, self.booster.model_to_string())
        write_text_atomic(
            directory / CALIBRATOR_FILE, json.dumps(self.calibrator.to_dict(), indent=1)
        )
        document = {
            "format_version": FORMAT_VERSION,
            "features": self.features,
            "label_spec": self.label_spec,
            "metadata": self.metadata,
        }
        if self.linear is not None:
            write_text_atomic(directory / LINEAR_FILE, json.dumps(self.linear.to_dict(), indent=1))
        elif (directory / LINEAR_FILE).exists():
            (directory / LINEAR_FILE).unlink()
        write_text_atomic(directory / METADATA_FILE, json.dumps(document, indent=1, default=str))
        return directory

    @classmethod
    def load(cls, directory: Path | str) -> FlushModel:
        """Restore a model written by :meth:`save` (needs lightgbm and numpy only)."""
        directory = Path(directory)
        missing = [
            name
            for name in (BOOSTER_FILE, CALIBRATOR_FILE, METADATA_FILE)
            if not (directory / name).is_file()
        ]
        if missing:
            raise ModelNotFoundError(f"{directory} is not a FlushRisk model: missing {missing}")
        try:
            document = json.loads((directory / METADATA_FILE).read_text())
            calibrator = Calibrator.from_dict(json.loads((directory / CALIBRATOR_FILE).read_text()))
            features = document["features"]
            label_spec = document["label_spec"]
            metadata = document.get("metadata", {})
            linear = None
            if (directory / LINEAR_FILE).is_file():
                linear = LinearScorer.from_dict(json.loads((directory / LINEAR_FILE).read_text()))
        except (json.JSONDecodeError, KeyError, TypeError, FlushRiskError) as err:
            raise ModelNotFoundError(f"{directory}: unreadable model files ({err})") from None
        lgb = import_lightgbm()
        try:
            booster = lgb.Booster(model_file=str(directory / BOOSTER_FILE))
        except lgb.basic.LightGBMError as err:
            raise ModelNotFoundError(f"{directory / BOOSTER_FILE}: unreadable booster ({err})") from None
        return cls(booster, features, calibrator, label_spec, metadata, linear)

    def __repr__(self) -> str:
        meta = self.metadata
        return (
            f"FlushModel(symbol={meta.get('symbol')!r}, bar={meta.get('bar')!r}, "
            f"features={len(self.features)}, calibrator={self.calibrator.method!r}, "
            f"trees={self.booster.num_trees()})"
        )


__all__ = ["ALERT_LEVEL", "CALM_HOURS", "LEGACY_ALERT_RULE", "RISK_LEVELS", "FlushModel", "import_lightgbm", "risk_thresholds"]
