"""The canonical market frame: the one thing everything downstream reads.

One frame per symbol and bar. The index is a UTC ``DatetimeIndex`` of bar **open** times at a
regular bar (1m, 5m, 15m, 30m or 1h), unique and increasing. A row's values are known at the
bar's close. Missing bars are *absent rows*: gaps are reported by :func:`find_gaps`, never
silently filled.

Columns and units (only the price columns and ``funding_rate`` are required):

=====================  ==================================================================
column                 unit / meaning
=====================  ==================================================================
open high low close    USD; the perpetual's traded price where known, else spot
index_price            USD; spot or exchange index price (bar close)
mark_price             USD; the exchange mark price (bar close)
volume_usd             USD notional traded in the bar
funding_rate           fraction per 8 hours (0.0001 = 0.01 %), the rate in force at the bar
open_interest_usd      USD notional of open positions at the bar close
bid_depth_1pct_usd     USD notional resting on the bid within 1 % of mid (bar close)
ask_depth_1pct_usd     USD notional resting on the ask within 1 % of mid
bid_depth_2pct_usd     USD notional resting on the bid within 2 % of mid
ask_depth_2pct_usd     USD notional resting on the ask within 2 % of mid
long_liq_usd           USD notional of long positions liquidated in the bar
short_liq_usd          USD notional of short positions liquidated in the bar
long_short_ratio       accounts long / accounts short (> 0)
taker_buy_ratio        taker buy volume / total volume, in [0, 1]
spot_volume_usd        USD notional traded on the spot market of the same asset in the bar
=====================  ==================================================================

Columns are grouped into *signal groups*; the feature pipeline computes a group's features
only when the group is present, and every model records which groups it was trained with.
*Context columns* (``spot_volume_usd``) belong to no group: no feature reads them, so a model
never depends on them; they are validated and stored like the others for the reads that use
them (the after-flush read compares spot with perp volume).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features.bars import infer_bar, parse_bar
from features.errors import DataError

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
REQUIRED_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "funding_rate")

SIGNAL_GROUPS: dict[str, tuple[str, ...]] = {
    "price": PRICE_COLUMNS,
    "funding": ("funding_rate",),
    "basis": ("index_price", "mark_price"),
    "volume": ("volume_usd", "taker_buy_ratio"),
    "open_interest": ("open_interest_usd",),
    "depth": (
        "bid_depth_1pct_usd",
        "ask_depth_1pct_usd",
        "bid_depth_2pct_usd",
        "ask_depth_2pct_usd",
    ),
    "liquidations": ("long_liq_usd", "short_liq_usd"),
    "positioning": ("long_short_ratio",),
}

CONTEXT_COLUMNS: tuple[str, ...] = ("spot_volume_usd",)
COLUMNS: tuple[str, ...] = (
    *(c for cols in SIGNAL_GROUPS.values() for c in cols),
    *CONTEXT_COLUMNS,
)
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c not in REQUIRED_COLUMNS)

# Funding beyond 5 % per 8 hours has never been seen on a major venue; a value there means
# the file is in percent (or basis points), not a fraction.
MAX_ABS_FUNDING = 0.05

# Each rule is a vectorised test and the message a user sees when it fails. The same rules
# build the pandera schema (which reports every failure with its rows) and a quick numpy pass
# that lets valid frames through without pandera's overhead (see validate_frame).
Rule = tuple[Callable[[pd.Series], pd.Series], str]
RowRule = tuple[Callable[[Any], Any], str]  # on a DataFrame, or a dict of numpy columns

_FINITE: Rule = (lambda s: ~np.isinf(s), "must be a finite number (not infinity)")
_USD_PRICE: Rule = (lambda s: s > 0, "must be a positive USD price")
_NON_NEGATIVE: Rule = (lambda s: s >= 0, "must be >= 0 USD")

_COLUMN_RULES: dict[str, list[Rule]] = {
    **{c: [_USD_PRICE] for c in (*PRICE_COLUMNS, "index_price", "mark_price")},
    "funding_rate": [
        (
            lambda s: np.abs(s) <= MAX_ABS_FUNDING,
            "must be a fraction per 8 hours (|rate| <= 0.05); is it in percent?",
        )
    ],
    **{
        c: [_NON_NEGATIVE]
        for c in ("volume_usd", "spot_volume_usd", "open_interest_usd", *SIGNAL_GROUPS["depth"])
    },
    **{c: [_NON_NEGATIVE] for c in SIGNAL_GROUPS["liquidations"]},
    "long_short_ratio": [(lambda s: s > 0, "must be a positive ratio")],
    "taker_buy_ratio": [(lambda s: (s >= 0) & (s <= 1), "must lie in [0, 1]")],
}


def _ohlc_rule(
    test: Callable[[Any], Any], columns: tuple[str, str], error: str
) -> RowRule:
    """A row rule on two price columns that passes where either of them is missing."""

    def check(df: pd.DataFrame) -> pd.Series:
        if not all(c in df for c in columns):
            return True
        return np.isnan(df[columns[0]]) | np.isnan(df[columns[1]]) | test(df)

    return check, error


# Prices in a bar must be consistent: a close at twice the high is a corrupt row, not a move.
# A relative slack of 1e-9 allows for float rounding in unit conversions.
_SLACK = 1 + 1e-9
_ROW_RULES: list[RowRule] = [
    _ohlc_rule(lambda df: df["high"] * _SLACK >= df["low"], ("high", "low"), "high must be >= low"),
    _ohlc_rule(lambda df: df["high"] * _SLACK >= df["open"], ("high", "open"), "high must be >= open"),
    _ohlc_rule(
        lambda df: df["high"] * _SLACK >= df["close"], ("high", "close"), "high must be >= close"
    ),
    _ohlc_rule(lambda df: df["low"] <= df["open"] * _SLACK, ("low", "open"), "low must be <= open"),
    _ohlc_rule(
        lambda df: df["low"] <= df["close"] * _SLACK, ("low", "close"), "low must be <= close"
    ),
]


def _column(name: str) -> pa.Column:
    required = name in REQUIRED_COLUMNS
    checks = [pa.Check(test, error=error) for test, error in [_FINITE, *_COLUMN_RULES[name]]]
    return pa.Column(float, checks=checks, nullable=not required, required=required)


MARKET_SCHEMA = pa.DataFrameSchema(
    columns={c: _column(c) for c in COLUMNS},
    index=pa.Index(
        "datetime64[ns, UTC]",
        unique=True,
        name="time",
        checks=[pa.Check(lambda idx: idx.is_monotonic_increasing, error="times must increase")],
    ),
    checks=[pa.Check(test, error=error) for test, error in _ROW_RULES],
    strict="filter",
    coerce=True,
    name="canonical market frame",
)


def _passes_every_rule(frame: pd.DataFrame) -> bool:
    """The schema's rules in plain numpy: True when pandera would find nothing to report."""
    arrays = {c: frame[c].to_numpy(dtype="float64") for c in frame.columns}
    with np.errstate(invalid="ignore"):
        for column, values in arrays.items():
            missing = np.isnan(values)
            if column in REQUIRED_COLUMNS and missing.any():
                return False
            for test, _ in [_FINITE, *_COLUMN_RULES[column]]:
                if not (test(values) | missing).all():
                    return False
        return all(np.all(test(arrays)) for test, _ in _ROW_RULES)


def canonicalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Bring a frame to canonical form: float64 columns in canonical order, ns UTC index.

    Unknown columns are dropped; missing optional columns are left out (not added as NaN), so
    that ``signal_groups`` tells the truth about what a data set has.
    """
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError("the frame's index must be a DatetimeIndex of bar open times")
    index = frame.index
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    out = frame.loc[:, [c for c in COLUMNS if c in frame.columns]].astype("float64")
    out.index = index.as_unit("ns").rename("time")
    return out


def validate_frame(frame: pd.DataFrame, source: str = "frame") -> pd.DataFrame:
    """Validate a frame against the canonical schema and return it canonicalized.

    The error message names the source, the column, the first offending times and the problem,
    so the user can find the bad rows in their file.
    """
    out = canonicalize(frame)
    missing = [c for c in REQUIRED_COLUMNS if c not in out.columns]
    if missing:
        raise DataError(f"{source}: missing required column(s) {missing}; have {list(frame.columns)}")
    if out.empty:
        raise DataError(f"{source}: no rows")
    if out.index.has_duplicates:
        dup = out.index[out.index.duplicated()][:3]
        raise DataError(f"{source}: duplicate timestamps, first at {[str(t) for t in dup]}")
    if not out.index.is_monotonic_increasing:
        pos = int(np.argmax(np.diff(out.index.asi8) < 0)) + 1
        raise DataError(
            f"{source}: timestamps are not increasing: row {pos} ({out.index[pos]}) comes after "
            f"{out.index[pos - 1]}"
        )
    for col in REQUIRED_COLUMNS:
        if out[col].isna().all():
            raise DataError(f"{source}: required column {col!r} has no values")
    if _passes_every_rule(out):
        return out  # already canonical: pandera would return it unchanged
    try:
        return MARKET_SCHEMA.validate(out, lazy=True)
    except pa.errors.SchemaErrors as err:
        raise DataError(f"{source}: {_describe_failures(err.failure_cases, out)}") from None


def _describe_failures(cases: pd.DataFrame, frame: pd.DataFrame) -> str:
    """One clause per failed check: the column, the rule, how many rows, the first rows."""
    lines = []
    row_level = cases["schema_context"] == "DataFrameSchema"
    for check, group in cases[row_level].groupby("check", sort=False):
        times = pd.DatetimeIndex(group["index"].dropna().unique())
        first = frame.loc[times[0], [c for c in PRICE_COLUMNS if c in frame]]
        prices = ", ".join(f"{c}={v:.10g}" for c, v in first.items())
        lines.append(f"{check}: {len(times)} row(s), first at {_rows(times[:3], frame.index)} ({prices})")
    for (column, check), group in cases[~row_level].groupby(["column", "check"], sort=False):
        times = pd.DatetimeIndex(group["index"].dropna().unique())
        values = group["failure_case"].astype(str).tolist()[:3]
        lines.append(
            f"column {column!r} {check}: {len(group)} row(s), first at "
            f"{_rows(times[:3], frame.index)}, values {values}"
        )
    return "; ".join(lines)


def _rows(times: pd.DatetimeIndex, index: pd.DatetimeIndex) -> str:
    """'row 4 (2024-01-01 00:15:00+00:00)': the 1-based row in the frame, and its time."""
    rows = index.get_indexer(times) + 1
    return ", ".join(f"row {r} ({t})" for r, t in zip(rows, times, strict=True)) or "?"


def signal_groups(frame: pd.DataFrame) -> list[str]:
    """The signal groups with at least one non-missing value in every one of their columns.

    A group counts as present when all its columns carry data, except ``basis`` which needs
    only ``index_price`` (the mark price is an optional refinement).
    """
    present = []
    for group, cols in SIGNAL_GROUPS.items():
        needed = ("index_price",) if group == "basis" else cols
        if all(c in frame.columns and frame[c].notna().any() for c in needed):
            present.append(group)
    return present


def find_gaps(index: pd.DatetimeIndex, bar: str | pd.Timedelta | None = None) -> pd.DataFrame:
    """Missing bars as data: one row per gap with its first missing bar, last one and count."""
    step = parse_bar(bar) if bar is not None else infer_bar(index)
    if len(index) < 2:
        return pd.DataFrame(columns=["start", "end", "missing_bars"])
    index = pd.DatetimeIndex(index).as_unit("ns")
    deltas = np.diff(index.asi8)
    where = np.flatnonzero(deltas > step.value)
    return pd.DataFrame(
        {
            "start": index[where] + step,
            "end": index[where + 1] - step,
            "missing_bars": (deltas[where] // step.value - 1).astype(int),
        }
    )


def regular_index(index: pd.DatetimeIndex, bar: pd.Timedelta) -> pd.DatetimeIndex:
    """The complete bar grid from the first to the last timestamp of ``index``."""
    return pd.date_range(index[0], index[-1], freq=bar, name="time").as_unit("ns")


def require_columns(frame: pd.DataFrame, columns: Iterable[str], source: str) -> None:
    """Fail with a message naming the absent columns and the columns that are there."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; found {list(frame.columns)}")
