"""Bar sizes: the regular time grid every canonical frame sits on."""

from __future__ import annotations

import numpy as np
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


def infer_bar(index: pd.DatetimeIndex, source: str = "the data") -> pd.Timedelta:
    """The bar of a frame: the smallest spacing between consecutive timestamps.

    The smallest spacing, not the most common one, because gaps only ever make spacings longer.
    When that spacing is no bar (a timestamp a minute off: rows 29 minutes apart), the error
    names the first row off the grid of the most common spacing, in ``source``.
    """
    if len(index) < 2:
        raise DataError(f"{source}: cannot infer the bar from fewer than 2 rows")
    spacing = pd.Series(index).diff().dropna()
    step = spacing.min()
    if step in BARS.values():
        return step
    common = spacing.mode().iloc[0]
    if common not in BARS.values():
        raise DataError(
            f"{source}: rows are mostly {common} apart, which is no supported bar "
            f"({', '.join(BARS)})"
        )
    off = index.asi8 % common.value != 0
    pos = int(np.flatnonzero(off)[0]) if off.any() else int(np.argmin(spacing.to_numpy())) + 1
    raise DataError(
        f"{source}: row {pos + 1} ({index[pos]}) is not on the {bar_name(common)} bar grid "
        f"({int(off.sum()) or 1} such row(s)); bar times must be bar open times"
    )


def bars_in(duration: pd.Timedelta | str, bar: pd.Timedelta) -> int:
    """How many bars make up a duration, at least one: horizons are in time, not bars."""
    return max(1, int(pd.Timedelta(duration) // bar))
