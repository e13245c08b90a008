"""The ccxt fetcher, offline: a fake exchange with a known history, failures on demand."""

from __future__ import annotations

import ccxt
import pandas as pd
import pytest

from features.errors import DataError
from features.sources.fetch_ccxt import FetchInterrupted, fetch_to_store
from features.store import MarketStore
from tests.features.sources.fake_exchange import SYMBOL, FakeExchange, close_at, funding_at, oi_at

MS = 1_000_000
FIVE = pd.Timedelta("5min")


def fetch(store, exchange, since="2024-01-02", until="2024-01-03 23:55", **kwargs):
    return fetch_to_store(
        store,
        "binanceusdm",
        SYMBOL,
        since,
        until,
        bar="5m",
        name="BTC",
        exchange=exchange,
        sleep=lambda s: None,
        **kwargs,
    )


def ms(ts: pd.Timestamp) -> int:
    return ts.value // MS


def test_pages_cover_the_range_exactly_once(tmp_path):
    store = MarketStore(tmp_path)
    ex = FakeExchange(page_cap=100)
    report = fetch(store, ex, chunk_bars=250)

    frame = store.read("BTC")
    expected = pd.date_range("2024-01-02", "2024-01-03 23:55", freq="5min", tz="UTC")
    assert frame.index.equals(expected.as_unit("ns").rename("time"))
    assert report.rows_written == 576 and report.chunks == 3
    # 576 bars in pages of at most 100: several calls, each starting after the previous page.
    sinces = [c[1] for c in ex.calls_of("fetch_ohlcv")]
    assert len(sinces) >= 6 and sinces == sorted(sinces)
    assert frame["close"].tolist() == [close_at(ms(t)) for t in expected]
    assert frame["volume_usd"].tolist() == pytest.approx([2.0 * close_at(ms(t)) for t in expected])
    assert set(report.streams) >= {
        "funding_rate",
        "mark_price",
        "index_price",
        "open_interest_usd",
        "long_short_ratio",
    }


def test_values_are_joined_without_look_ahead(tmp_path):
    store = MarketStore(tmp_path)
    fetch(store, FakeExchange(funding_hours=4), until="2024-01-02 11:55")
    frame = store.read("BTC")
    t = pd.Timestamp("2024-01-02 03:55", tz="UTC")
    # Open interest: the snapshot at the bar's close (04:00), not a later one.
    assert frame.loc[t, "open_interest_usd"] == oi_at(ms(t + FIVE))
    # Funding settled every 4 h: the bar closing at 04:00:00 still has the 00:00 settlement
    # (the 04:00 one is stamped 04:00:00.001), normalised from per-4h to per-8h.
    assert frame.loc[t, "funding_rate"] == pytest.approx(funding_at(ms(t.floor("4h"))))
    assert frame.loc[t + FIVE, "funding_rate"] == pytest.approx(funding_at(ms(t + FIVE)))
    assert frame.loc[t, "mark_price"] == pytest.approx(close_at(ms(t)) * 1.0001)


class AmountOnlyExchange(FakeExchange):
    """An exchange that reports open interest in contracts only (no USD value)."""

    def fetch_open_interest_history(self, *args, **kwargs):
        rows = super().fetch_open_interest_history(*args, **kwargs)
        return [{k: v for k, v in r.items() if k != "openInterestValue"} for r in rows]


def test_open_interest_in_contracts_becomes_usd_at_a_price_already_known(tmp_path):
    """Linear: contracts x size x the close of the bar that had closed at the snapshot (not
    the close of the bar the snapshot falls in: that close lies in its future). Inverse:
    contracts x size (USD face), whatever the price."""
    t = pd.Timestamp("2024-01-02 03:55", tz="UTC")
    linear = MarketStore(tmp_path / "linear")
    fetch(linear, AmountOnlyExchange(), until="2024-01-02 05:55")
    amount = oi_at(ms(t + FIVE)) / 40_000  # the snapshot at the bar's close, 04:00
    assert linear.read("BTC").loc[t, "open_interest_usd"] == pytest.approx(amount * close_at(ms(t)))
    inverse = MarketStore(tmp_path / "inverse")
    exchange = AmountOnlyExchange()
    exchange.market_info = {
        **exchange.market_info,
        "linear": False,
        "inverse": True,
        "contractSize": 100.0,
    }
    fetch(inverse, exchange, until="2024-01-02 05:55")
    assert inverse.read("BTC").loc[t, "open_interest_usd"] == pytest.approx(amount * 100.0)


