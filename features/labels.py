"""What the model predicts: did a long squeeze happen in the next hour?

Two definitions, each described by a :class:`LabelSpec` that is stored wherever the label is
used (training runs, model metadata), so that a probability always says what it is about.

* ``liquidation``: long liquidations in (t, t + horizon] reach a threshold: a fraction of the
  open interest at t by default (0.3 %: comparable across symbols and price levels), or a fixed
  USD amount.
* ``proxy``, for data without liquidations: the lowest price in (t, t + horizon] falls at
  least ``k_vol`` trailing-volatility units below the close at t. The trailing volatility is
  the standard deviation of 1-bar log returns over ``vol_window`` up to t, scaled to the
  horizon by sqrt(bars in the horizon): with 1h bars and a 1h horizon, k_vol=3 means a drop
  of three typical hourly moves. Optionally the open interest must also drop by
  ``oi_drop_pct`` percent (its minimum over the window against its value at t).

Label strength (:func:`make_label_strength`): how close each hour came to the threshold, as a
ratio that is >= 1 exactly where the label is 1 (liquidation: forward long liquidations /
threshold; proxy: forward drop / required drop, 0 when the price did not fall). A symbol-year
holds only ~100-200 positives; near misses carry information about the same mechanism, so the
booster may train on a target derived from the strength while everything is still evaluated and
calibrated on the hard label.

Onset label (``onset``, e.g. 6h): the trader's question is "warn me before it STARTS". With
``onset`` set, a row is positive only when its horizon holds a squeeze AND no labelled squeeze
ended within the previous ``onset`` hours; rows inside a running cascade (a labelled squeeze whose
window ended within ``(t - onset, t]``: a row s with label 1 and ``t - onset <= s <= t -
horizon``) get NaN, so they are left out of training and evaluation. Only windows that ended by
t count, so the rule uses nothing after t. Unknown past labels (gaps) count as no squeeze.

Index convention: the index is the bar open time and a row's values are known at its close,
so the forward window of row t is the rows with index in (t, t + horizon]. A row whose forward
window is incomplete (a missing bar, or the end of the data) gets NaN: no label, not a 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from features.errors import DataError
from features.rolling import Grid, ratio

DEFAULT_OI_FRACTION = 0.003


def _parse_duration(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return pd.Timedelta(value.strip()).to_pytimedelta()
        except ValueError:
            raise ValueError(f"not a duration: {value!r} (examples: '1h', '30min', '7D')") from None
    return value


def format_duration(value: timedelta) -> str:
    """'1h', '30min', '7D': the shortest text pandas reads back as the same duration."""
    seconds = pd.Timedelta(value).total_seconds()
    for unit, size in (("D", 86_400), ("h", 3_600), ("min", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(_parse_duration),
    AfterValidator(pd.Timedelta),
    PlainSerializer(format_duration, return_type=str),
]


class LabelSpec(BaseModel):
    """What counts as a long squeeze; recorded with every data set and model that uses it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["liquidation", "proxy"] = "liquidation"
    horizon: Duration = Field(default=pd.Timedelta(hours=1), description="forward window")
    threshold_usd: float | None = Field(
        None, gt=0, description="liquidation: absolute USD threshold (overrides the fraction)"
    )
    threshold_oi_fraction: float = Field(
        DEFAULT_OI_FRACTION, gt=0, lt=1, description="liquidation: threshold / open interest"
    )
    k_vol: float = Field(3.0, gt=0, description="proxy: drop in trailing-volatility units")
    vol_window: Duration = Field(
        default=pd.Timedelta(days=7), description="proxy: trailing volatility window"
    )
    oi_drop_pct: float | None = Field(
        None, gt=0, lt=100, description="proxy: also require an OI drop of this many percent"
    )
    onset: Duration | None = Field(
        None,
        description="onset label: positive only after this long without a labelled squeeze; "
        "rows inside a running cascade are left out",
    )

    @field_validator("horizon", "vol_window", "onset")
    @classmethod
    def _positive(cls, value: pd.Timedelta | None) -> pd.Timedelta | None:
        if value is not None and value <= pd.Timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @model_validator(mode="after")
    def _onset_covers_horizon(self) -> LabelSpec:
        if self.onset is not None and pd.Timedelta(self.onset) < pd.Timedelta(self.horizon):
            raise ValueError(
                f"the onset window ({format_duration(self.onset)}) must be at least the horizon "
                f"({format_duration(self.horizon)})"
            )
        return self

    def base(self) -> LabelSpec:
        """The same label without the onset rule (what 'a squeeze' means for event studies)."""
        return self.model_copy(update={"onset": None})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``LabelSpec.model_validate(spec.to_dict()) == spec``."""
        return self.model_dump(mode="json")

    def describe(self) -> str:
        """One line a person can read: what a positive label means."""
        h = format_duration(self.horizon)
        if self.kind == "liquidation":
            if self.threshold_usd is not None:
                return f"long liquidations >= {self.threshold_usd:,.0f} USD within {h}" + self._onset_text()
            return (
                f"long liquidations >= {self.threshold_oi_fraction:.2%} of open interest within {h}"
                + self._onset_text()
            )
        text = (
            f"price low within {h} at least {self.k_vol:g} x trailing volatility "
            f"({format_duration(self.vol_window)} of 1-bar returns, scaled to {h}) below close"
        )
        if self.oi_drop_pct is not None:
            text += f", and open interest down >= {self.oi_drop_pct:g}%"
        return text + self._onset_text()

    def _onset_text(self) -> str:
        if self.onset is None:
            return ""
        return (f", starting after at least {format_duration(self.onset)} without one "
                "(hours inside a running cascade are not scored)")


def make_labels(
    frame: pd.DataFrame, spec: LabelSpec, bar: str | pd.Timedelta | None = None
) -> pd.Series:
    """Label of every row of a canonical frame: 1.0, 0.0 or NaN (incomplete forward window)."""
    return _per_row(frame, spec, bar, "make_labels", "label", _liquidation, _proxy)


def make_label_strength(
    frame: pd.DataFrame, spec: LabelSpec, bar: str | pd.Timedelta | None = None
) -> pd.Series:
    """How close every row came to a positive label: >= 1 exactly where the label is 1.

    Uses the same forward window (t, t + horizon] as :func:`make_labels` and is NaN exactly
    where the label is NaN.
    """
    return _per_row(
        frame, spec, bar, "make_label_strength", "label_strength", _liquidation_strength,
        _proxy_strength,
    )


def _per_row(
    frame: pd.DataFrame,
    spec: LabelSpec,
    bar: str | pd.Timedelta | None,
    source: str,
    name: str,
    liquidation: Callable[[Grid, LabelSpec, int], np.ndarray],
    proxy: Callable[[Grid, LabelSpec, int], np.ndarray],
) -> pd.Series:
    """Run the kind's computation on the frame's bar grid and map it back to the frame's rows."""
    grid = Grid.from_frame(frame, bar=bar, source=source)
    h = _horizon_bars(grid, spec)
    compute = liquidation if spec.kind == "liquidation" else proxy
    with np.errstate(all="ignore"):
        values = compute(grid, spec, h)
        if spec.onset is not None:
            label_of = _liquidation if spec.kind == "liquidation" else _proxy
            labels = values if compute is label_of else label_of(grid, spec, h)
            times = (grid.first_bar + np.arange(grid.n, dtype=np.int64)) * grid.bar_ns
            running = running_from_labels(times, labels, pd.Timedelta(spec.horizon), pd.Timedelta(spec.onset))
            values = np.where(running, np.nan, values)
    return pd.Series(values[grid.positions], index=frame.index, name=name, dtype="float64")


