"""Write the example files the tutorials import (all SIMULATED, none of it real market data).

    python examples/data/make_examples.py

* ``my_exchange_btc_1h.csv``: 40 days of hourly bars in a layout of one's own (columns named
  as a desk might name them, funding in percent), for ``--format csv`` with ``--map``;
* ``okx_btc_usd_swap_1h_example.csv``: the same days in OKX's hourly snapshot layout;
* ``binance/``: 3 days in Binance's public-archive layout (daily klines, mark and index
  klines, metrics; monthly funding), as ``flushrisk data fetch-archive`` leaves them.

The prices come from the project's simulator (seed 11), the archive from the archive writer the
importer's tests use; re-running this script writes the same files.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from features.sources.simulator.market import simulate
from tests.features.sources.archive_files import Market, write_archive

DAYS = 40


def own_layout(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical frame under a desk's own column names, funding in percent per 8 h."""
    return pd.DataFrame(
        {
            "time": frame.index.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open": frame["open"].round(2),
            "high": frame["high"].round(2),
            "low": frame["low"].round(2),
            "last": frame["close"].round(2),
            "funding_pct": (frame["funding_rate"] * 100).round(6),
            "oi_usd": frame["open_interest_usd"].round(0),
            "long_liqs_usd": frame["long_liq_usd"].round(0),
            "short_liqs_usd": frame["short_liq_usd"].round(0),
        }
    )


def okx_layout(frame: pd.DataFrame) -> pd.DataFrame:
    """OKX's hourly snapshot layout: spot and perp price, basis, funding, contracts of $100."""
    spot = frame["index_price"]
    perp = frame["close"]
    hours = frame.index.strftime("%Y-%m-%d %H:00:00+00:00")
    taken = (frame.index + pd.Timedelta(minutes=26)).strftime("%Y-%m-%d %H:%M:%S+00:00")
    return pd.DataFrame(
        {
            "hour_utc": hours,
            "snapshot_commit_utc": taken,
            "spot_price": spot.round(2),
            "futures_price": perp.round(2),
            "basis_pct": ((perp - spot) / spot * 100).round(5),
            "funding_rate": frame["funding_rate"].round(8),
            "oi_contracts_usd100": (frame["open_interest_usd"] / 100).round(0),
            "cvd_last100_trades": 0.0,
        }
    )


def binance_archive(frame: pd.DataFrame, root: Path) -> None:
    """Three days of the simulated market in Binance's archive layout (hourly klines)."""
    days = frame.iloc[: 3 * 24]
    quote = days["volume_usd"].to_numpy() if "volume_usd" in days else np.full(len(days), 5e8)
    market = Market(
        start=days.index[0],
        bars=len(days),
        step=pd.Timedelta(hours=1),
        close=days["close"].to_numpy(),
        mark=days.get("mark_price", days["close"]).to_numpy(),
        index=days["index_price"].to_numpy(),
        quote_volume=quote,
        taker_buy_quote=quote * 0.5,
    )
    if root.exists():
        shutil.rmtree(root)
    write_archive(
        root,
        market,
        interval="1h",
        kinds=("klines", "markPriceKlines", "indexPriceKlines", "metrics", "fundingRate"),
    )


def main() -> None:
    frame = simulate("BTC", days=DAYS, bar="1h", seed=11)
    own_layout(frame).to_csv(HERE / "my_exchange_btc_1h.csv", index=False)
    okx_layout(frame).to_csv(HERE / "okx_btc_usd_swap_1h_example.csv", index=False)
    binance_archive(frame, HERE / "binance")
    print(f"wrote {DAYS} simulated days from {frame.index[0]} into {HERE}")


if __name__ == "__main__":
    main()
