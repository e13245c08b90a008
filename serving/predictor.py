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

import bisect
import functools
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.descriptions import (
    describe_natural,
    description,
    natural_value,
    number,
    plausible_natural,
    unit,
)
from features.errors import DataError, FlushRiskError
from features.labels import LabelSpec
from features.pipeline import (
    FEATURE_DEFINITIONS,
    FEATURES,
    MIN_WINDOW,
    features_at,
    features_at_columns,
)
from features.schema import COLUMNS, SIGNAL_GROUPS
from models import FlushModel
from models.flush_model import RISK_LEVELS
from serving.alert_rule import (
    AlertParts,
    alert_parts,
    at_or_above,
    hours_text,
    label_inputs,
    rule_of,
    running_now,
)
from serving.schemas import (
    BarColumns,
    ModelCard,
    ModelInfo,
    PredictionWarning,
    PredictRequest,
    PredictResponse,
)
from serving.single_row import SingleRowContributions

TOP_DRIVERS = 5
# A value this far outside the training range, as a share of that range, is still "inside":
# the range of a finite sample is itself uncertain by about that much.
_RANGE_TOLERANCE = 0.05
MISSING_INPUTS_POLICY = (
    "each missing signal group or feature the model uses gets a warning and "
    "features_present counts what was there; when anything is missing, the probability is "
    "never below the model's base rate (warning probability_floored; model_probability keeps "
    "the model's own answer)"
)
# The warnings that make a probability floored at the base rate, and the floor's own code
# (batch scoring applies the same rule to whole arrays: serving/batch.py).
MISSING_CODES = frozenset({"missing_signal_group", "missing_feature"})
FLOORED_CODE = "probability_floored"
# A warning lists at most this many features by name; the rest are counted.
_LIST_AT_MOST = 8
_INDEX = {name: j for j, name in enumerate(FEATURES)}
_UNITS = [unit(name) for name in FEATURES]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def check_feature_definitions(model: FlushModel, source: str = "model") -> None:
    """Refuse a sub-hourly model trained when the features meant something else.

    The names can match while the values moved: since :data:`FEATURE_DEFINITIONS` 2 the 7- and
    30-day windows of sub-hourly bars come from hourly aggregates. An hourly model of an older
    version sees the same values (served); a 1- or 5-minute one would get values its trees
    never split on, quietly.
    """
    meta = model.metadata
    version = int(meta.get("feature_definitions") or 1)
    bar = meta.get("bar")
    try:
        sub_hourly = bar is not None and pd.Timedelta(bar) < pd.Timedelta(hours=1)
    except (TypeError, ValueError):
        sub_hourly = False
    if version >= FEATURE_DEFINITIONS or not sub_hourly:
        return
    raise ModelMismatchError(
        f"{source} is a {bar} model trained with feature definitions {version}; this version of "
        f"FlushRisk computes the 7- and 30-day features of sub-hourly bars from hourly aggregates "
        f"(definitions {FEATURE_DEFINITIONS}), so its trees would see values they were not "
        "trained on. Retrain and promote the model with this version."
    )