def last_window_strength(
    frame: pd.DataFrame, spec: LabelSpec, bar: str | pd.Timedelta | None = None
) -> pd.Series:
    """The label's own quantity for the window that ENDED at each row: the label strength of
    (t - horizon, t] (forward quantity over threshold, without the onset rule), known at t.

    This is what "it is already happening" looks like for exactly this label (long liquidations
    in USD over a USD threshold, over a share of open interest, or a drop in volatility units):
    the persistence baseline's score. NaN where that window is incomplete or before the data.
    """
    strength = make_label_strength(frame, spec.base(), bar)
    past = strength.reindex(frame.index - pd.Timedelta(spec.horizon))
    return pd.Series(past.to_numpy(), index=frame.index, name="label_last_window", dtype="float64")


# Hours after a squeeze in which the next one is a continuation, not an onset: the event study's
# onset rule and the model's alert rule (models.flush_model: no new alert while one runs).
CALM_WINDOW = pd.Timedelta(hours=6)


def running_cascade(
    frame: pd.DataFrame,
    spec: LabelSpec,
    window: pd.Timedelta = CALM_WINDOW,
    bar: str | pd.Timedelta | None = None,
) -> pd.Series:
    """Per row t of a canonical frame: is a squeeze of this label running, i.e. did one END
    within ``(t - window, t]``? Known at t (only label windows that closed by t are read).

    Why: a trader asks to be warned before a squeeze STARTS. While one runs, "it is happening"
    is on the tape; the alert rule spends its alert hours on calm hours instead, and the event
    study calls a squeeze after a calm ``window`` an onset by the same rule.
    """
    labels = make_labels(frame, spec.base(), bar)
    running = running_from_labels(frame.index, labels.to_numpy(), pd.Timedelta(spec.horizon), window)
    return pd.Series(running, index=frame.index, name="squeeze_running", dtype=bool)


