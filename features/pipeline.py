"""The feature pipeline: canonical frame -> one row of warning signs per bar.

Training calls :func:`build_features` on years of bars; serving calls :func:`features_at` on
the last few weeks of bars for one prediction. Both run the *same* code on a frame laid on its
bar grid, and every feature depends on at most :data:`MIN_WINDOW` of history through bounded,
start-independent rolling statistics (see :mod:`features.rolling`), so
``features_at(frame[t - MIN_WINDOW < index <= t]) == build_features(frame).loc[t]``.

Causality: a row's features use that bar and earlier bars only (values of a bar are known at
its close). Gaps are NaN rows of the grid: statistics skip them, changes across a long gap are
NaN, nothing is forward-filled across one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.errors import DataError
from features.groups import (
    basis,
    calendar,
    cascade,
    depth,
    funding,
    key_levels,
    open_interest,
    price_flow,
)
from features.rolling import Grid

GROUP_MODULES = {
    "funding": funding,
    "open_interest": open_interest,
    "basis": basis,
    "depth": depth,
    "key_levels": key_levels,
    "price_flow": price_flow,
    "cascade": cascade,
    "calendar": calendar,
}

FEATURES: tuple[str, ...] = tuple(name for m in GROUP_MODULES.values() for name in m.NAMES)
"""The one ordered feature list: models store it, serving checks it."""

FEATURE_DEFINITIONS = 2
"""Version of what the features MEAN, beside the list of their names: models store it, serving
checks it. 1: every window from the bars themselves. 2: at bars under one hour the 7- and
30-day windows come from hourly aggregates (:data:`features.rolling.HOURLY_FROM_HOURS`);
hourly bars give the same values as 1, bit for bit, so an hourly model of version 1 is still
served, while a sub-hourly one is refused (its trees split on the old values)."""

FEATURE_GROUPS: dict[str, str] = {
    name: group for group, m in GROUP_MODULES.items() for name in m.NAMES
}

MIN_WINDOW: pd.Timedelta = pd.Timedelta(days=30)
"""The shortest raw window that gives the full features of its last row.

The longest look-back is the 30-day funding z-score (and the 30-day drawdown and the 30-day cap
on hours of positive funding); every other feature looks back less. A window covers
MIN_WINDOW when it has the bars with index in (t - MIN_WINDOW, t]: 720 hourly bars.
"""

_INDEX = {name: j for j, name in enumerate(FEATURES)}
_PRICE_COLUMNS = ("open", "high", "low", "close")


def build_features(frame: pd.DataFrame, bar: str | pd.Timedelta | None = None) -> pd.DataFrame:
    """Features of every row of a canonical frame: index == frame.index, columns == FEATURES.

    ``bar`` is inferred from the index unless given (needed for a single-row frame).
    """
    grid = _grid(frame, bar, "build_features")
    values = _compute(grid, grid.positions)
    return pd.DataFrame(values, index=frame.index, columns=list(FEATURES), copy=False)


def features_at(window: pd.DataFrame, bar: str | pd.Timedelta | None = None) -> pd.Series:
    """Features of the LAST row of a raw canonical window of recent bars, for serving.

    Equal to ``build_features(history).loc[t]`` when the window covers :data:`MIN_WINDOW`;
    on a shorter window, long-horizon features are computed from what there is (as at the
    start of a training frame) or NaN.
    """
    grid = _grid(window, bar, "features_at")
    grid.last_row_only = True  # the long windows at this row only: same numbers, less work
    values = _compute(grid, grid.positions[-1:])
    return pd.Series(values[0], index=list(FEATURES), name=window.index[-1], dtype="float64")


def features_at_columns(
    times_ns: np.ndarray,
    columns: Mapping[str, np.ndarray],
    bar: str | pd.Timedelta | None = None,
) -> np.ndarray:
    """:func:`features_at` of a window given as columns: float64 arrays at UTC bar-open times
    (int64 ns, increasing), as a FEATURES-ordered array.

    The same grid and the same code as ``features_at`` on the equivalent frame, so the same
    numbers bit for bit, without building a pandas frame: the service parses request bars
    straight into these columns.
    """
    source = "features_at"  # messages read as features_at's do
    if "close" not in columns:
        raise DataError(f"{source}: missing required column 'close'; found {list(columns)}")
    grid = _with_prices(Grid.from_arrays(times_ns, dict(columns), bar=bar, source=source))
    grid.last_row_only = True
    return _compute(grid, grid.positions[-1:])[0]


def covers_min_window(index: pd.DatetimeIndex, bar: str | pd.Timedelta | None = None) -> bool:
    """Whether a window reaches back MIN_WINDOW from its last bar (full features, parity)."""
    if len(index) == 0:
        return False
    step = pd.Timedelta(bar) if bar is not None else None
    if step is None:
        if len(index) < 2:
            return False
        step = pd.Timedelta(int(np.diff(index.as_unit("ns").asi8).min()), unit="ns")
    return bool(index[-1] - index[0] + step >= MIN_WINDOW)


def _grid(frame: pd.DataFrame, bar: str | pd.Timedelta | None, source: str) -> Grid:
    if isinstance(frame, pd.DataFrame) and "close" not in frame.columns:
        raise DataError(f"{source}: missing required column 'close'; found {list(frame.columns)}")
    return _with_prices(Grid.from_frame(frame, bar=bar, source=source))


def _with_prices(grid: Grid) -> Grid:
    """Refuse a grid without closes; a close-only source gets its close as open/high/low."""
    close = grid.col("close")
    if close is None:
        raise DataError(f"{grid.source}: column 'close' has no values")
    for name in _PRICE_COLUMNS:
        if grid.col(name) is None:  # a close-only source: the bar is its close
            grid.columns[name] = close
            grid.cache.pop(("has", name), None)
    return grid


def _compute(grid: Grid, rows: np.ndarray) -> np.ndarray:
    """All features at the given grid rows; groups that cannot be computed stay NaN."""
    out = np.full((len(rows), len(FEATURES)), np.nan, order="F")
    with np.errstate(all="ignore"):
        for module in GROUP_MODULES.values():
            for name, values in module.compute(grid).items():
                out[:, _INDEX[name]] = values[rows]
    return out


__all__ = [
    "FEATURES",
    "FEATURE_GROUPS",
    "MIN_WINDOW",
    "build_features",
    "covers_min_window",
    "features_at",
    "features_at_columns",
]
