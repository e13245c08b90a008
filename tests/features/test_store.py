"""The Parquet store: merged, de-duplicated, atomic writes and correct resampling on read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError
from features.store import MarketStore, resample


def bars(
    n: int, start: str = "2024-01-01", freq: str = "5min", seed: int = 0, **extra
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="time").as_unit("ns")
    close = 100 + rng.normal(0, 1, n).cumsum()
    open_ = np.r_[close[0], close[:-1]]
    data = {
        "open": open_,
        "high": np.maximum(open_, close) + rng.uniform(0, 1, n),
        "low": np.minimum(open_, close) - rng.uniform(0, 1, n),
        "close": close,
        "funding_rate": rng.uniform(-1e-4, 3e-4, n),
    }
    data.update(extra)
    return pd.DataFrame(data, index=index)


def test_write_then_read_returns_the_frame(tmp_path):
    store = MarketStore(tmp_path)
    frame = bars(20, open_interest_usd=np.linspace(1e9, 2e9, 20))
    result = store.write("btc", frame, source="test")
    assert result.path == tmp_path / "BTC" / "5m"
    assert (tmp_path / "BTC" / "5m" / "_delta_log").is_dir()  # a Delta table
    assert list((tmp_path / "BTC" / "5m" / "month=2024-01").glob("*.parquet"))
    assert (result.rows_before, result.rows_after) == (0, 20)
    pd.testing.assert_frame_equal(
        store.read("BTC"), frame[store.read("BTC").columns], check_freq=False
    )
    assert [(d.symbol, d.bar, d.rows) for d in store.datasets()] == [("BTC", "5m", 20)]
    assert not list((tmp_path / "BTC").rglob("*.tmp")), "no temp file is left behind"


def test_overlapping_reimport_merges_without_duplicates_or_losses(tmp_path):
    store = MarketStore(tmp_path)
    first = bars(100, seed=1, open_interest_usd=np.full(100, 5e9))
    store.write("BTC", first)
    # Overlaps rows 50..99 with different prices and no open interest, adds rows 100..149.
    second = bars(100, start=str(first.index[50]), seed=2)
    result = store.write("BTC", second)

    merged = store.read("BTC")
    assert result.rows_after == 150 and result.rows_added == 50
    assert merged.index.is_unique and merged.index.is_monotonic_increasing
    # New values win in the overlap; rows only in the old data survive unchanged.
    pd.testing.assert_series_equal(merged["close"].iloc[50:], second["close"], check_freq=False)
    pd.testing.assert_series_equal(
        merged["close"].iloc[:50], first["close"].iloc[:50], check_freq=False
    )
    # A column the new data lacks keeps its stored values where it had them.
    assert (merged["open_interest_usd"].iloc[:100] == 5e9).all()
    assert merged["open_interest_usd"].iloc[100:].isna().all()
    # Importing the same data again changes nothing.
    again = store.write("BTC", second)
    assert again.rows_added == 0
    pd.testing.assert_frame_equal(store.read("BTC"), merged)


def test_invalid_write_leaves_the_stored_file_untouched(tmp_path):
    store = MarketStore(tmp_path)
    store.write("BTC", bars(10))
    folder = tmp_path / "BTC" / "5m"
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    bad = bars(10, start="2024-01-01 00:50").assign(funding_rate=0.2)
    with pytest.raises(DataError, match="funding_rate"):
        store.write("BTC", bad, source="bad.csv")
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_off_grid_timestamps_are_rejected(tmp_path):
    frame = bars(5)
    frame.index = frame.index + pd.Timedelta(minutes=2)
    with pytest.raises(DataError, match="not on the 5m bar grid"):
        MarketStore(tmp_path).write("BTC", frame)


def test_single_row_write_with_explicit_bar(tmp_path):
    store = MarketStore(tmp_path)
    store.write("BTC", bars(1), bar="5m")
    store.write("BTC", bars(1, start="2024-01-01 00:10"), bar="5m")
    assert store.read("BTC").index.tolist() == [
        pd.Timestamp("2024-01-01 00:00", tz="UTC"),
        pd.Timestamp("2024-01-01 00:10", tz="UTC"),
    ]


def test_resample_5m_to_1h_aggregates_each_column_correctly():
    n = 24  # two full hours of 5-minute bars
    rng = np.random.default_rng(3)
    frame = bars(
        n,
        volume_usd=rng.uniform(1, 10, n),
        taker_buy_ratio=rng.uniform(0, 1, n),
        long_liq_usd=rng.uniform(0, 5, n),
        short_liq_usd=rng.uniform(0, 5, n),
        open_interest_usd=rng.uniform(1e9, 2e9, n),
        bid_depth_1pct_usd=rng.uniform(1e6, 2e6, n),
        long_short_ratio=rng.uniform(0.5, 2, n),
        mark_price=rng.uniform(99, 101, n),
    )
    hourly = resample(frame, "1h")

    assert hourly.index.tolist() == [
        pd.Timestamp("2024-01-01 00:00", tz="UTC"),
        pd.Timestamp("2024-01-01 01:00", tz="UTC"),
    ]
    for h in range(2):
        part = frame.iloc[h * 12 : (h + 1) * 12]
        row = hourly.iloc[h]
        assert row["open"] == part["open"].iloc[0]
        assert row["high"] == part["high"].max()
        assert row["low"] == part["low"].min()
        assert row["close"] == part["close"].iloc[-1]
        for col in ("volume_usd", "long_liq_usd", "short_liq_usd"):
            assert row[col] == pytest.approx(part[col].sum())
        for col in (
            "funding_rate",
            "open_interest_usd",
            "bid_depth_1pct_usd",
            "long_short_ratio",
            "mark_price",
        ):
            assert row[col] == part[col].iloc[-1]
        weighted = (part["taker_buy_ratio"] * part["volume_usd"]).sum() / part["volume_usd"].sum()
        assert row["taker_buy_ratio"] == pytest.approx(weighted)


def test_resample_drops_incomplete_hours_and_keeps_missing_sums_missing():
    frame = bars(36, long_liq_usd=1.0, short_liq_usd=1.0)
    frame.loc[frame.index[12:24], ["long_liq_usd", "short_liq_usd"]] = np.nan  # hour 2: unknown
    frame = frame.drop(frame.index[30])  # hour 3 loses one 5-minute bar
    hourly = resample(frame, "1h")
    assert len(hourly) == 2, "the hour with a missing bar becomes a gap"
    assert hourly["long_liq_usd"].iloc[0] == 12.0
    assert np.isnan(hourly["long_liq_usd"].iloc[1]), "unknown liquidations are not zero"


def test_read_resamples_to_a_coarser_bar_and_refuses_a_finer_one(tmp_path):
    store = MarketStore(tmp_path)
    frame = bars(48, volume_usd=1.0)
    store.write("BTC", frame)
    hourly = store.read("BTC", bar="1h")
    pd.testing.assert_frame_equal(hourly, resample(store.read("BTC"), "1h"))
    assert hourly["volume_usd"].tolist() == [12.0] * 4
    window = store.read("BTC", bar="1h", start="2024-01-01 01:00", end="2024-01-01 02:59")
    assert len(window) == 2
    with pytest.raises(DataError, match="cannot make 1m bars"):
        store.read("BTC", bar="1m")
    with pytest.raises(DataError, match="no data for 'ETH'"):
        store.read("ETH")


def test_read_resamples_from_the_stored_bar_not_the_spacing_it_sees(tmp_path):
    """A 5m dataset whose selected rows happen to be 15m apart is still 5m data: its hours are
    incomplete (4 of 12 bars) and must become gaps, not hours with a third of their volume."""
    store = MarketStore(tmp_path)
    frame = bars(36, volume_usd=1.0)
    sparse = frame.iloc[12:][np.arange(24) % 3 == 0]  # hours 1 and 2: every third 5m bar
    store.write("BTC", pd.concat([frame.iloc[:12], sparse]))
    assert store.bars("BTC") == ["5m"]
    assert store.read("BTC", bar="1h")["volume_usd"].tolist() == [12.0]
    assert store.read("BTC", bar="1h", start="2024-01-01 01:00").empty