def test_network_error_stops_keeping_what_was_stored_and_resume_completes(tmp_path):
    store = MarketStore(tmp_path)
    ex = FakeExchange(page_cap=100)
    ex.fail_calls = {30}  # well into the second chunk
    with pytest.raises(FetchInterrupted) as err:
        fetch(store, ex, chunk_bars=250, retries=0)
    message = str(err.value)
    assert "network error from binanceusdm" in message and "timed out" in message
    assert "run the same command again to resume" in message.lower()
    kept = store.read("BTC")
    assert len(kept) == 250, "the first chunk was stored before the failure"
    assert f"up to {kept.index[-1]}" in message

    ex2 = FakeExchange(page_cap=100)
    report = fetch(store, ex2, chunk_bars=250)
    assert report.resumed_from == kept.index[-1] + FIVE
    assert ex2.calls_of("fetch_ohlcv")[0][1] == ms(kept.index[-1] + FIVE), "resumes, not restarts"
    final = store.read("BTC")
    assert len(final) == 576 and final.index.is_unique
    pd.testing.assert_frame_equal(final.iloc[:250], kept)


def test_transient_network_errors_are_retried(tmp_path):
    ex = FakeExchange()
    ex.fail_calls = {3}
    slept = []
    fetch_to_store(
        MarketStore(tmp_path),
        "binanceusdm",
        SYMBOL,
        "2024-01-02",
        "2024-01-02 03:00",
        bar="5m",
        name="BTC",
        exchange=ex,
        sleep=slept.append,
        retries=2,
    )
    assert slept == [2.0]
    assert len(MarketStore(tmp_path).read("BTC")) == 37


def test_refused_optional_history_is_skipped_and_reported(tmp_path):
    ex = FakeExchange()
    ex.refuse = {"fetch_open_interest_history"}
    del ex.has["fetchLongShortRatioHistory"]
    report = fetch(MarketStore(tmp_path), ex)
    frame = MarketStore(tmp_path).read("BTC")
    assert "open_interest_usd" not in frame and "long_short_ratio" not in frame
    assert report.streams["open_interest_usd"].startswith("skipped: BadRequest")
    assert report.streams["long_short_ratio"] == "not offered by binanceusdm"
    assert len(ex.calls_of("fetch_open_interest_history")) == 1, "a refused stream is not retried"
    assert frame["mark_price"].notna().all()


def test_bars_before_the_first_funding_settlement_are_left_out(tmp_path):
    ex = FakeExchange(listed="2024-01-02 06:00")
    report = fetch(MarketStore(tmp_path), ex, since="2024-01-02", until="2024-01-02 12:00")
    frame = MarketStore(tmp_path).read("BTC")
    # Candles start at 06:00 but the first settlement is at 08:00:00.001.
    assert frame.index[0] == pd.Timestamp("2024-01-02 08:00", tz="UTC")
    assert any("left out" in note for note in report.notes)


def test_already_stored_range_fetches_nothing_and_bad_input_is_explained(tmp_path):
    store = MarketStore(tmp_path)
    fetch(store, FakeExchange(), until="2024-01-02 01:00")
    ex = FakeExchange()
    report = fetch(store, ex, until="2024-01-02 01:00")
    assert report.streams == {"all": "already stored"} and ex.calls_of("fetch_ohlcv") == []
    with pytest.raises(DataError, match="has no market 'ETH/BTC'"):
        fetch_to_store(store, "binanceusdm", "ETH/BTC", "2024-01-02", exchange=FakeExchange())
    with pytest.raises(DataError, match="is after --until"):
        fetch(store, FakeExchange(), since="2024-02-01", until="2024-01-01")
    with pytest.raises(DataError, match="not a date"):
        fetch(store, FakeExchange(), since="yesterday-ish")


def test_ccxt_exchange_is_created_with_rate_limiting(monkeypatch, tmp_path):
    made = {}

    def factory(config):
        made.update(config)
        return FakeExchange()

    monkeypatch.setattr(ccxt, "bybit", factory)
    fetch_to_store(
        MarketStore(tmp_path), "bybit", SYMBOL, "2024-01-02", "2024-01-02 00:30", bar="5m"
    )
    assert made == {"enableRateLimit": True}
    assert MarketStore(tmp_path).bars("BTC-USDT-USDT") == ["5m"]
