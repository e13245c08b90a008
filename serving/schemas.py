"""The HTTP contract of the prediction service, as pydantic models.

Requests are strict on purpose: an unknown field, a NaN or an infinity, text that is not a
number where a number belongs (a numeric string such as "1.5" is read as the number), too many
bars, or bars out of time order are the client's mistakes, and the service
answers them with 400 and a message naming the field (``bars.12.high``), never with a guess.
The per-bar checks are the canonical schema's (:mod:`features.schema`) written as field
constraints, so a bad bar is rejected while parsing, with its position, before any pandas work.

Limits come from :func:`features.settings.get_settings` when this module is imported:
``FLUSHRISK_MAX_BARS`` bars per request, ``FLUSHRISK_MAX_BATCH`` requests per batch.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Annotated, Any, Literal, NotRequired

import numpy as np
import orjson
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, core_schema
from typing_extensions import TypedDict

from features.descriptions import MAX_NATURAL, plausible, unit
from features.pipeline import FEATURES
from features.schema import COLUMNS, MAX_ABS_FUNDING
from features.settings import get_settings
from serving.bar_columns import BarReader

_settings = get_settings()
MAX_BARS: int = _settings.max_bars
MAX_BATCH: int = _settings.max_batch
MIN_BARS = 2
RiskLevel = Literal["low", "elevated", "high", "extreme"]

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)
_FEATURE_SET = frozenset(FEATURES)
PLAUSIBLE_ALWAYS = 20.0
"""A feature value at most this large is plausible whatever its unit (the steepest, a log
ratio in percent, gives 100 * expm1(20) = 4.9e10, far below MAX_NATURAL): a features request
converts only larger values to their natural unit to check them (tests/serving/
test_bar_columns.py checks every feature)."""

Price = Annotated[float, Field(gt=0, description="USD, > 0")]
Usd = Annotated[float, Field(ge=0, description="USD notional, >= 0")]


class Bar(TypedDict):
    """One bar of the canonical market frame (see features.schema for units).

    ``time`` is the bar's OPEN time (ISO 8601; a time without zone is read as UTC). Only the
    prices and the funding rate are required; a column missing from every bar means its signal
    group is absent (its features are NaN and the response warns if the model used it).
    A TypedDict, not a model: 720 bars parse about a third faster.
    """

    __pydantic_config__ = _STRICT  # type: ignore[misc]

    time: datetime
    open: Price
    high: Price
    low: Price
    close: Price
    funding_rate: Annotated[
        float,
        Field(
            ge=-MAX_ABS_FUNDING,
            le=MAX_ABS_FUNDING,
            description="fraction per 8 hours (0.0001 = 0.01 %)",
        ),
    ]
    index_price: NotRequired[Price | None]
    mark_price: NotRequired[Price | None]
    volume_usd: NotRequired[Usd | None]
    taker_buy_ratio: NotRequired[Annotated[float, Field(ge=0, le=1)] | None]
    open_interest_usd: NotRequired[Usd | None]
    bid_depth_1pct_usd: NotRequired[Usd | None]
    ask_depth_1pct_usd: NotRequired[Usd | None]
    bid_depth_2pct_usd: NotRequired[Usd | None]
    ask_depth_2pct_usd: NotRequired[Usd | None]
    long_liq_usd: NotRequired[Usd | None]
    short_liq_usd: NotRequired[Usd | None]
    long_short_ratio: NotRequired[Annotated[float, Field(gt=0)] | None]
    spot_volume_usd: NotRequired[Usd | None]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Times the pipeline can represent (nanoseconds in int64), from the epoch on.
TIME_MIN = _EPOCH
TIME_MAX = datetime(2262, 1, 1, tzinfo=UTC)
_NS_MAX = ((TIME_MAX - _EPOCH) // _MICROSECOND) * 1000


def _ns(value: datetime) -> int:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return ((aware - _EPOCH) // _MICROSECOND) * 1000


class BarColumns:
    """The validated bars of a request, columnar: what the feature code needs.

    Parsed from (and described in the API schema as) a JSON list of :class:`Bar`. Building the
    arrays once while parsing also lets the cross-bar checks (time order, high >= low) run
    vectorised, and name the first offending bar.
    """

    def __init__(self, times_ns: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        self.times_ns = times_ns
        self.columns = columns

    def __len__(self) -> int:
        return len(self.times_ns)

    @classmethod
    def from_bars(cls, bars: list[dict[str, Any]]) -> BarColumns:
        """From bars pydantic validated one by one (:class:`Bar`)."""
        stamps = [_ns(b["time"]) for b in bars]
        if min(stamps) < 0 or max(stamps) >= _NS_MAX:
            i = next(j for j, v in enumerate(stamps) if not 0 <= v < _NS_MAX)
            raise ValueError(
                f"bars.{i}.time must lie between {TIME_MIN:%Y-%m-%d} and {TIME_MAX:%Y-%m-%d}"
            )
        return cls.checked(np.array(stamps, dtype=np.int64), _columns(bars))

    @classmethod
    def checked(cls, times: np.ndarray, columns: dict[str, np.ndarray]) -> BarColumns:
        """The checks across bars (time order, high >= low), naming the first bad bar."""
        steps = np.diff(times)
        if (steps <= 0).any():
            i = int(np.argmax(steps <= 0)) + 1
            what = "duplicates" if steps[i - 1] == 0 else "comes before"
            raise ValueError(
                f"bars.{i}.time ({_iso(times[i])}) {what} bars.{i - 1}.time "
                f"({_iso(times[i - 1])}): bars must be in increasing time order, without duplicates"
            )
        crossed = columns["high"] < columns["low"]
        if crossed.any():
            i = int(np.argmax(crossed))
            raise ValueError(
                f"bars.{i}: high ({columns['high'][i]}) must be >= low ({columns['low'][i]})"
            )
        return cls(times, columns)

    @classmethod
    def _parse(cls, value: Any, validate: Any) -> BarColumns:
        """Plainly valid bars straight into columns (:mod:`serving.bar_columns`); anything
        else through pydantic's per-bar validation (``validate``), which names the field."""
        fast = _READER(value)
        if fast is None:
            return cls.from_bars(validate(value))
        return cls.checked(*fast)

    def to_bars(self) -> list[dict[str, Any]]:
        """Back to JSON bars (missing values left out)."""
        out = []
        for i, t in enumerate(self.times_ns):
            bar: dict[str, Any] = {"time": _iso(t)}
            bar.update({n: float(v[i]) for n, v in self.columns.items() if not np.isnan(v[i])})
            out.append(bar)
        return out

    def frame(self) -> pd.DataFrame:
        """A canonical frame: ns UTC index 'time', float64 columns (absent ones left out)."""
        index = pd.DatetimeIndex(self.times_ns, tz="UTC", name="time")
        return pd.DataFrame(self.columns, index=index, copy=False)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        bars = handler.generate_schema(
            Annotated[list[Bar], Field(min_length=MIN_BARS, max_length=MAX_BARS)]
        )
        return core_schema.no_info_wrap_validator_function(
            cls._parse,
            bars,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda v: v.to_bars()),
        )


