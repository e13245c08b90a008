"""The after-flush read: found from the bars, each item measured, nothing when there was none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from serving.post_flush import read_flush

STEP = pd.Timedelta(hours=1)


def _market(flush_at: int | None, n: int = 24 * 10) -> pd.DataFrame:
    index = pd.date_range("2025-03-01", periods=n, freq=STEP, tz="UTC", name="time")
    close = np.full(n, 100.0)
    oi = np.full(n, 1e9)
    funding = np.full(n, 0.0005)
    premium = np.full(n, 0.002)
    long_liq = np.full(n, 1e4)
    if flush_at is not None:
        close[flush_at:] = 90.0
        close[flush_at + 1 :] = 91.5
        oi[flush_at:] = 0.8e9
        oi[flush_at + 1 :] = 0.8e9 * 1.01 ** np.arange(1, n - flush_at)  # rebuilding 1 %/h
        funding[flush_at:] = 0.00005
        premium[flush_at:] = 0.0001
        long_liq[flush_at] = 2e7  # 2 % of open interest in one hour
    frame = pd.DataFrame(
        {
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "funding_rate": funding,
            "open_interest_usd": oi,
            "index_price": close / (1 + premium),
            "long_liq_usd": long_liq,
            "short_liq_usd": np.full(n, 1e4),
        },
        index=index,
    )
    return frame


def test_a_recent_flush_is_read_item_by_item():
    frame = _market(flush_at=24 * 10 - 6)  # six hours ago
    now = frame.index[-1]
    read = read_flush(frame, STEP, now)
    assert read is not None and read["hours_since"] == 5.0
    assert read["size_usd"] == 2e7
    items = {i["name"]: i for i in read["items"]}
    assert items["funding"]["then"] == 0.0005 and items["funding"]["now"] == 0.00005
    assert "back to neutral" in items["funding"]["text"]
    oi = items["open interest"]
    assert oi["then"] == 1e9 and oi["now"] < 1e9
    assert oi["rebuild_per_hour"] == pytest.approx(0.01, rel=1e-6)
    assert "reloading" in oi["text"]  # fast rebuild while the price chops
    assert items["basis"]["now"] < items["basis"]["then"]
    assert "price vs flush low" in items and "level that broke" in items
    assert all(i["text"] for i in read["items"])


def test_no_flush_means_no_block():
    frame = _market(flush_at=None)
    assert read_flush(frame, STEP, frame.index[-1]) is None
    old = _market(flush_at=24 * 3)  # a week ago: outside the 48 h
    assert read_flush(old, STEP, old.index[-1]) is None


def test_the_served_models_usd_label_says_what_a_flush_is():
    frame = _market(flush_at=24 * 10 - 6)
    frame.loc[frame.index[-6], "long_liq_usd"] = 1.8e6  # 0.2 % of OI: under 0.3 %, over $1.75M
    now = frame.index[-1]
    assert read_flush(frame, STEP, now) is None  # the OI-fraction default sees no flush
    read = read_flush(frame, STEP, now, {"threshold_usd": 1.75e6})
    assert read is not None and read["size_usd"] == 1.8e6


def test_a_broken_low_is_said_as_broken_not_as_a_negative_distance_above():
    frame = _market(flush_at=24 * 10 - 6)
    frame.loc[frame.index[-1], ["low", "close"]] = [85.0, 88.0]  # under the flush low of 89.91
    text = {i["name"]: i["text"] for i in read_flush(frame, STEP, frame.index[-1])["items"]}
    assert text["price vs flush low"].startswith("price is 2.1% below the flush low")
    assert "the low broke" in text["price vs flush low"] and "above" not in text["price vs flush low"]


def test_a_damaged_older_month_is_an_error_naming_it_not_no_flush(tmp_path):
    """The after-flush read reaches 9 days back: a damaged month there is the symbol's error
    (the service's 503 naming the file), never a quiet "no recent flush"."""
    from features.errors import UnreadableDataError
    from features.store import MarketStore
    from serving.post_flush import post_flush

    frame = _market(flush_at=None, n=24 * 20)  # 2025-03-01 .. 03-20
    frame.index = frame.index - pd.Timedelta(days=10)  # 2025-02-19 .. 03-10: two months
    MarketStore(tmp_path).write("ETH", frame, source="test")
    now = pd.Timestamp("2025-03-05 12:00", tz="UTC")  # its 9 days reach back into February
    assert post_flush(tmp_path, "ETH", "1h", now) is None  # intact: no flush, no block
    february = [p for p in (tmp_path / "ETH").rglob("*.parquet") if "month=2025-02" in str(p)]
    assert february
    for path in february:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UnreadableDataError, match="ETH"):
        post_flush(tmp_path, "ETH", "1h", now)