def running_at_last(
    frame: pd.DataFrame,
    spec: LabelSpec,
    window: pd.Timedelta,
    bar: pd.Timedelta,
) -> bool | None:
    """:func:`running_cascade` at the frame's last bar, or None when the frame cannot tell.

    Why: a caller that sends its own bars (``/predict``) may leave out the label's columns or
    hours of them. :func:`running_cascade` reads a missing label as "no squeeze", which would
    call such an hour calm; here a squeeze found is True, and False needs every bar whose
    squeeze would count (``t - window <= s <= t - horizon``, as in :func:`running_from_labels`)
    present with a complete label. A frame without the label's columns is None too.
    """
    horizon = pd.Timedelta(spec.horizon)
    try:
        labels = make_labels(frame, spec.base(), bar).to_numpy()
    except DataError:
        return None
    t = frame.index.as_unit("ns").asi8
    last = int(t[-1])
    inside = (t >= last - pd.Timedelta(window).value) & (t <= last - horizon.value)
    counted = labels[inside]
    if (counted > 0.5).any():
        return True
    expected = (pd.Timedelta(window) - horizon) // pd.Timedelta(bar) + 1
    if len(counted) < expected or np.isnan(counted).any():
        return None
    return False


def running_from_labels(
    times: pd.DatetimeIndex | np.ndarray, labels: np.ndarray, horizon: pd.Timedelta, window: pd.Timedelta
) -> np.ndarray:
    """Per row t: is a cascade running, i.e. did a labelled squeeze END within (t - window, t]?

    A row s with label 1 has its squeeze in (s, s + horizon]; it counts for t when
    ``t - window <= s <= t - horizon`` (ended by t, so nothing after t is used). Rows need not be
    regular (``times``: a DatetimeIndex, or int64 nanoseconds); NaN labels count as no squeeze.
    """
    if isinstance(times, pd.DatetimeIndex):
        times = times.as_unit("ns").asi8
    t = np.asarray(times, dtype=np.int64)
    positive = t[np.nan_to_num(np.asarray(labels, dtype=np.float64), nan=0.0) > 0.5]
    hi = np.searchsorted(positive, t - pd.Timedelta(horizon).value, side="right")
    lo = np.searchsorted(positive, t - pd.Timedelta(window).value, side="left")
    return hi > lo