_READER = BarReader(Bar, MIN_BARS, MAX_BARS, _NS_MAX)


def _columns(bars: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The bars' values as contiguous float64 columns in COLUMNS order, None as NaN; a column
    without any value is left out (its signal group is absent).

    One pass over the bars: when every bar has the first bar's fields (the usual request),
    one ``itemgetter`` per bar reads them all; otherwise each column is read with ``get``.
    """
    first = bars[0]
    names = [name for name in COLUMNS if name in first]
    width = len(first)
    if all(len(b) == width for b in bars):
        try:
            table = np.array(list(map(itemgetter(*names), bars)), dtype=np.float64).T.copy()
        except KeyError:  # same number of fields, other names: the general path below
            pass
        else:
            return {n: v for n, v in zip(names, table, strict=True) if not np.isnan(v).all()}
    columns = {}
    for name in COLUMNS:
        values = np.array([b.get(name) for b in bars], dtype=np.float64)
        if not np.isnan(values).all():
            columns[name] = values
    return columns


def _iso(ns: int | np.integer) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat()


def _utc(value: datetime) -> datetime:
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"must lie between {TIME_MIN:%Y-%m-%d} and {TIME_MAX:%Y-%m-%d}") from None


class PredictRequest(BaseModel):
    """One prediction: EITHER recent raw ``bars`` OR precomputed ``features``.

    ``bars`` must cover the model's minimum window (30 days at the model's bar; ``GET /model``
    says how many bars) in increasing time order without duplicates, at most ``MAX_BARS``.
    ``features`` maps feature names (``GET /model`` lists them) to values; a feature left out
    or null is missing (as when its signal group is absent). ``as_of`` dates a ``features``
    request (the open time of the bar they describe) so the service can warn about stale data.
    """

    model_config = _STRICT

    symbol: Annotated[str, Field(min_length=1, max_length=40, examples=["BTC"])]
    # Absent or an object: an explicit null is refused (the API spec says so too).
    bars: BarColumns = None  # type: ignore[assignment]
    features: dict[str, float | None] = None  # type: ignore[assignment]
    as_of: datetime | None = None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Any:
        """Parse with orjson, then validate the Python objects (BentoML parses request bodies
        with this method too).

        A 720-bar body parses about twice as fast this way, and the bars then take the column
        path (:mod:`serving.bar_columns`). Anything this path refuses (JSON orjson cannot read,
        NaN or infinite literals, any validation error) is parsed again by pydantic's own JSON
        validation, so an invalid body gets exactly the 400 answer it always got.
        """
        try:
            data = orjson.loads(json_data)
            if not kwargs and _plain_features_body(data):
                # what validation would give, without validating 80 values a second time
                return cls.model_construct(symbol=data["symbol"], features=data["features"])
            return cls.model_validate(data, **kwargs)
        except (orjson.JSONDecodeError, ValidationError):
            return super().model_validate_json(json_data, **kwargs)

    @field_validator("features")
    @classmethod
    def _known_features(cls, features: dict[str, float | None] | None) -> Any:
        if features is None:
            return None
        unknown = sorted(k for k in features if k not in _FEATURE_SET)
        if unknown:
            raise ValueError(
                f"unknown feature name(s) {unknown[:10]}; GET /model lists the "
                f"{len(FEATURES)} features"
            )
        absurd = [k for k, v in features.items() if v is not None and not _plausible_value(k, v)]
        if absurd:
            name = absurd[0]
            raise ValueError(
                f"{name} = {features[name]!r} is not a plausible value (at most "
                f"{MAX_NATURAL:.0e} in its unit, {unit(name)!r})"
                + (f"; also {absurd[1:6]}" if len(absurd) > 1 else "")
            )
        return features

    @field_validator("as_of")
    @classmethod
    def _as_of_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        value = _utc(value)
        if not TIME_MIN <= value < TIME_MAX:
            raise ValueError(f"must lie between {TIME_MIN:%Y-%m-%d} and {TIME_MAX:%Y-%m-%d}")
        return value

    @model_validator(mode="after")
    def _one_input(self) -> PredictRequest:
        if (self.bars is None) == (self.features is None):
            raise ValueError("give exactly one of 'bars' (raw recent bars) or 'features'")
        if self.bars is not None and self.as_of is not None:
            raise ValueError("'as_of' is for a 'features' request; with 'bars' it is the last bar")
        return self


def _plausible_value(name: str, value: float) -> bool:
    """The features validator's one rule for a value: |v| <= PLAUSIBLE_ALWAYS is plausible in
    every unit (no conversion), a larger finite one is converted and checked in its unit."""
    return -PLAUSIBLE_ALWAYS <= value <= PLAUSIBLE_ALWAYS or (
        math.isfinite(value) and plausible(name, value)
    )


def _plain_features_body(data: Any) -> bool:
    """Whether ``data`` is a features request that validation would accept exactly as it is.

    Only the common case, checked conservatively: the keys ``symbol`` and ``features`` and no
    others; a symbol of 1 to 40 printable ASCII characters without surrounding spaces (nothing
    for ``str_strip_whitespace`` to strip); known feature names with finite floats (no ints,
    which validation converts) or null, each either at most PLAUSIBLE_ALWAYS or finite and
    plausible in its unit (the validator's own rule: hour counts such as
    ``funding_positive_hours`` are often larger than PLAUSIBLE_ALWAYS). Anything else is
    validated by pydantic, so every error answer stays the same
    (``tests/serving/test_bar_columns.py`` compares both paths on generated bodies).
    """
    if type(data) is not dict or data.keys() != _FEATURES_BODY_KEYS:
        return False
    symbol, features = data["symbol"], data["features"]
    if (
        type(symbol) is not str
        or not 1 <= len(symbol) <= 40
        or not symbol.isascii()
        or not symbol.isprintable()
        or symbol[0] == " "
        or symbol[-1] == " "
        or type(features) is not dict
        or not features.keys() <= _FEATURE_SET
    ):
        return False
    for name, value in features.items():
        if value is None:
            continue
        if type(value) is not float:
            return False
        if not _plausible_value(name, value):
            return False  # NaN and the infinities (refused by validation) end here too
    return True


_FEATURES_BODY_KEYS = frozenset({"symbol", "features"})


class PredictBatchRequest(BaseModel):
    """Many predictions in one call, answered in the same order."""

    model_config = _STRICT

    items: Annotated[list[PredictRequest], Field(min_length=1, max_length=MAX_BATCH)]


class Driver(BaseModel):
    """A feature that moved this prediction, in plain words, with its effect on the probability.

    ``text`` says what the value means in natural units ("funding 0.041 % per 8 h, 2.6
    standard deviations above its 7-day mean"); ``value`` is that number in ``unit`` and
    ``raw_value`` the pipeline's own value (GET /model lists what each feature measures).
    ``contribution`` is the change in probability this feature caused: the probability minus
    the probability with this feature's push removed (the other features as they are).
    ``contribution_log_odds`` is the exact tree-SHAP value behind it, in log-odds of the
    booster's probability (they add up, with the bias, to the booster's log-odds). Features
    without a value never appear as drivers.
    """

    feature: str
    text: str = Field(description="the value in words, in natural units")
    value: float = Field(description="the feature's value in its natural unit")
    unit: str = Field(description="the natural unit of value (%, % per 8 h, x, hours, ...)")
    raw_value: float = Field(description="the feature's value as the model sees it")
    contribution: float = Field(
        description="change in probability due to this feature (positive: raises the risk)"
    )
    contribution_log_odds: float = Field(description="tree-SHAP value, log-odds of the booster")


class PredictionWarning(BaseModel):
    """Something the caller should know about this prediction; it is still given."""

    code: Literal[
        "out_of_training_range",
        "missing_signal_group",
        "missing_feature",
        "probability_floored",
        "stale_data",
        "simulated_data",
        "future_data",
        "short_window",
        "calm_unknown",
    ]
    message: str
    features: list[str] = Field(default_factory=list)


class ModelInfo(BaseModel):
    """Which model answered: its registry name and version, its MLflow run, its label."""

    name: str = Field(description="registered model name in the MLflow registry")
    version: str | None = Field(
        description="model version in the MLflow registry (the one `flushrisk models` lists)"
    )
    mlflow_run_id: str | None = Field(description="the MLflow run that trained it")
    bentoml_tag: str = Field(description="the BentoML store's tag of the exported files")
    trained_until: str | None
    bar: str | None
    label_spec: dict[str, Any]
    label: str | None = Field(None, description="what a positive label means, in words")


class PredictResponse(BaseModel):
    """A calibrated probability of a long squeeze within the label horizon, and why."""

    symbol: str
    probability: float = Field(ge=0, le=1)
    risk_level: RiskLevel
    drivers: list[Driver]
    model: ModelInfo
    as_of: datetime | None = Field(None, description="open time of the last bar used")
    window: dict[str, datetime] | None = Field(
        None,
        description="the window the probability covers, UTC: 'from' the close of the bar "
        "scored (as_of + bar) 'until' one label horizon later; null without as_of",
    )
    warnings: list[PredictionWarning] = Field(default_factory=list)
    features_present: int = Field(
        description="how many of the model's features had a value in this prediction"
    )
    model_features: int = Field(description="how many features the model was trained with")
    model_probability: float = Field(
        ge=0,
        le=1,
        description="the model's own answer; differs from probability only when missing "
        "inputs raised it to the base rate (warning probability_floored)",
    )
    alert: bool = Field(
        False,
        description="whether the model's alert rule fires for this bar (GET /model: alert_rule), "
        "as the radar's alerts and the walk-forward evaluation count it: at or above the alert "
        "level and, for a model with a calm rule, not while a squeeze of its label runs "
        "(squeeze_running); with squeeze_running unknown it alerts as for a calm hour, with "
        "the warning calm_unknown",
    )
    squeeze_running: bool | None = Field(
        None,
        description="true: a squeeze of the model's label ended in its calm window (6 h) before "
        "this bar, read from the request's bars ('squeeze under way': no new alert); false: a "
        "calm hour; null: not judged (below the alert level, or a model without a calm rule) "
        "or not known (a features request, or bars without the label's columns)",
    )


class PredictBatchResponse(BaseModel):
    """One response per request item, in order."""

    results: list[PredictResponse]


class AlertRule(BaseModel):
    """The rule the model's evaluation judged its alerts by, and every alert surface uses."""

    level: RiskLevel = Field(description="the risk level from which the model alerts")
    calm_hours: float | None = Field(
        description="alerts only in hours after this long without a squeeze of the model's "
        "label (while one runs: 'squeeze under way', no new alert); null: in every hour "
        "(a model saved before the onset rule)"
    )
    text: str = Field(description="the rule in words")


