"""Importer for hourly OKX REST snapshots of BTC-USD-SWAP (``--format okx-hourly``).

Layout (see ``../shared/data/README.md``): ``hour_utc, snapshot_commit_utc, spot_price,
futures_price, basis_pct, funding_rate, oi_contracts_usd100, cvd_last100_trades``.

How the snapshots become canonical hourly bars:

- Each row is one snapshot taken inside the hour ``hour_utc`` (a median of 26 minutes in), so
  it becomes the bar that *opens* at ``hour_utc``: its values are known before that bar closes,
  hence no look-ahead. Hours without a snapshot stay absent rows (gaps), never filled.
- ``close`` is ``futures_price``, the perpetual's last price (the canonical price is the
  perpetual's where known); ``index_price`` is ``spot_price`` (BTC-USDT spot).
- There is no OHLC in a snapshot, so: ``open`` is the previous hour's close when the previous
  hour is present, else the bar's own close; ``high``/``low`` are the max/min of open and
  close. Ranges are therefore understated (a wick inside the hour is invisible), but the
  move from one snapshot to the next, such as the -7 % from 20:00 to 21:00 UTC on
  2025-10-10, is preserved bar to bar.
- ``open_interest_usd`` is ``oi_contracts_usd100 * 100``: the contract is inverse
  (coin-margined), one contract is 100 USD face, so the USD notional does not depend on price.
- ``funding_rate`` is already a fraction per 8 hours; it is checked to look like one.
- ``basis_pct`` is percent and redundant with the two prices; it is only used to check that
  the price columns are the right way round. ``cvd_last100_trades`` is noise and ignored.
- No volume, depth, liquidations or mark price exist in this source.
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
    ohlc_from_close,
    parse_text_times,
    read_csv_source,
    require_source_columns,
)
from features.sources.units import funding_to_fraction

CONTRACT_USD = 100.0
HOUR = pd.Timedelta(hours=1)
REQUIRED = ("hour_utc", "spot_price", "futures_price", "funding_rate", "oi_contracts_usd100")


def import_okx_hourly(path: Path) -> pd.DataFrame:
    """Read the OKX hourly snapshot CSV at ``path`` into a validated canonical 1h frame."""
    path = Path(path)
    source = str(path)
    raw = read_csv_source(path, source)
    require_source_columns(raw, REQUIRED, source)
    times = parse_text_times(raw["hour_utc"], source, "hour_utc").floor("h")
    check_time_order(times, source)
    numbers = numeric_columns(
        raw,
        [c for c in (*REQUIRED[1:], "basis_pct") if c in raw.columns],
        source,
        required=REQUIRED[1:],
    )
    numbers.index = times
    if "basis_pct" in numbers:
        _check_basis(numbers, source)
    close = numbers["futures_price"].rename("close")
    frame = ohlc_from_close(close, HOUR)
    frame["index_price"] = numbers["spot_price"]
    frame["funding_rate"] = funding_to_fraction(
        numbers["funding_rate"], "fraction", source, "funding_rate"
    )
    frame["open_interest_usd"] = numbers["oi_contracts_usd100"] * CONTRACT_USD
    frame.index.name = "time"
    return finish(frame, source)


def _check_basis(numbers: pd.DataFrame, source: str) -> None:
    """basis_pct must equal (futures - spot) / spot in percent; else the columns are mixed up."""
    implied = (numbers["futures_price"] - numbers["spot_price"]) / numbers["spot_price"] * 100
    stated = numbers["basis_pct"]
    off = (stated - implied).abs() > np.maximum(1e-3, 0.05 * implied.abs())
    off &= stated.notna()
    if off.mean() > 0.1:
        first = numbers.index[off.to_numpy()][0]
        raise DataError(
            f"{source}: column 'basis_pct' disagrees with (futures_price - spot_price) / "
            f"spot_price in percent on {int(off.sum())} of {len(off)} rows (first at {first}); "
            "are spot_price and futures_price swapped, or basis_pct not in percent?"
        )
