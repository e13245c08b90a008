"""Bar sizes: the regular time grid every canonical frame sits on."""

from __future__ import annotations

import pandas as pd

from features.errors import DataError

BARS: dict[str, pd.Timedelta] = {
    "1m": pd.Timedelta(minutes=1),
    "5m": pd.Timedelta(minutes=5),
    "15m": pd.Timedelta(minutes=15),
    "30m": pd.Timedelta(minutes=30),
    "1h": pd.Timedelta(hours=1),
}


def parse_bar(bar: str | pd.Timedelta) -> pd.Timedelta:
    """Turn '5m' (or a Timedelta) into a supported bar length, or say which bars exist."""
    if isinstance(bar, pd.Timedelta):
        if bar in BARS.values():
            return bar
        raise DataError(f"unsupported bar {bar}; supported bars: {', '.join(BARS)}")
    key = str(bar).strip().lower()
    if key not in BARS:
        raise DataError(f"unsupported bar {bar!r}; supported bars: {', '.join(BARS)}")
    return BARS[key]


def bar_name(bar: pd.Timedelta) -> str:
    """The short name ('5m') of a supported bar length."""
    for name, value in BARS.items():
        if value == bar:
            return name
    raise DataError(f"unsupported bar {bar}; supported bars: {', '.join(BARS)}")


def infer_bar(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The bar of a frame: the smallest spacing between consecutive timestamps.

    The smallest spacing, not the most common one, because gaps only ever make spacings longer.
    """
    if len(index) < 2:
        raise DataError("cannot infer the bar of a frame with fewer than 2 rows")
    step = pd.Series(index).diff().dropna().min()
    return parse_bar(step)


def bars_in(duration: pd.Timedelta | str, bar: pd.Timedelta) -> int:
    """How many bars make up a duration, at least one: horizons are in time, not bars."""
    return max(1, int(pd.Timedelta(duration) // bar))
