"""The HTTP contract of the prediction service, as pydantic models.

Requests are strict on purpose: an unknown field, a NaN or an infinity, a string where a number
belongs, too many bars, or bars out of time order are the client's mistakes, and the service
answers them with 400 and a message naming the field (``bars.12.high``), never with a guess.
The per-bar checks are the canonical schema's (:mod:`features.schema`) written as field
constraints, so a bad bar is rejected while parsing, with its position, before any pandas work.

Limits come from :func:`features.settings.get_settings` when this module is imported:
``FLUSHRISK_MAX_BARS`` bars per request, ``FLUSHRISK_MAX_BATCH`` requests per batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from features.pipeline import FEATURES
from features.schema import MAX_ABS_FUNDING
from features.settings import get_settings

_settings = get_settings()
MAX_BARS: int = _settings.max_bars
MAX_BATCH: int = _settings.max_batch
RiskLevel = Literal["low", "elevated", "high", "extreme"]

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)
_FEATURE_SET = frozenset(FEATURES)

Price = Annotated[float, Field(gt=0, description="USD, > 0")]
Usd = Annotated[float, Field(ge=0, description="USD notional, >= 0")]


class Bar(BaseModel):
    """One bar of the canonical market frame (see features.schema for units).

    ``time`` is the bar's OPEN time (ISO 8601; a time without zone is read as UTC). Only the
    prices and the funding rate are required; a column missing from every bar means its signal
    group is absent (its features are NaN and the response warns if the model used it).
    """

    model_config = _STRICT

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
    index_price: Price | None = None
    mark_price: Price | None = None
    volume_usd: Usd | None = None
    taker_buy_ratio: Annotated[float, Field(ge=0, le=1)] | None = None
    open_interest_usd: Usd | None = None
    bid_depth_1pct_usd: Usd | None = None
    ask_depth_1pct_usd: Usd | None = None
    bid_depth_2pct_usd: Usd | None = None
    ask_depth_2pct_usd: Usd | None = None
    long_liq_usd: Usd | None = None
    short_liq_usd: Usd | None = None
    long_short_ratio: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _high_above_low(self) -> Bar:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class PredictRequest(BaseModel):
    """One prediction: EITHER recent raw ``bars`` OR precomputed ``features``.

    ``bars`` must cover the model's minimum window (30 days at the model's bar; ``GET /model``
    says how many bars) in increasing time order without duplicates. ``features`` maps feature
    names (``GET /model`` lists them) to values; a feature left out or null is missing (as when
    its signal group is absent). ``as_of`` dates a ``features`` request (the open time of the
    bar they describe) so the service can warn about stale data.
    """

    model_config = _STRICT

    symbol: Annotated[str, Field(min_length=1, max_length=40, examples=["BTC"])]
    bars: Annotated[list[Bar], Field(min_length=2, max_length=MAX_BARS)] | None = None
    features: dict[str, float | None] | None = None
    as_of: datetime | None = None

    @field_validator("bars")
    @classmethod
    def _increasing_times(cls, bars: list[Bar] | None) -> list[Bar] | None:
        if bars is None:
            return None
        previous = _utc(bars[0].time)
        bars[0].time = previous
        for i in range(1, len(bars)):
            current = _utc(bars[i].time)
            bars[i].time = current
            if current <= previous:
                what = "duplicates" if current == previous else "comes before"
                raise ValueError(
                    f"bars.{i}.time ({current.isoformat()}) {what} bars.{i - 1}.time "
                    f"({previous.isoformat()}): bars must be in increasing time order, "
                    "without duplicates"
                )
            previous = current
        return bars

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
        return features

    @field_validator("as_of")
    @classmethod
    def _as_of_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)

    @model_validator(mode="after")
    def _one_input(self) -> PredictRequest:
        if (self.bars is None) == (self.features is None):
            raise ValueError("give exactly one of 'bars' (raw recent bars) or 'features'")
        if self.bars is not None and self.as_of is not None:
            raise ValueError("'as_of' is for a 'features' request; with 'bars' it is the last bar")
        return self


class PredictBatchRequest(BaseModel):
    """Many predictions in one call, answered in the same order."""

    model_config = _STRICT

    items: Annotated[list[PredictRequest], Field(min_length=1, max_length=MAX_BATCH)]


class Driver(BaseModel):
    """A feature that moved this prediction: its value and its contribution.

    ``contribution`` is the feature's exact tree-SHAP value in log-odds of the booster's
    probability: positive pushes the risk up. The calibrator is monotone, so the sign holds for
    the calibrated probability too.
    """

    feature: str
    value: float | None
    contribution: float


class PredictionWarning(BaseModel):
    """Something the caller should know about this prediction; it is still given."""

    code: Literal[
        "out_of_training_range",
        "missing_signal_group",
        "stale_data",
        "future_data",
        "short_window",
    ]
    message: str
    features: list[str] = Field(default_factory=list)


class ModelInfo(BaseModel):
    """Which model answered: enough to find its MLflow run and what its label means."""

    name: str
    version: str
    mlflow_version: str | None
    mlflow_run_id: str | None
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
    warnings: list[PredictionWarning] = Field(default_factory=list)


class PredictBatchResponse(BaseModel):
    """One response per request item, in order."""

    results: list[PredictResponse]


class ModelCard(BaseModel):
    """What the served model is: lineage, training data, features, thresholds, evaluation."""

    model: ModelInfo
    symbol: str | None
    features: list[str]
    thresholds: dict[str, float]
    min_window: str
    min_bars: int | None = Field(None, description="bars of the model's bar that cover min_window")
    max_bars: int = MAX_BARS
    max_batch: int = MAX_BATCH
    groups: list[str] = Field(default_factory=list, description="signal groups trained with")
    data_start: str | None = None
    data_end: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


__all__ = [
    "MAX_BARS",
    "MAX_BATCH",
    "Bar",
    "PredictRequest",
    "PredictBatchRequest",
    "Driver",
    "PredictionWarning",
    "ModelInfo",
    "PredictResponse",
    "PredictBatchResponse",
    "ModelCard",
    "RiskLevel",
]