def check_alert_rule(model: FlushModel, source: str = "model") -> None:
    """Refuse a model whose recorded alert rule cannot be applied.

    Every alert surface (``/predict``'s ``alert``, the radar, the card) reads the rule; one it
    cannot read would fail every answer instead of refusing the model once, in words.
    """
    raw = model.metadata.get("alert_rule")
    try:
        rule = model.alert_rule
        calm = model.calm_window
        ok = rule["level"] in RISK_LEVELS[1:] and (calm is None or calm > pd.Timedelta(0))
    except (AttributeError, TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ModelMismatchError(
            f"{source} records an alert rule this version cannot apply ({raw!r}): its level "
            f"must be one of {', '.join(RISK_LEVELS[1:])} and its calm_hours a positive number "
            "or null. Retrain and promote the model (flushrisk train, flushrisk promote)."
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
        check_feature_definitions(model, f"model {name}:{version}")
        check_alert_rule(model, f"model {name}:{version}")
        self.model = model
        self.name = name
        self.version = version
        labels = dict(labels or {})
        meta = model.metadata
        self.symbol: str | None = _text(labels.get("symbol") or meta.get("symbol"))
        pooled = meta.get("symbols")
        self.symbols: list[str] = (
            [str(s) for s in pooled]
            if isinstance(pooled, list | tuple) and pooled
            else ([self.symbol] if self.symbol else [])
        )
        bar = meta.get("bar")
        self.bar: pd.Timedelta | None = pd.Timedelta(bar) if bar else None
        ranges = meta.get("feature_ranges") or {}
        self._lo = np.array([(ranges.get(f) or [np.nan, np.nan])[0] for f in FEATURES], float)
        self._hi = np.array([(ranges.get(f) or [np.nan, np.nan])[1] for f in FEATURES], float)
        self._seen = ~np.isnan(self._lo)
        self.groups: list[str] = list(meta.get("groups") or [])
        base = meta.get("base_rate")
        self.base_rate: float | None = float(base) if base is not None else None
        self.features_used = int(self._seen.sum())
        self._tolerance = _RANGE_TOLERANCE * np.where(self._seen, self._hi - self._lo, 0.0)
        self._below = self._lo - self._tolerance  # outside_range's lower cut, once
        # x - hi is an invalid operation (inf - inf, a warning) only where hi is infinite:
        # otherwise outside_range needs no errstate (comparisons with NaN are quiet)
        self._infinite_max = bool(np.isinf(self._hi).any())
        # Per signal group the model was trained with: the features it feeds (those that have
        # no value when the group's columns are absent), found by running the pipeline.
        self._group_features = self._feature_dependencies()
        self._symbols_normal = frozenset(_normal(s) for s in self.symbols)
        # the booster's tree SHAP of one row through LightGBM's fast single-row path; a blend
        # adds its linear part's exact terms to it as FlushModel.contributions does
        self._fast_contributions: SingleRowContributions | None = SingleRowContributions.create(
            model.booster, self._sample_rows()
        )
        self._booster_only = model.linear is None or model.blend >= 1.0
        self._contrib_is_margin = self._check_contrib_identity()
        self.info = ModelInfo(
            name=_text(labels.get("mlflow_name") or meta.get("mlflow_name")) or name,
            version=_text(labels.get("mlflow_version") or meta.get("mlflow_version")),
            mlflow_run_id=_text(labels.get("mlflow_run_id") or meta.get("mlflow_run_id")),
            bentoml_tag=f"{name}:{version}",
            trained_until=_text(meta.get("data_end")),
            bar=_text(bar),
            label_spec=dict(model.label_spec),
            label=_describe_spec(model.label_spec),
        )

    def _sample_rows(self) -> np.ndarray:
        """Two rows for self-checks: mid-range values of the seen features, and all missing."""
        mid = np.where(self._seen, (self._lo + self._hi) / 2.0, np.nan)
        return np.vstack([mid, np.full(len(FEATURES), np.nan)])

    def _check_contrib_identity(self) -> bool:
        """Whether one tree-SHAP pass reproduces FlushModel.predict_proba for this booster."""
        rows = self._sample_rows()
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
        row, _ = self._row_from_bars(self._synthetic_window())
        self.score(row[None, :])

    def _synthetic_window(self) -> pd.DataFrame:
        """A plausible minimum window of bars with every column, varying smoothly."""
        bar = self._step
        n = int(MIN_WINDOW / bar) + 1
        index = pd.date_range("2024-01-01", periods=n, freq=bar, tz="UTC", name="time")
        steps = np.arange(n)
        wave = 100.0 * (1.0 + 0.02 * np.sin(steps / 7.0))
        level = {"funding_rate": 1e-4, "taker_buy_ratio": 0.5, "long_short_ratio": 1.2}
        frame = pd.DataFrame(
            {
                c: level.get(c, 1e6) * (1.0 + 0.1 * np.sin(steps / (3.0 + k)) ** 2)
                for k, c in enumerate(COLUMNS)
            },
            index=index.as_unit("ns"),
        )
        for column in ("open", "close", "index_price", "mark_price"):
            frame[column] = wave
        frame["high"], frame["low"] = wave * 1.003, wave * 0.997
        return frame

    def _feature_dependencies(self) -> dict[str, np.ndarray]:
        """Signal group -> positions of the seen features that go missing without it."""
        frame = self._synthetic_window()
        bar = self._step
        full = features_at(frame, bar=bar).to_numpy(np.float64)
        out: dict[str, np.ndarray] = {}
        for group, columns in SIGNAL_GROUPS.items():
            if group == "price":
                continue  # required: a request always has it
            partial = features_at(frame.drop(columns=list(columns)), bar=bar).to_numpy(np.float64)
            lost = self._seen & ~np.isnan(full) & np.isnan(partial)
            if lost.any():
                out[group] = np.flatnonzero(lost)
        return out

    # -- the model card -------------------------------------------------------------------
    def card(self) -> ModelCard:
        meta = self.model.metadata
        hidden = {
            "feature_ranges",
            "metrics",
            "thresholds",
            "base_rate",
            "alert_threshold",
            "alert_rule",
            "mlflow_version",
            "mlflow_run_id",
            "mlflow_name",
            "groups",
        }
        # The evaluation's own base rate and mean alert threshold would be second copies of
        # the headline numbers with other values: the card shows the model's once.
        metrics = {
            k: v
            for k, v in (meta.get("metrics") or {}).items()
            if k not in ("base_rate", "alert_threshold")
        }
        return ModelCard(
            model=self.info,
            symbol=self.symbol,
            symbols=list(self.symbols),
            base_rate=self.base_rate,
            alert_threshold=self.model.alert_threshold,
            alert_rule=rule_of(self.model),
            thresholds=self.model.thresholds,
            features=list(FEATURES),
            feature_descriptions={f: f"{description(f).measures} ({unit(f)})" for f in FEATURES},
            features_used=self.features_used,
            min_window=_format_duration(MIN_WINDOW),
            min_bars=int(MIN_WINDOW / self.bar) if self.bar is not None else None,
            groups=self.groups,
            missing_inputs=MISSING_INPUTS_POLICY,
            data_start=_text(meta.get("data_start")),
            data_end=_text(meta.get("data_end")),
            metrics=metrics,
            metadata={k: v for k, v in meta.items() if k not in hidden},
        )

    # -- predictions ----------------------------------------------------------------------
    def predict(self, request: PredictRequest, now: datetime | None = None) -> PredictResponse:
        """Answer one validated request (raises RequestError for what validation cannot see):
        :meth:`predict_many` of one request, without its batch's set-up."""
        row, as_of, warnings = self._prepare(request, now or datetime.now(UTC))
        response = self.respond([request.symbol], row[None, :], [(as_of, warnings)])[0]
        return self.judge_alert(response, request.bars)

    def predict_many(
        self,
        requests: Sequence[PredictRequest],
        now: datetime | None = None,
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
                raise err.prefixed("items", i) from None
            rows[i] = row
            extras.append((as_of, warnings))
        responses = self.respond([r.symbol for r in requests], rows, extras)
        return [self.judge_alert(a, r.bars) for a, r in zip(responses, requests, strict=True)]

    def window(self, as_of: datetime | None) -> dict[str, datetime] | None:
        """The window a probability for the bar opening ``as_of`` covers: from that bar's
        close, one label horizon long (what the label of that row is about)."""
        if as_of is None:
            return None
        bar, horizon = self._window_steps
        start = as_of + bar
        return {"from": start, "until": start + horizon}

    @functools.cached_property
    def _window_steps(self) -> tuple[timedelta, timedelta]:
        """(bar, label horizon) as datetime steps: a window costs two additions per answer."""
        horizon = pd.Timedelta(self.model.label_spec.get("horizon") or "1h")
        return self._step.to_pytimedelta(), horizon.to_pytimedelta()

    def respond(
        self,
        symbols: Sequence[str],
        rows: np.ndarray,
        extras: Sequence[tuple[datetime | None, list[PredictionWarning]]],
    ) -> list[PredictResponse]:
        """Answers for prepared feature rows (FEATURES order), each with its as-of time and
        warnings (see :meth:`row_warnings`): what /predict answers, and what batch scoring
        (training.score) stores for every bar of a history.
        """
        scored, drivers = self.score(rows)
        model_probabilities = scored.tolist()  # Python floats: the same numbers
        probabilities = list(model_probabilities)
        for i, (_, warnings) in enumerate(extras):
            floor = self.floor_probability(model_probabilities[i], warnings)
            if floor is not None:
                probabilities[i] = floor
        levels = self._risk_levels(probabilities)
        if len(rows) == 1:  # /predict: one count, without a reduction along an axis
            present = [int(np.count_nonzero(self._seen & ~np.isnan(rows[0])))]
        else:
            present = (self._seen & ~np.isnan(rows)).sum(axis=1).tolist()
        return [
            PredictResponse(
                symbol=symbol,
                probability=p,
                risk_level=level,
                drivers=row_drivers,
                model=self.info,
                as_of=as_of,
                window=self.window(as_of),
                warnings=warnings,
                features_present=n,
                model_features=self.features_used,
                model_probability=raw,
            )
            for symbol, p, raw, level, row_drivers, n, (as_of, warnings) in zip(
                symbols,
                probabilities,
                model_probabilities,
                levels,
                drivers,
                present,
                extras,
                strict=True,
            )
        ]

    def judge_alert(self, response: PredictResponse, bars: BarColumns | None) -> PredictResponse:
        """Set ``alert`` and ``squeeze_running`` by the model's alert rule, as the radar does.

        Why: the walk-forward judged the model by its rule (from its alert level, and with a
        calm rule only when no squeeze of its label ended in the calm window), so an answer
        that gave only a risk level would leave a caller to alert on something never measured.
        "Running" is read from the request's own bars (their label columns) and only at or
        above the alert level; a features request, or bars without the label's columns, cannot
        tell: the answer then alerts as the radar does with an unknown tape, and says so.
        """
        level, calm, spec, span = self.alert_parts
        if not at_or_above(response.risk_level, level):
            return response  # alert False, squeeze_running None: not judged below the level
        response.alert = True
        if calm is None:
            return response  # a model saved before the calm rule: every hour alerts
        running = None if bars is None or spec is None else self._running(bars, spec, span)
        response.squeeze_running = running
        if running:
            response.alert = False
        elif running is None:
            response.warnings.append(
                PredictionWarning(
                    code="calm_unknown",
                    message=f"the model alerts only when no squeeze of its label ended in the "
                    f"last {hours_text(calm)}; this request does not show whether one did (send "
                    f"bars with {' and '.join(label_inputs(spec))} covering the last "
                    f"{hours_text(span or calm)}): alert is true as for a calm hour",
                )
            )
        return response

    @functools.cached_property
    def alert_parts(self) -> AlertParts:
        """The model's alert rule at its bar (level, calm window, label, how far back "running"
        reads), read once per model: /predict, the radar and /scores' backtest apply it."""
        return alert_parts(self.model, self._step)

    @property
    def _step(self) -> pd.Timedelta:
        """The model's bar (an hour for a model that records none)."""
        return self.bar or pd.Timedelta(hours=1)

    def _running(self, bars: BarColumns, spec: LabelSpec, span: pd.Timedelta) -> bool | None:
        """Whether a squeeze of the label ended in the calm window before the last of ``bars``
        (None: the bars cannot tell; see :func:`features.labels.running_at_last`)."""
        needed = label_inputs(spec)
        if any(name not in bars.columns for name in needed):
            return None  # an all-null column is left out of the request's columns
        times = bars.times_ns
        start = int(np.searchsorted(times, int(times[-1]) - span.value, side="right"))
        columns = {name: bars.columns[name][start:] for name in needed}
        index = pd.DatetimeIndex(times[start:].view("M8[ns]"), tz="UTC")
        return running_now(pd.DataFrame(columns, index=index), self.model, self._step, spec)

    def _risk_levels(self, probabilities: list[float]) -> list[str]:
        """FlushModel.risk_levels with the level edges read once: ``bisect_right`` on Python
        floats finds what ``np.searchsorted(edges, p, side="right")`` finds in sorted edges
        (NaN too: after every edge), without an array for one answer."""
        edges, names, ordered = self._level_edges
        if not ordered:  # not levels; searchsorted answers as it always did
            found = np.searchsorted(np.array(edges), np.array(probabilities), side="right")
            return [names[i] for i in found.tolist()]
        return [names[bisect.bisect_right(edges, p)] for p in probabilities]

    @functools.cached_property
    def _level_edges(self) -> tuple[list[float], tuple[str, ...], bool]:
        """(edges, level names, whether the edges are in order), read once per model."""
        thresholds = self.model.thresholds
        edges = [float(thresholds[k]) for k in RISK_LEVELS[1:]]
        return edges, RISK_LEVELS, edges == sorted(edges)

    def floor_probability(self, p: float, warnings: list[PredictionWarning]) -> float | None:
        """The base rate, when inputs are missing and the model says less (else None).

        A model trained with a signal group has only ever seen it present: with the group
        missing, its answer comes from branches no training row took, and measured on held-out
        rows it is far lower than with the group (see README, "Missing inputs"). Absence must
        not read as safety, so the answer is raised to the training base rate, with a warning.
        """
        if self.base_rate is None or p >= self.base_rate:
            return None
        if not any(w.code in MISSING_CODES for w in warnings):
            return None
        warnings.append(
            PredictionWarning(
                code=FLOORED_CODE,
                message=f"inputs the model was trained with are missing, and the model's own "
                f"answer ({p:.3%}) is below the base rate: the probability given is the base "
                f"rate {self.base_rate:.3%} (the usual frequency), not lower; send the missing "
                "inputs for a real estimate",
            )
        )
        return self.base_rate

    def score(self, rows: np.ndarray) -> tuple[np.ndarray, list[list[dict[str, Any]]]]:
        """Calibrated probabilities and top drivers of feature rows (in FEATURES order).

        One tree-SHAP pass gives both: for a sigmoid objective the contributions plus the bias
        sum to the booster's raw log-odds, so the separate predict call that
        ``FlushModel.predict_proba`` would make is skipped. Whether that identity holds for
        this booster is checked when the Predictor is built (``_contrib_is_margin``); if not,
        the model's own probability is used and the drivers still come from the SHAP values.
        """
        if len(rows) == 1 and self._contrib_is_margin:
            return self._score_one(rows)
        rows, contrib, margin, probabilities = self.explained(rows)
        drivers = [
            self._drivers(values, row_contrib, m, p)
            for values, row_contrib, m, p in zip(
                rows, contrib[:, : len(FEATURES)], margin, probabilities, strict=True
            )
        ]
        return probabilities, drivers

    def _score_one(self, rows: np.ndarray) -> tuple[np.ndarray, list[list[dict[str, Any]]]]:
        """:meth:`score` of one row (/predict) with one calibration instead of two.

        The probability and the drivers' probabilities without their push go through the
        calibrator as one array, ``[margin, margin - shap_1, ...]``: sigmoid and calibrator work
        element by element, so each number is the one separate calls give (batch scoring
        calibrates whole arrays and tests/serving/test_batch.py checks it equals /predict).
        """
        rows, contrib, margin = self._contributions(rows)
        values, row_contrib = rows[0], contrib[0, : len(FEATURES)]
        top, shap = self._top(values, row_contrib)
        m = float(margin[0])
        # the same subtraction as margin - shap in numpy (IEEE doubles either way)
        calibrated = self.model.calibrator(_sigmoid(np.array([m, *(m - c for c in shap)])))
        probability = calibrated[:1]
        if not top:
            return probability, [[]]
        p, *without = calibrated.tolist()
        return probability, [self._worded(values, top, shap, p, without)]

    def explained(
        self, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows (inf as NaN), their contributions, log-odds and model probabilities (see
        :meth:`score`); batch scoring (serving.batch) starts from the same numbers."""
        # Row-major always: the linear part's terms and the SHAP sums are floating-point sums
        # whose order follows the layout, and a column-major frame (DataFrame.to_numpy) would
        # give drivers that differ from /predict's in the last bit.
        rows, contrib, margin = self._contributions(rows)
        if self._contrib_is_margin:
            probabilities = self.model.calibrator(_sigmoid(margin))
        else:
            probabilities = self.model.predict_proba(rows)
        return rows, contrib, margin, probabilities

    def _contributions(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows (inf as NaN), their contributions and log-odds (see :meth:`explained`)."""
        rows = np.ascontiguousarray(np.where(np.isinf(rows), np.nan, rows))
        # tree SHAP, plus the linear part's exact terms for a blended model (models.linear)
        if len(rows) == 1 and self._fast_contributions is not None:  # same numbers, less set-up
            booster = self._fast_contributions(rows[0])[None, :]
            contrib = (
                booster  # what contributions() returns for a booster without a linear part
                if self._booster_only
                else self.model.contributions(rows, booster_contributions=booster)
            )
        else:
            contrib = self.model.contributions(rows)
        return rows, contrib, contrib.sum(axis=1)

    def _drivers(
        self, values: np.ndarray, contrib: np.ndarray, margin: float, probability: float
    ) -> list[dict[str, Any]]:
        """The features with a value that moved this row most, in words and in probability.

        A feature without a value is never a driver: its SHAP value describes the model's
        missing-value branch, not anything the market showed.
        """
        top, shap = self._top(values, contrib)
        if not top:
            return []
        without = self.model.calibrator(_sigmoid(margin - np.array(shap, dtype=np.float64)))
        return self._worded(values, top, shap, probability, without.tolist())

    @staticmethod
    def _top(
        values: np.ndarray, contrib: np.ndarray
    ) -> tuple[list[tuple[int, float, float]], list[float]]:
        """(position, raw value, natural value) of each driver of a row, and their SHAP values,
        largest first (see :meth:`_drivers`)."""
        order = (-np.abs(np.where(np.isnan(values), 0.0, contrib))).argsort(kind="stable")
        # A value no market can show (inf, or beyond MAX_NATURAL) has no number to give: it is
        # named by the out_of_training_range warning instead of being a driver.
        # Read as Python floats (one row: no per-element numpy calls); the natural value is
        # computed once, as plausible() does.
        top: list[tuple[int, float, float]] = []
        shap: list[float] = []
        row_values, row_contrib = values.tolist(), contrib.tolist()
        # the TOP_DRIVERS largest among the features that can be drivers: a row whose largest
        # contributions all come from impossible values is still explained by its ordinary ones
        for j in order.tolist():
            raw = row_values[j]
            if math.isnan(raw) or row_contrib[j] == 0.0:
                continue
            natural = natural_value(FEATURES[j], raw)
            if plausible_natural(natural):
                top.append((j, raw, natural))
                shap.append(row_contrib[j])
                if len(top) == TOP_DRIVERS:
                    break
        return top, shap

    @staticmethod
    def _worded(
        values: np.ndarray,
        top: list[tuple[int, float, float]],
        shap: list[float],
        probability: float,
        without: list[float],
    ) -> list[dict[str, Any]]:
        """The drivers as /predict answers them: words, numbers, and the change in probability
        (``without``: the calibrated probability with each driver's push removed)."""
        context = _RowValues(values)
        return [
            {
                "feature": FEATURES[j],
                "text": describe_natural(FEATURES[j], natural, context),
                "value": natural,
                "unit": _UNITS[j],
                "raw_value": raw,
                "contribution": float(probability - p_without),
                "contribution_log_odds": c,
            }
            for (j, raw, natural), c, p_without in zip(top, shap, without, strict=True)
        ]

    def _prepare(
        self, request: PredictRequest, now: datetime
    ) -> tuple[np.ndarray, datetime | None, list[PredictionWarning]]:
        self._check_symbol(request.symbol)
        warnings: list[PredictionWarning] = []
        if request.bars is not None:
            row, as_of = self._row_from_columns(request.bars.times_ns, request.bars.columns)
            columns: list[str] | None = list(request.bars.columns)
        else:
            row = self._row_from_features(request.features or {})
            as_of = request.as_of
            columns = None
        warnings += self.row_warnings(row, columns)
        warnings += self._time_warnings(as_of, now)
        return row, as_of, warnings

    def row_warnings(self, row: np.ndarray, columns: list[str] | None) -> list[PredictionWarning]:
        """Missing inputs and values outside the training range for one feature row
        (``columns``: the bar columns it was built from, or None for a features request)."""
        return self._missing_warnings(row, columns) + self._range_warnings(row)

    def _check_symbol(self, symbol: str) -> None:
        if not self.symbols:
            return
        if _normal(symbol) not in self._symbols_normal:
            served = ", ".join(self.symbols[:_LIST_AT_MOST])
            raise RequestError(
                ("symbol",),
                f"this model is for {served}, not {symbol!r}",
            )

    def _row_from_features(self, features: Mapping[str, float | None]) -> np.ndarray:
        # a feature left out or null is missing: None becomes NaN in a float array
        return np.array(list(map(features.get, FEATURES)), dtype=np.float64)

    def _row_from_bars(self, window: pd.DataFrame) -> tuple[np.ndarray, datetime]:
        """The feature row of a canonical frame's last bar (see :meth:`_row_from_columns`)."""
        columns = {str(c): window[c].to_numpy(np.float64) for c in window.columns}
        return self._row_from_columns(window.index.as_unit("ns").asi8, columns)

    def _row_from_columns(
        self, times: np.ndarray, columns: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, datetime]:
        """The feature row of the last of these bars (UTC open times in ns, increasing).

        Checks the bar size against the model's and that the bars reach back MIN_WINDOW from
        the last one, then runs the training pipeline on exactly that window, as arrays.
        """
        step_ns = int(np.diff(times).min())
        step = pd.Timedelta(step_ns, unit="ns")
        if self.bar is not None and step != self.bar:
            raise RequestError(
                ("bars",),
                f"bars are {_format_duration(step)} apart but the model was trained on "
                f"{_format_duration(self.bar)} bars; send {_format_duration(self.bar)} bars",
            )
        bar = self.bar or step
        first, last = int(times[0]), int(times[-1])
        window_ns = MIN_WINDOW.value
        if last - first + bar.value < window_ns:
            need = int(MIN_WINDOW / bar)
            have = _format_duration(pd.Timedelta(last - first + bar.value, unit="ns"))
            raise RequestError(
                ("bars",),
                f"the bars cover {have} ({len(times)} bars) but the model needs at least "
                f"{_format_duration(MIN_WINDOW)} of history (the minimum window: {need} bars "
                f"of {_format_duration(bar)}) ending at the last bar",
            )
        # The last row's features depend on (last - MIN_WINDOW, last] only: drop older bars.
        start = int(np.searchsorted(times, last - window_ns, side="right"))
        if start:
            times = times[start:]
            columns = {name: values[start:] for name, values in columns.items()}
        try:
            row = features_at_columns(times, columns, bar=bar)
        except DataError as err:
            raise RequestError(("bars",), str(err).replace("features_at: ", "")) from None
        as_of = _EPOCH + timedelta(microseconds=last // 1000)
        return row, as_of

    # -- warnings -------------------------------------------------------------------------
    @property
    def seen(self) -> np.ndarray:
        """Per feature of FEATURES: whether the model saw values of it in training (a copy)."""
        return self._seen.copy()

    def range_cuts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lo - tolerance, hi, tolerance) per feature: a value x is outside its training range
        when ``x < lo - tolerance`` or ``x - hi > tolerance`` (as :meth:`outside_range`)."""
        return self._below, self._hi, self._tolerance

    def outside_range(self, rows: np.ndarray) -> np.ndarray:
        """Per row and feature: a seen feature's value outside its training range (with the
        tolerance); ``rows`` is one row or a 2-D array in FEATURES order."""
        if self._infinite_max:
            with np.errstate(invalid="ignore"):
                return self._outside(rows)
        return self._outside(rows)

    def _outside(self, rows: np.ndarray) -> np.ndarray:
        # a - b > 0 exactly when a > b (IEEE), so these are lo - tol - x > 0 and
        # x - hi - tol > 0 with one temporary array instead of four
        outside = rows < self._below
        outside |= (rows - self._hi) > self._tolerance
        outside &= self._seen
        return outside

    def _range_warnings(self, row: np.ndarray) -> list[PredictionWarning]:
        outside = self.outside_range(row)
        if not np.count_nonzero(outside):
            return []
        names = [FEATURES[j] for j in np.flatnonzero(outside)]
        shown = "; ".join(
            self._how_far_out(j, row[j]) for j in np.flatnonzero(outside)[:_LIST_AT_MOST]
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

    def _how_far_out(self, j: int, value: float) -> str:
        lo, hi = self._lo[j], self._hi[j]
        spread = hi - lo
        beyond, edge, side = (value - hi, hi, "above") if value > hi else (lo - value, lo, "below")
        share = f" ({number(100 * beyond / spread)} % of the training spread)" if spread > 0 else ""
        return (
            f"{FEATURES[j]} = {number(value, 4)} is {number(beyond)} {side} the training "
            f"{'maximum' if side == 'above' else 'minimum'} {number(edge, 4)}{share}"
        )

    def _missing_warnings(
        self, row: np.ndarray, columns: list[str] | None
    ) -> list[PredictionWarning]:
        """One warning per missing signal group, and one per other missing feature.

        Missing means: a feature the model saw values of in training has no value here. Groups
        the model was trained without are never asked for, so a request that brings more
        groups than the model uses gets no warning.
        """
        missing = self._seen & np.isnan(row)
        if not np.count_nonzero(missing):
            return []
        out: list[PredictionWarning] = []
        covered = np.zeros(len(FEATURES), dtype=bool)
        for group, positions in self._group_features.items():
            if not missing[positions].all():
                continue
            covered[positions] = True
            names = [FEATURES[j] for j in positions]
            if columns is not None:
                where = f"the bars have no {'/'.join(SIGNAL_GROUPS[group])} values"
            else:
                where = "none of its features has a value"
            out.append(
                PredictionWarning(
                    code="missing_signal_group",
                    message=f"signal group '{group}' is missing ({where}): the model was trained "
                    f"with it, and its {len(names)} feature(s) are missing from this prediction",
                    features=names,
                )
            )
        for j in np.flatnonzero(missing & ~covered):
            out.append(
                PredictionWarning(
                    code="missing_feature",
                    message=f"feature '{FEATURES[j]}' has no value ({description(FEATURES[j]).measures}); "
                    "the model was trained with it",
                    features=[FEATURES[j]],
                )
            )
        return out

    def _time_warnings(self, as_of: datetime | None, now: datetime) -> list[PredictionWarning]:
        if as_of is None:
            return []
        bar = self._window_steps[0]  # the model's bar as a datetime step, made once
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


class _RowValues(Mapping[str, float]):
    """A feature row read by name (a driver's text reads one other feature for context),
    without building a dict of every feature for each prediction."""

    def __init__(self, values: np.ndarray) -> None:
        self._values = values

    def __getitem__(self, name: str) -> float:
        value = float(self._values[_INDEX[name]])
        if np.isnan(value):
            raise KeyError(name)  # a missing value is no context
        return value

    def __iter__(self) -> Iterator[str]:
        return (name for name in FEATURES if not np.isnan(self._values[_INDEX[name]]))

    def __len__(self) -> int:
        return int((~np.isnan(self._values)).sum())


def _sigmoid(z: np.ndarray | float) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


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
    "FLOORED_CODE",
    "MISSING_CODES",
    "TOP_DRIVERS",
    "ModelMismatchError",
    "Predictor",
    "RequestError",
    "check_feature_definitions",
    "check_feature_list",
    "present_groups",
]
