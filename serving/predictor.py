"""Everything a prediction needs, without BentoML: load, build the row, predict, explain, warn.

The BentoML service (:mod:`serving.service`) is a thin HTTP shell around :class:`Predictor`, so
the logic is tested in-process and a benchmark can time it alone.

Two guarantees the model's numbers rest on:

* the feature row is built from the ONE feature list (:data:`features.FEATURES`) by position,
  and the booster's own feature names must equal that list when the model loads: a model
  trained on another list would silently score the wrong columns, so it is refused;
* raw bars go through the same :func:`features.features_at` as training, on the last
  :data:`features.MIN_WINDOW` of bars (which is exactly what the last row's features depend on),
  and a shorter window is refused, naming the minimum.

Single rows are scored on one thread (``FlushModel`` passes ``num_threads=1`` up to 256 rows):
starting LightGBM's OpenMP threads for one row raises p99 latency from microseconds to
milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.descriptions import describe, natural_value, unit
from features.errors import DataError, FlushRiskError
from features.labels import LabelSpec
from features.pipeline import FEATURE_GROUPS, FEATURES, MIN_WINDOW, covers_min_window, features_at
from features.schema import COLUMNS, SIGNAL_GROUPS
from models import FlushModel
from serving.schemas import (
    ModelCard,
    ModelInfo,
    PredictionWarning,
    PredictRequest,
    PredictResponse,
)

TOP_DRIVERS = 5
# A warning lists at most this many features by name; the rest are counted.
_LIST_AT_MOST = 8
_INDEX = {name: j for j, name in enumerate(FEATURES)}


class ModelMismatchError(FlushRiskError):
    """The model cannot be served by this code: its feature list differs from FEATURES."""


class RequestError(FlushRiskError):
    """A request the service cannot answer; ``loc`` names the field (as pydantic does)."""

    def __init__(self, loc: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.loc = tuple(loc)
        self.message = message

    def prefixed(self, *prefix: str | int) -> RequestError:
        """The same error located inside a batch item."""
        return RequestError((*prefix, *self.loc), self.message)


def check_feature_list(model: FlushModel, source: str = "model") -> None:
    """Refuse a model whose booster was trained on another feature list than FEATURES.

    The service builds rows by position in FEATURES; a booster that expects other columns (or
    the same ones in another order) would return a plausible but wrong probability.
    """
    names = list(model.booster.feature_name())
    expected = list(FEATURES)
    if names == expected and list(model.features) == expected:
        return
    missing = [f for f in expected if f not in names]
    extra = [f for f in names if f not in expected]
    detail = []
    if missing:
        detail.append(f"lacks {len(missing)} feature(s) of this code: {missing[:_LIST_AT_MOST]}")
    if extra:
        detail.append(f"has {len(extra)} unknown feature(s): {extra[:_LIST_AT_MOST]}")
    if not missing and not extra:
        pos = next(i for i, (a, b) in enumerate(zip(names, expected, strict=True)) if a != b)
        detail.append(
            f"has the same features in another order (position {pos}: {names[pos]!r}, "
            f"expected {expected[pos]!r})"
        )
    raise ModelMismatchError(
        f"{source} was trained on a different feature list than this version of FlushRisk "
        f"({len(names)} vs {len(expected)} features; it {'; '.join(detail)}). Retrain and "
        "promote the model with this version, or serve it with the version that trained it."
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _describe_spec(spec: Mapping[str, Any]) -> str | None:
    try:
        return LabelSpec.model_validate(dict(spec)).describe()
    except (ValueError, TypeError):
        return None


def _format_duration(delta: pd.Timedelta | timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return "".join(parts) or f"{seconds}s"


class Predictor:
    """A loaded, checked model and the code that turns requests into answers."""

    def __init__(
        self,
        model: FlushModel,
        name: str,
        version: str,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        check_feature_list(model, f"model {name}:{version}")
        self.model = model
        self.name = name
        self.version = version
        labels = dict(labels or {})
        meta = model.metadata
        self.symbol: str | None = _text(labels.get("symbol") or meta.get("symbol"))
        bar = meta.get("bar")
        self.bar: pd.Timedelta | None = pd.Timedelta(bar) if bar else None
        ranges = meta.get("feature_ranges") or {}
        self._lo = np.array([(ranges.get(f) or [np.nan, np.nan])[0] for f in FEATURES], float)
        self._hi = np.array([(ranges.get(f) or [np.nan, np.nan])[1] for f in FEATURES], float)
        self._seen = ~np.isnan(self._lo)
        # Per feature group, the positions of the features the model saw values of in training.
        positions: dict[str, list[int]] = {}
        for j, feature in enumerate(FEATURES):
            if self._seen[j]:
                positions.setdefault(FEATURE_GROUPS[feature], []).append(j)
        self._group_seen = {g: np.asarray(p) for g, p in positions.items()}
        self.groups: list[str] = list(meta.get("groups") or [])
        self._contrib_is_margin = self._check_contrib_identity()
        self.info = ModelInfo(
            name=name,
            version=version,
            mlflow_version=_text(labels.get("mlflow_version") or meta.get("mlflow_version")),
            mlflow_run_id=_text(labels.get("mlflow_run_id") or meta.get("mlflow_run_id")),
            trained_until=_text(meta.get("data_end")),
            bar=_text(bar),
            label_spec=dict(model.label_spec),
            label=_describe_spec(model.label_spec),
        )

    def _check_contrib_identity(self) -> bool:
        """Whether one tree-SHAP pass reproduces FlushModel.predict_proba for this booster."""
        mid = np.where(self._seen, (self._lo + self._hi) / 2.0, np.nan)
        rows = np.vstack([mid, np.full(len(FEATURES), np.nan)])
        self._contrib_is_margin = True  # score() takes the fast path for this comparison
        fast, _ = self.score(rows)
        return bool(np.allclose(fast, self.model.predict_proba(rows), rtol=1e-9, atol=1e-12))

    @classmethod
    def load(
        cls,
        directory: Path | str,
        name: str,
        version: str,
        labels: Mapping[str, str] | None = None,
    ) -> Predictor:
        """Load the FlushModel files in ``directory`` (a BentoML model's path) and check them."""
        return cls(FlushModel.load(directory), name, version, labels)

    def warm_up(self) -> None:
        """Run one synthetic window through features and booster before the first request.

        The feature code is numba-compiled on first use (about a second, even from numba's
        cache); paying it at start-up keeps it out of the first client's latency, and a
        service only reports ready after this.
        """
        bar = self.bar or pd.Timedelta(hours=1)
        n = int(MIN_WINDOW / bar) + 1
        index = pd.date_range("2024-01-01", periods=n, freq=bar, tz="UTC", name="time")
        wave = 100.0 * (1.0 + 0.02 * np.sin(np.arange(n) / 7.0))
        level = {"funding_rate": 1e-4, "taker_buy_ratio": 0.5, "long_short_ratio": 1.2}
        frame = pd.DataFrame(
            {c: level.get(c, 1e6) * np.ones(n) for c in COLUMNS}, index=index.as_unit("ns")
        )
        for column in ("open", "close", "index_price", "mark_price"):
            frame[column] = wave
        frame["high"], frame["low"] = wave * 1.003, wave * 0.997
        row, _ = self._row_from_bars(frame)
        self.score(row[None, :])

    # -- the model card -------------------------------------------------------------------
    def card(self) -> ModelCard:
        meta = self.model.metadata
        hidden = {"feature_ranges", "metrics", "thresholds"}
        return ModelCard(
            model=self.info,
            symbol=self.symbol,
            features=list(FEATURES),
            thresholds=self.model.thresholds,
            min_window=_format_duration(MIN_WINDOW),
            min_bars=int(MIN_WINDOW / self.bar) if self.bar is not None else None,
            groups=self.groups,
            data_start=_text(meta.get("data_start")),
            data_end=_text(meta.get("data_end")),
            metrics=dict(meta.get("metrics") or {}),
            metadata={k: v for k, v in meta.items() if k not in hidden},
        )

    # -- predictions ----------------------------------------------------------------------
    def predict(self, request: PredictRequest, now: datetime | None = None) -> PredictResponse:
        """Answer one validated request (raises RequestError for what validation cannot see)."""
        return self.predict_many([request], now, batch=False)[0]

    def predict_many(
        self,
        requests: Sequence[PredictRequest],
        now: datetime | None = None,
        batch: bool = True,
    ) -> list[PredictResponse]:
        """Answer several requests, scoring all rows in one booster call.

        In a batch, a RequestError's location starts with ``items.<i>``.
        """
        now = now or datetime.now(UTC)
        rows = np.empty((len(requests), len(FEATURES)))
        extras: list[tuple[datetime | None, list[PredictionWarning]]] = []
        for i, request in enumerate(requests):
            try:
                row, as_of, warnings = self._prepare(request, now)
            except RequestError as err:
                raise (err.prefixed("items", i) if batch else err) from None
            rows[i] = row
            extras.append((as_of, warnings))
        probabilities, drivers = self.score(rows)
        levels = self.model.risk_levels(probabilities)
        return [
            PredictResponse(
                symbol=request.symbol,
                probability=float(p),
                risk_level=str(level),
                drivers=row_drivers,
                model=self.info,
                as_of=as_of,
                warnings=warnings,
            )
            for request, p, level, row_drivers, (as_of, warnings) in zip(
                requests, probabilities, levels, drivers, extras, strict=True
            )
        ]

    def score(self, rows: np.ndarray) -> tuple[np.ndarray, list[list[dict[str, Any]]]]:
        """Calibrated probabilities and top drivers of feature rows (in FEATURES order).

        One tree-SHAP pass gives both: for a sigmoid objective the contributions plus the bias
        sum to the booster's raw log-odds, so the separate predict call that
        ``FlushModel.predict_proba`` would make is skipped. Whether that identity holds for
        this booster is checked when the Predictor is built (``_contrib_is_margin``); if not,
        the model's own probability is used and the drivers still come from the SHAP values.
        """
        rows = np.where(np.isinf(rows), np.nan, rows)
        contrib = np.asarray(
            self.model.booster.predict(rows, pred_contrib=True, num_threads=_threads(len(rows)))
        )
        margin = contrib.sum(axis=1)
        if self._contrib_is_margin:
            probabilities = self.model.calibrator(_sigmoid(margin))
        else:
            probabilities = self.model.predict_proba(rows)
        drivers = [
            self._drivers(values, row_contrib, m, p)
            for values, row_contrib, m, p in zip(
                rows, contrib[:, : len(FEATURES)], margin, probabilities, strict=True
            )
        ]
        return probabilities, drivers

    def _drivers(
        self, values: np.ndarray, contrib: np.ndarray, margin: float, probability: float
    ) -> list[dict[str, Any]]:
        """The features with a value that moved this row most, in words and in probability.

        A feature without a value is never a driver: its SHAP value describes the model's
        missing-value branch, not anything the market showed.
        """
        known = ~np.isnan(values)
        order = np.argsort(-np.abs(np.where(known, contrib, 0.0)), kind="stable")
        top = [j for j in order[:TOP_DRIVERS] if known[j] and contrib[j] != 0.0]
        if not top:
            return []
        shap = contrib[top]
        without = self.model.calibrator(_sigmoid(margin - shap))
        context = {FEATURES[j]: float(values[j]) for j in np.flatnonzero(known)}
        return [
            {
                "feature": FEATURES[j],
                "text": describe(FEATURES[j], float(values[j]), context),
                "value": natural_value(FEATURES[j], float(values[j])),
                "unit": unit(FEATURES[j]),
                "raw_value": float(values[j]),
                "contribution": float(probability - p_without),
                "contribution_log_odds": float(c),
            }
            for j, c, p_without in zip(top, shap, without, strict=True)
        ]

    def _prepare(
        self, request: PredictRequest, now: datetime
    ) -> tuple[np.ndarray, datetime | None, list[PredictionWarning]]:
        self._check_symbol(request.symbol)
        warnings: list[PredictionWarning] = []
        if request.bars is not None:
            row, as_of = self._row_from_bars(request.bars.frame())
            warnings += self._group_warnings_bars(list(request.bars.columns))
        else:
            row = self._row_from_features(request.features or {})
            as_of = request.as_of
            warnings += self._group_warnings_features(row)
        warnings += self._range_warnings(row)
        warnings += self._time_warnings(as_of, now)
        return row, as_of, warnings

    def _check_symbol(self, symbol: str) -> None:
        if self.symbol is None:
            return
        if _normal(symbol) != _normal(self.symbol):
            raise RequestError(
                ("symbol",),
                f"this service's model is for {self.symbol}, not {symbol!r}",
            )

    def _row_from_features(self, features: Mapping[str, float | None]) -> np.ndarray:
        row = np.full(len(FEATURES), np.nan)
        for name, value in features.items():
            if value is not None:
                row[_INDEX[name]] = value
        return row

    def _row_from_bars(self, window: pd.DataFrame) -> tuple[np.ndarray, datetime]:
        index = window.index
        step = pd.Timedelta(int(np.diff(index.asi8).min()), unit="ns")
        if self.bar is not None and step != self.bar:
            raise RequestError(
                ("bars",),
                f"bars are {_format_duration(step)} apart but the model was trained on "
                f"{_format_duration(self.bar)} bars; send {_format_duration(self.bar)} bars",
            )
        bar = self.bar or step
        last = index[-1]
        if not covers_min_window(index, bar):
            need = int(MIN_WINDOW / bar)
            have = _format_duration(last - index[0] + bar)
            raise RequestError(
                ("bars",),
                f"the bars cover {have} ({len(index)} bars) but the model needs at least "
                f"{_format_duration(MIN_WINDOW)} of history (the minimum window: {need} bars "
                f"of {_format_duration(bar)}) ending at the last bar",
            )
        # The last row's features depend on (last - MIN_WINDOW, last] only: drop older bars.
        window = window[index > last - MIN_WINDOW]
        try:
            series = features_at(window, bar=bar)
        except DataError as err:
            raise RequestError(("bars",), str(err).replace("features_at: ", "")) from None
        return series.to_numpy(dtype=np.float64), last.to_pydatetime()

    # -- warnings -------------------------------------------------------------------------
    def _range_warnings(self, row: np.ndarray) -> list[PredictionWarning]:
        with np.errstate(invalid="ignore"):
            outside = self._seen & ((row < self._lo) | (row > self._hi))
        if not outside.any():
            return []
        names = [FEATURES[j] for j in np.flatnonzero(outside)]
        shown = ", ".join(
            f"{FEATURES[j]}={row[j]:.4g} (trained on [{self._lo[j]:.4g}, {self._hi[j]:.4g}])"
            for j in np.flatnonzero(outside)[:_LIST_AT_MOST]
        )
        more = f" and {len(names) - _LIST_AT_MOST} more" if len(names) > _LIST_AT_MOST else ""
        return [
            PredictionWarning(
                code="out_of_training_range",
                message=f"{len(names)} feature(s) outside the training range: {shown}{more}; "
                "the model extrapolates there",
                features=names,
            )
        ]

    def _group_warnings_bars(self, columns: list[str]) -> list[PredictionWarning]:
        present = set(present_groups(columns))
        missing = [g for g in self.groups if g not in present]
        if not missing:
            return []
        return [
            PredictionWarning(
                code="missing_signal_group",
                message=f"the model was trained with signal group(s) {missing} that the bars "
                "lack; their features are missing, so the probability leans on the others",
                features=[],
            )
        ]

    def _group_warnings_features(self, row: np.ndarray) -> list[PredictionWarning]:
        lost = {
            group: [FEATURES[j] for j in positions]
            for group, positions in self._group_seen.items()
            if np.isnan(row[positions]).all()
        }
        if not lost:
            return []
        return [
            PredictionWarning(
                code="missing_signal_group",
                message=f"no values for feature group(s) {sorted(lost)} that the model was "
                "trained with; the probability leans on the other features",
                features=[f for names in lost.values() for f in names],
            )
        ]

    def _time_warnings(self, as_of: datetime | None, now: datetime) -> list[PredictionWarning]:
        if as_of is None:
            return []
        bar = (self.bar or pd.Timedelta(hours=1)).to_pytimedelta()
        age = now - as_of
        if age > 2 * bar:
            return [
                PredictionWarning(
                    code="stale_data",
                    message=f"the last bar opened at {as_of.isoformat()}, {_format_duration(age)} "
                    f"ago: newer {_format_duration(bar)} bars exist, so this is the risk as it "
                    "was then, not now",
                )
            ]
        if age < -bar:
            return [
                PredictionWarning(
                    code="future_data",
                    message=f"the last bar opens at {as_of.isoformat()}, in the future of the "
                    f"server clock ({now.isoformat(timespec='seconds')}); check the time zone",
                )
            ]
        return []


def _sigmoid(z: np.ndarray | float) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def _threads(rows: int) -> int:
    """One LightGBM thread for small inputs: starting OpenMP threads costs more than it saves."""
    return 1 if rows <= 256 else 0


def _normal(symbol: str) -> str:
    return "".join(ch for ch in symbol.upper() if ch.isalnum())


def present_groups(columns: Sequence[str]) -> list[str]:
    """Signal groups of bars whose present columns are ``columns`` (each with some value).

    The rule of :func:`features.schema.signal_groups` (a group needs all its columns, basis
    only the index price), applied to column names: a request's all-missing columns are
    already dropped, so presence needs no pass over the values.
    """
    have = set(columns)
    return [
        group
        for group, cols in SIGNAL_GROUPS.items()
        if all(c in have for c in (("index_price",) if group == "basis" else cols))
    ]


__all__ = [
    "TOP_DRIVERS",
    "ModelMismatchError",
    "Predictor",
    "RequestError",
    "check_feature_list",
    "present_groups",
]
