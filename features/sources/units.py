"""Unit detection for the two quantities that files get wrong most often: epochs and funding.

Epoch timestamps come in seconds, milliseconds, microseconds or nanoseconds (Binance switched
its spot archive from ms to µs in 2025), so the unit is read from each value's magnitude.

Funding is published as a fraction (0.0001), in percent (0.01) or in basis points (1) per
settlement interval. A wrong unit silently multiplies every funding feature by 100, so every
importer declares the unit it expects and :func:`funding_to_fraction` checks that the values
look like it before converting. The check uses the typical (median) magnitude of the non-zero
rates: as a fraction per 8 hours it lies between about 1e-5 and 3e-4 on every major venue, and
a typical value above 1e-3 (0.1 % per 8 h, over 100 % a year) or below 2e-6 only happens when
the unit is wrong.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from features.errors import DataError

FundingUnit = Literal["fraction", "percent", "bps"]
FUNDING_UNITS: dict[str, float] = {"fraction": 1.0, "percent": 0.01, "bps": 1e-4}

# Bounds on the typical |funding| as a fraction per 8 hours; outside them the unit is wrong.
TYPICAL_FUNDING_MAX = 1e-3
TYPICAL_FUNDING_MIN = 2e-6

# Epoch magnitudes of dates between 1973 and 2286, per unit.
_EPOCH_UNITS: tuple[tuple[float, str], ...] = (
    (1e11, "s"),
    (1e14, "ms"),
    (1e17, "us"),
    (np.inf, "ns"),
)
_NS_PER = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def epoch_unit(value: float) -> str:
    """The unit ('s', 'ms', 'us' or 'ns') of one epoch timestamp, read from its magnitude."""
    for bound, unit in _EPOCH_UNITS:
        if abs(value) < bound:
            return unit
    return "ns"


# Market data outside these years is a wrong unit or a corrupt cell, not a real bar.
EPOCH_YEARS = (2000, 2100)


def epoch_to_datetime(
    values: pd.Series, unit: str = "auto", source: str = "timestamps", column: str = "time"
) -> pd.DatetimeIndex:
    """Epoch numbers to a UTC DatetimeIndex (ns); with ``unit='auto'`` each value's own unit.

    Per value rather than per file, because a directory of archive files can straddle the
    date when the publisher changed units. A value outside the years 2000-2100 in its unit is
    refused with its row (converted blindly it would overflow into the year 1741).
    """
    numeric = pd.to_numeric(values, errors="coerce")
    numbers = numeric.to_numpy(dtype="float64")
    if unit == "auto":
        magnitude = np.abs(numbers)
        factor = np.select(
            [magnitude < 1e11, magnitude < 1e14, magnitude < 1e17],
            [_NS_PER["s"], _NS_PER["ms"], _NS_PER["us"]],
            default=1,
        ).astype("int64")
    else:
        if unit not in _NS_PER:
            raise DataError(f"unknown epoch unit {unit!r}; use one of auto, {', '.join(_NS_PER)}")
        factor = np.full(len(numbers), _NS_PER[unit], dtype="int64")
    finite = np.isfinite(numbers)
    _check_epoch_range(numbers, factor, finite, source, column)
    # Integer arithmetic where the input is integral: float64 cannot hold ns epochs exactly.
    if pd.api.types.is_integer_dtype(numeric.dtype) and not numeric.isna().any():
        ints = numeric.to_numpy(dtype="int64")
        ns = ints * factor
    else:
        whole = np.where(finite, np.round(numbers), 0).astype("int64")
        frac = np.where(finite, numbers - whole, 0.0)
        ns = whole * factor + np.round(frac * factor).astype("int64")
    out = pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")
    return out.where(finite, pd.NaT).as_unit("ns")


def _check_epoch_range(
    numbers: np.ndarray, factor: np.ndarray, finite: np.ndarray, source: str, column: str
) -> None:
    low, high = (pd.Timestamp(f"{y}-01-01", tz="UTC").value for y in EPOCH_YEARS)
    with np.errstate(invalid="ignore", over="ignore"):
        ns = numbers * factor.astype("float64")
    bad = finite & ((ns < low) | (ns >= high))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        unit = {v: k for k, v in _NS_PER.items()}[int(factor[pos])]
        raise DataError(
            f"{source}: row {pos + 1} column {column!r}: {numbers[pos]:.17g} "
            f"read as epoch {unit} lies outside the years {EPOCH_YEARS[0]}-{EPOCH_YEARS[1]} "
            f"({int(bad.sum())} such row(s)); is the time column in another unit?"
        )


def typical_abs(values: pd.Series) -> float | None:
    """The median magnitude of the non-zero finite values, or None when there are none."""
    arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    arr = np.abs(arr[np.isfinite(arr) & (arr != 0)])
    return float(np.median(arr)) if arr.size else None


def detect_funding_unit(values: pd.Series) -> FundingUnit | None:
    """The unit whose conversion puts the typical rate in the plausible band, if exactly one."""
    typical = typical_abs(values)
    if typical is None:
        return "fraction"
    fits = [
        unit
        for unit, scale in FUNDING_UNITS.items()
        if TYPICAL_FUNDING_MIN <= typical * scale <= TYPICAL_FUNDING_MAX
    ]
    return fits[0] if len(fits) == 1 else None  # type: ignore[return-value]


# Funding intervals venues use; a spacing between settlements is snapped to the nearest one.
FUNDING_INTERVALS_HOURS = (1.0, 2.0, 4.0, 8.0)


def settlement_hours(times: pd.DatetimeIndex) -> pd.Series:
    """Each settlement's funding interval (1, 2, 4 or 8 h), from the time since the previous one.

    For histories without an interval field. A spacing longer than 8 h is a hole in the
    history, not a longer interval: taken at face value it would scale the rate down (a 16 h
    hole would halve it), so it counts as 8 h. The first settlement takes the next one's.
    """
    spacing = pd.Series(times, index=times).diff().dt.total_seconds() / 3600
    allowed = np.array(FUNDING_INTERVALS_HOURS)
    nearest = allowed[np.abs(spacing.to_numpy()[:, None] - allowed[None, :]).argmin(axis=1)]
    hours = pd.Series(nearest, index=times).where(spacing.notna())
    return hours.bfill().fillna(8.0)


_UNIT_WORDS = {"fraction": "fractions", "percent": "percent", "bps": "basis points"}


def funding_to_fraction(
    values: pd.Series,
    unit: str,
    source: str,
    column: str,
    interval_hours: float | pd.Series = 8.0,
    fix: str = "Is --format right for this file?",
) -> pd.Series:
    """Convert funding in ``unit`` per ``interval_hours`` to a fraction per 8 hours.

    Raises a DataError naming the file and column when the values do not look like ``unit``
    (for example percent values in a file declared as fractions), ending with ``fix``: what the
    user can do about it, which depends on the importer.
    """
    if unit == "auto":
        detected = detect_funding_unit(values)
        if detected is None:
            raise DataError(
                f"{source}: cannot tell the unit of funding column {column!r} (typical |rate| "
                f"{typical_abs(values):.3g}); say it with --funding-unit fraction|percent|bps"
            )
        unit = detected
    if unit not in FUNDING_UNITS:
        raise DataError(
            f"{source}: unknown funding unit {unit!r}; use one of {list(FUNDING_UNITS)}"
        )
    rates = pd.to_numeric(values, errors="coerce").astype("float64")
    typical = typical_abs(rates)
    if typical is not None:
        as_fraction = typical * FUNDING_UNITS[unit]
        if as_fraction > TYPICAL_FUNDING_MAX:
            guess = detect_funding_unit(rates) or "percent"
            raise DataError(
                f"{source}: funding column {column!r} should be in {_UNIT_WORDS[unit]}, but its "
                f"typical |rate| {typical:.4g} would then be {as_fraction:.2%} per settlement, "
                f"which no venue pays: the values look like {_UNIT_WORDS[guess]}. {fix}"
            )
        if as_fraction < TYPICAL_FUNDING_MIN:
            guess = detect_funding_unit(rates) or "fraction"
            raise DataError(
                f"{source}: funding column {column!r} should be in {_UNIT_WORDS[unit]}, but its "
                f"typical |rate| {typical:.4g} would then be only {as_fraction:.2g} as a "
                f"fraction: the values look like {_UNIT_WORDS[guess]}. {fix}"
            )
        _check_stretches(rates, FUNDING_UNITS[unit], typical, source, column, unit, fix)
    per_8h = 8.0 / interval_hours
    return rates * FUNDING_UNITS[unit] * per_8h


# A stretch is this many consecutive settlements (distinct values in a row); its typical rate
# must stay within this factor of the file's. A change of unit is a factor of 100.
STRETCH_SETTLEMENTS = 24
STRETCH_MAX_FACTOR = 30.0


def _check_stretches(
    rates: pd.Series, scale: float, typical: float, source: str, column: str, unit: str, fix: str
) -> None:
    """Fail at the first row where a stretch of the file switches to another unit.

    The whole-file check reads the median, so a file whose last third is in percent passes it.
    Here each run of ``STRETCH_SETTLEMENTS`` settlements must look like the declared unit too:
    its typical rate inside the plausible band, or within ``STRETCH_MAX_FACTOR`` of the file's
    (a genuinely extreme week of funding is not a change of unit).
    """
    values = np.abs(rates.to_numpy(dtype="float64"))
    usable = np.isfinite(values) & (values > 0)
    changes = np.flatnonzero(usable & np.r_[True, values[1:] != values[:-1]])
    if changes.size < 2 * STRETCH_SETTLEMENTS:
        return
    distinct = pd.Series(values[changes])
    ahead = distinct[::-1].rolling(STRETCH_SETTLEMENTS).median()[::-1].to_numpy() * scale
    base = typical * scale
    high = (ahead > TYPICAL_FUNDING_MAX) & (ahead > base * STRETCH_MAX_FACTOR)
    low = (ahead < TYPICAL_FUNDING_MIN) & (ahead < base / STRETCH_MAX_FACTOR)
    off = high | low
    if not off.any():
        return
    first = int(np.flatnonzero(off)[0])
    window = distinct.to_numpy()[first : first + STRETCH_SETTLEMENTS] * scale
    outside = (window > TYPICAL_FUNDING_MAX) if high[first] else (window < TYPICAL_FUNDING_MIN)
    pos = int(changes[first + int(np.argmax(outside))])
    when = f", {rates.index[pos]}" if isinstance(rates.index, pd.DatetimeIndex) else ""
    looks = "100x larger (percent?)" if high[first] else "100x smaller (fractions?)"
    raise DataError(
        f"{source}: funding column {column!r} changes units at row {pos + 1} (line {pos + 2}"
        f"{when}): from there its typical |rate| is {float(np.median(window)) / scale:.4g} against "
        f"{typical:.4g} before, {looks} than the {_UNIT_WORDS[unit]} of the rest. {fix}"
    )
