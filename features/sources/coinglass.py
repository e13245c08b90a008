"""Importer for Coinglass-style dashboard exports (``--format coinglass``).

Layout (see ``../shared/data/README.md``): ``timestamp`` (bar open, epoch ms UTC),
``datetime_utc`` (the same as text), ``price_open/high/low/close`` (spot USD),
``liquidation_long_usd``/``liquidation_short_usd``/``liquidation_total_usd`` (USD in the bar),
``funding_open/high/low/close`` (percent per 8 h), ``oi_open/high/low/close`` (USD),
``oi_weight_*`` (OI-weighted funding across venues, percent) and ``cvd_*`` (all zero).

Mapping: prices as they are (spot: the canonical price is spot when the perp's is unknown);
``funding_rate`` is ``funding_close / 100`` (the rate in force at the bar's close, checked to be
percent); ``open_interest_usd`` is ``oi_close``; liquidations map one to one. The
cross-venue ``oi_weight_*`` funding has no canonical column and ``cvd_*`` is unusable: both are
ignored. When ``datetime_utc`` is present it must agree with ``timestamp``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import DataError
from features.sources.tables import (
    check_time_order,
    finish,
    numeric_columns,
    parse_text_times,
    read_csv_source,
    require_source_columns,
)
from features.sources.units import epoch_to_datetime, funding_to_fraction

COLUMN_MAP: dict[str, str] = {
    "price_open": "open",
    "price_high": "high",
    "price_low": "low",
    "price_close": "close",
    "oi_close": "open_interest_usd",
    "liquidation_long_usd": "long_liq_usd",
    "liquidation_short_usd": "short_liq_usd",
}
FUNDING_COLUMN = "funding_close"
REQUIRED = ("timestamp", "price_open", "price_high", "price_low", "price_close", FUNDING_COLUMN)


def import_coinglass(path: Path) -> pd.DataFrame:
    """Read a Coinglass-style CSV export at ``path`` into a validated canonical frame."""
    path = Path(path)
    source = str(path)
    raw = read_csv_source(path, source)
    require_source_columns(raw, REQUIRED, source)
    stamps = numeric_columns(raw, ["timestamp"], source, required=["timestamp"])["timestamp"]
    times = epoch_to_datetime(stamps, source=source, column="timestamp")
    if "datetime_utc" in raw.columns:
        _check_same_times(
            times, parse_text_times(raw["datetime_utc"], source, "datetime_utc"), source
        )
    check_time_order(times, source)
    present = [c for c in COLUMN_MAP if c in raw.columns]
    numbers = numeric_columns(
        raw, [*present, FUNDING_COLUMN], source, required=[*REQUIRED[1:], *present]
    )
    numbers.index = times
    frame = numbers[present].rename(columns=COLUMN_MAP)
    frame["funding_rate"] = funding_to_fraction(
        numbers[FUNDING_COLUMN], "percent", source, FUNDING_COLUMN
    )
    frame.index.name = "time"
    return finish(frame, source)


def _check_same_times(times: pd.DatetimeIndex, text: pd.DatetimeIndex, source: str) -> None:
    differ = np.flatnonzero(times.asi8 != text.asi8)
    if differ.size:
        pos = int(differ[0])
        raise DataError(
            f"{source}: row {pos + 1} (line {pos + 2}): timestamp {times[pos]} disagrees with "
            f"datetime_utc {text[pos]} ({differ.size} such row(s)); is timestamp in another unit?"
        )