def _horizon_bars(grid: Grid, spec: LabelSpec) -> int:
    horizon = pd.Timedelta(spec.horizon)
    if horizon < grid.bar or horizon % grid.bar != pd.Timedelta(0):
        raise DataError(
            f"label horizon {format_duration(horizon)} is not a whole number of "
            f"{format_duration(grid.bar)} bars"
        )
    return int(horizon // grid.bar)


def _require(grid: Grid, column: str, why: str) -> np.ndarray:
    values = grid.col(column)
    if values is None:
        raise DataError(f"cannot make labels: column {column!r} is missing or empty; {why}")
    return values


def _forward(values: np.ndarray, h: int, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Sum or min over rows (t, t+h], and whether all h rows had a value (complete)."""
    rolling = pd.Series(values).rolling(h, min_periods=h)
    agg = (rolling.sum() if how == "sum" else rolling.min()).to_numpy()
    out = np.full(values.shape[0], np.nan)
    out[: values.shape[0] - h] = agg[h:]
    return out, ~np.isnan(out)


def _liquidation(grid: Grid, spec: LabelSpec, h: int) -> np.ndarray:
    total, threshold, ok = _liquidation_parts(grid, spec, h)
    return np.where(ok, (total >= threshold).astype(np.float64), np.nan)


def _liquidation_strength(grid: Grid, spec: LabelSpec, h: int) -> np.ndarray:
    """Forward long liquidations / threshold; >= 1 exactly where the label is 1."""
    total, threshold, ok = _liquidation_parts(grid, spec, h)
    ratio_ = total / threshold
    strength = np.where(total >= threshold, np.fmax(ratio_, 1.0), np.fmin(ratio_, np.nextafter(1.0, 0)))
    return np.where(ok, np.clip(strength, 0.0, None), np.nan)


def _liquidation_parts(grid: Grid, spec: LabelSpec, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward long liquidations, the threshold, and validity (complete window, threshold)."""
    liq = _require(
        grid, "long_liq_usd", "the 'liquidation' label needs long liquidations (use 'proxy')"
    )
    total, complete = _forward(liq, h, "sum")
    if spec.threshold_usd is not None:
        threshold = np.full(grid.n, spec.threshold_usd)
    else:
        oi = _require(
            grid,
            "open_interest_usd",
            "the relative threshold needs open interest (or give threshold_usd)",
        )
        threshold = spec.threshold_oi_fraction * oi
    return total, threshold, complete & ~np.isnan(threshold)


def _proxy(grid: Grid, spec: LabelSpec, h: int) -> np.ndarray:
    label, _, ok = _proxy_parts(grid, spec, h)
    return np.where(ok, label.astype(np.float64), np.nan)


def _proxy_strength(grid: Grid, spec: LabelSpec, h: int) -> np.ndarray:
    """Forward drop / required drop, 0 without a drop; >= 1 exactly where the label is 1."""
    label, ratio_, ok = _proxy_parts(grid, spec, h)
    strength = np.where(label, np.fmax(ratio_, 1.0), np.fmin(ratio_, np.nextafter(1.0, 0)))
    return np.where(ok, np.clip(strength, 0.0, None), np.nan)


def _proxy_parts(grid: Grid, spec: LabelSpec, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The proxy label, the price drop as a multiple of the required drop, and validity."""
    close = _require(grid, "close", "the proxy label needs closes")
    low = grid.col("low")
    low = close if low is None else np.fmin(low, close)
    r = grid.log_return_1bar(close)
    sigma = grid.std(r, pd.Timedelta(spec.vol_window), exact=True)
    floor_move = -spec.k_vol * sigma * math.sqrt(h)
    future_low, complete = _forward(low, h, "min")
    drop = np.log(ratio(future_low, close))
    label = drop <= floor_move
    ok = complete & ~np.isnan(drop) & ~np.isnan(sigma)
    if spec.oi_drop_pct is not None:
        oi = _require(grid, "open_interest_usd", "oi_drop_pct needs open interest")
        future_oi, oi_complete = _forward(oi, h, "min")
        label &= future_oi <= oi * (1.0 - spec.oi_drop_pct / 100.0)
        ok &= oi_complete & ~np.isnan(oi)
    drop_ratio = drop / floor_move  # both negative on a fall: a positive multiple
    return label, drop_ratio, ok


__all__ = [
    "CALM_WINDOW",
    "DEFAULT_OI_FRACTION",
    "LabelSpec",
    "format_duration",
    "last_window_strength",
    "make_label_strength",
    "make_labels",
    "running_at_last",
    "running_cascade",
    "running_from_labels",
]