CARD_LABELS: dict[str, str] = {
    "model.version": "Model version (MLflow registry)",
    "base_rate": "Base rate: share of training bars followed by a squeeze (the usual risk)",
    "alert_threshold": "Alert threshold: the probability from which the model alerts, in calm "
    "hours only when its alert rule has a calm window (no squeeze of its label in the last 6 h)",
    "alert_rule": "When the model alerts: from which risk level, and only after how many hours "
    "without a squeeze of its label (calm_hours; null: in every hour)",
    "thresholds": "Where the risk levels elevated, high and extreme begin",
    "groups": "Signal groups the model uses (a request without one gets a warning)",
    "metrics": "Out-of-sample evaluation (walk-forward)",
}


class ModelCard(BaseModel):
    """What the served model is: lineage, training data, features, thresholds, evaluation.

    Each headline number appears once, with a plain label in ``labels``.
    """

    model: ModelInfo
    symbol: str | None
    symbols: list[str] = Field(default_factory=list, description="symbols this model serves")
    base_rate: float | None = Field(None, description=CARD_LABELS["base_rate"])
    alert_threshold: float = Field(description=CARD_LABELS["alert_threshold"])
    alert_rule: AlertRule = Field(description=CARD_LABELS["alert_rule"])
    thresholds: dict[str, float] = Field(description=CARD_LABELS["thresholds"])
    labels: dict[str, str] = Field(default_factory=lambda: dict(CARD_LABELS))
    features: list[str]
    feature_descriptions: dict[str, str] = Field(
        default_factory=dict, description="what each feature measures, and its unit"
    )
    features_used: int = Field(description="features the model saw values of in training")
    min_window: str
    min_bars: int | None = Field(None, description="bars of the model's bar that cover min_window")
    max_bars: int = MAX_BARS
    max_batch: int = MAX_BATCH
    groups: list[str] = Field(default_factory=list, description=CARD_LABELS["groups"])
    missing_inputs: str = Field(
        description="what the service does when inputs the model uses are missing"
    )
    data_start: str | None = None
    data_end: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, description=CARD_LABELS["metrics"])
    metadata: dict[str, Any] = Field(default_factory=dict)


__all__ = [
    "MAX_BARS",
    "MAX_BATCH",
    "AlertRule",
    "Bar",
    "BarColumns",
    "Driver",
    "ModelCard",
    "ModelInfo",
    "PredictBatchRequest",
    "PredictBatchResponse",
    "PredictRequest",
    "PredictResponse",
    "PredictionWarning",
    "RiskLevel",
]
