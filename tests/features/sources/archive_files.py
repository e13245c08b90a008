"""Hand-made Binance USDⓈ-M public-archive files in the real layout, for importer and fetcher tests.

Column layouts as published on data.binance.vision (binance-public-data):
klines / markPriceKlines / indexPriceKlines / premiumIndexKlines share the 12 kline columns;
metrics has create_time as text; fundingRate is monthly; bookDepth has signed percentage bands.
Files go to the same relative paths as on the server, e.g.
``futures/um/daily/klines/BTCUSDT/5m/BTCUSDT-5m-2024-01-01.zip``.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore"
)
METRICS_HEADER = (
    "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
    "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio"
)
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
BOOK_DEPTH_HEADER = "timestamp,percentage,depth,notional"


@dataclass
class Market:
    """The hand-made truth the files are written from, so tests can compare against it."""

    start: pd.Timestamp
    bars: int
    step: pd.Timedelta
    close: np.ndarray
    mark: np.ndarray
    index: np.ndarray
    quote_volume: np.ndarray
    taker_buy_quote: np.ndarray

    @property
    def opens(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.bars, freq=self.step, tz="UTC")


def make_market(
    start: str = "2024-01-01", days: int = 2, step: str = "5min", seed: int = 3
) -> Market:
    rng = np.random.default_rng(seed)
    step_td = pd.Timedelta(step)
    bars = int(pd.Timedelta(days=days) / step_td)
    close = 42_000 * np.exp(np.cumsum(rng.normal(0, 0.001, bars)))
    quote = rng.uniform(1e6, 5e6, bars)
    return Market(
        start=pd.Timestamp(start, tz="UTC"),
        bars=bars,
        step=step_td,
        close=close,
        mark=close * 1.0001,
        index=close * 0.9998,
        quote_volume=quote,
        taker_buy_quote=quote * rng.uniform(0.3, 0.7, bars),
    )


def _ms(ts: pd.Timestamp | pd.DatetimeIndex, unit: str = "ms"):
    """Epoch integers in ms (or µs) whatever the resolution pandas chose for ``ts``."""
    ns = ts.as_unit("ns").asi8 if isinstance(ts, pd.DatetimeIndex) else ts.as_unit("ns").value
    return ns // (1_000_000 if unit == "ms" else 1_000)


def kline_rows(m: Market, which: str, sl: slice, time_unit: str = "ms") -> list[str]:
    opens = m.opens[sl]
    close = {
        "klines": m.close,
        "markPriceKlines": m.mark,
        "indexPriceKlines": m.index,
        "premiumIndexKlines": m.close / m.index - 1,
    }[which][sl]
    prev = np.r_[close[0], close[:-1]]
    rows = []
    step_ms = m.step.value // (1_000_000 if time_unit == "ms" else 1_000)
    for i, t in enumerate(_ms(opens, time_unit)):
        o, c = prev[i], close[i]
        h, lo = max(o, c) * 1.0005, min(o, c) * 0.9995
        qv = m.quote_volume[sl][i] if which == "klines" else 0.0
        tb = m.taker_buy_quote[sl][i] if which == "klines" else 0.0
        rows.append(
            f"{t},{o:.6f},{h:.6f},{lo:.6f},{c:.6f},{qv / c:.3f},{t + step_ms - 1},{qv:.4f},"
            f"100,{tb / c:.3f},{tb:.4f},0"
        )
    return rows


def write_file(path: Path, header: str | None, rows: list[str], as_zip: bool = True) -> Path:
    text = "\n".join(([header] if header else []) + rows) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if as_zip:
        path = path.with_suffix(".zip")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(path.with_suffix(".csv").name, text)
    else:
        path = path.with_suffix(".csv")
        path.write_text(text)
    return path


def zip_bytes(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, text)
    return buffer.getvalue()


def write_archive(
    root: Path,
    m: Market,
    symbol: str = "BTCUSDT",
    interval: str = "5m",
    kinds: tuple[str, ...] = (
        "klines",
        "markPriceKlines",
        "indexPriceKlines",
        "metrics",
        "fundingRate",
        "bookDepth",
    ),
    header: bool = True,
    as_zip: bool = True,
    time_unit: str = "ms",
    funding_interval_hours: int = 8,
    funding_rate: float = 0.0001,
) -> dict[str, list[Path]]:
    """Write daily files (monthly for funding) for every day of ``m``; returns paths by kind."""
    per_day = int(pd.Timedelta(days=1) / m.step)
    days = m.bars // per_day
    written: dict[str, list[Path]] = {}
    daily = root / "futures" / "um" / "daily"
    for d in range(days):
        sl = slice(d * per_day, (d + 1) * per_day)
        date = (m.start + pd.Timedelta(days=d)).strftime("%Y-%m-%d")
        for kind in kinds:
            if kind in ("klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines"):
                path = daily / kind / symbol / interval / f"{symbol}-{interval}-{date}.csv"
                rows = kline_rows(m, kind, sl, time_unit)
                written.setdefault(kind, []).append(
                    write_file(path, KLINE_HEADER if header else None, rows, as_zip)
                )
            elif kind == "metrics":
                path = daily / "metrics" / symbol / f"{symbol}-metrics-{date}.csv"
                written.setdefault(kind, []).append(
                    write_file(
                        path,
                        METRICS_HEADER if header else None,
                        metrics_rows(m, sl, symbol),
                        as_zip,
                    )
                )
            elif kind == "bookDepth":
                path = daily / "bookDepth" / symbol / f"{symbol}-bookDepth-{date}.csv"
                written.setdefault(kind, []).append(
                    write_file(
                        path, BOOK_DEPTH_HEADER if header else None, depth_rows(m, sl), as_zip
                    )
                )
    if "fundingRate" in kinds:
        month = m.start.strftime("%Y-%m")
        path = (
            root
            / "futures"
            / "um"
            / "monthly"
            / "fundingRate"
            / symbol
            / f"{symbol}-fundingRate-{month}.csv"
        )
        written["fundingRate"] = [
            write_file(
                path,
                FUNDING_HEADER if header else None,
                funding_rows(m, funding_interval_hours, funding_rate),
                as_zip,
            )
        ]
    return written


def oi_usd(t: pd.Timestamp) -> float:
    """Open interest (USD) of the metrics snapshot taken at ``t``: a function of time only."""
    return 5e9 + (t.value // 300_000_000_000 % 1000) * 1e6


def metrics_rows(m: Market, sl: slice, symbol: str) -> list[str]:
    """5-minute snapshots at each 5-minute mark of the day (create_time is text), shuffled
    the way the real files are not in time order."""
    start = m.opens[sl][0]
    times = pd.date_range(
        start + pd.Timedelta(minutes=5), start + pd.Timedelta(days=1), freq="5min"
    )
    rows = [
        f"{t:%Y-%m-%d %H:%M:%S},{symbol},{oi_usd(t) / 42000:.4f},{oi_usd(t):.8f},1.5,1.4,1.25,0.8"
        for t in times
    ]
    return rows[1:] + rows[:1]


def funding_rows(m: Market, interval_hours: int, rate: float) -> list[str]:
    end = m.opens[-1] + m.step
    times = pd.date_range(m.start, end, freq=f"{interval_hours}h")
    # Binance calc_time carries a millisecond of jitter.
    return [f"{_ms(t) + 1},{interval_hours},{rate:.8f}" for t in times]


def depth_notional(pct: int, t: pd.Timestamp) -> float:
    minute = t.value // 60_000_000_000 % 1440
    return 1e6 * abs(pct) * (2 if pct < 0 else 1) + minute


def depth_rows(m: Market, sl: slice) -> list[str]:
    """A snapshot every minute, 30 s past, at ±1..5 %."""
    start = m.opens[sl][0]
    times = pd.date_range(start + pd.Timedelta(seconds=30), periods=1440, freq="1min")
    rows = []
    for t in times:
        for pct in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5):
            notional = depth_notional(pct, t)
            rows.append(f"{t:%Y-%m-%d %H:%M:%S},{pct},{notional / 42000:.4f},{notional:.2f}")
    return rows
