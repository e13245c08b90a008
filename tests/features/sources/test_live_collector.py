"""Live collection on recorded messages: websocket drops, errors and out-of-order messages;
REST outages that leave gaps, then back-fill them. No network is touched."""

from __future__ import annotations

import threading
import time

import ccxt
import numpy as np
import pandas as pd
import pytest

from features.sources.live.collector import (
    BarAggregator,
    LivePoller,
    WebsocketStreams,
    book_depth,
    liquidation_side,
)
from tests.features.sources.fake_exchange import SYMBOL, FakeExchange
from tests.features.sources.fake_pro import FakeProExchange

T0 = pd.Timestamp("2024-01-10 00:00", tz="UTC")
MS0 = T0.value // 1_000_000
S = 1000
STEP = pd.Timedelta(minutes=1)


def liq(side: str, usd: float, at_s: float) -> dict:
    return {"symbol": SYMBOL, "side": side, "quoteValue": usd, "price": 40_000.0, "timestamp": MS0 + int(at_s * S)}


def book(mid: float = 100.0, at_s: float = 0) -> dict:
    # 10 levels each side, 0.25 % apart, 1000 coins each: within 1 %: 4 levels, within 2 %: 8
    bids = [[mid * (1 - 0.0025 * (k + 0.5)), 1000.0] for k in range(10)]
    asks = [[mid * (1 + 0.0025 * (k + 0.5)), 1000.0] for k in range(10)]
    return {"bids": bids, "asks": asks, "timestamp": MS0 + int(at_s * S)}


def test_liquidation_side_and_depth_parsing():
    assert liquidation_side({"side": "sell"}) == "long"
    assert liquidation_side({"info": {"o": {"S": "BUY"}}}) == "short"  # Binance forceOrder
    assert liquidation_side({"info": {}}) is None
    depth = book_depth(book())
    assert depth["bid_depth_1pct_usd"] == pytest.approx(sum(100 * (1 - 0.0025 * (k + 0.5)) * 1000 for k in range(4)))
    assert depth["ask_depth_2pct_usd"] > depth["ask_depth_1pct_usd"] > 0


def test_websocket_drops_errors_and_out_of_order_messages(tmp_path):
    gate = threading.Event()
    fake = FakeProExchange(
        {
            "watch_liquidations_for_symbols": [
                (MS0 - 5 * S, []),  # connected before bar 0 opens
                (MS0 + 30 * S, [liq("sell", 1000, 10), liq("buy", 500, 20)]),
                (MS0 + 70 * S, [liq("sell", 2000, 65)]),
                (MS0 + 80 * S, ccxt.NetworkError("binanceusdm websocket closed (1006)")),  # drop in bar 1
                (MS0 + 90 * S, [liq("sell", 300, 95)]),
                (MS0 + 130 * S, [liq("sell", 700, 125)]),
                (None, gate),
                (MS0 + 140 * S, [liq("sell", 50, 30)]),  # out of order: bar 0, already handed over
                (MS0 + 150 * S, [liq("sell", 60, 135)]),  # out of order within bar 2: still counted
            ],
            "watch_order_book": [
                (MS0 - 1 * S, book(100, -1)),
                (MS0 + 50 * S, book(101, 50)),
                (MS0 + 115 * S, ccxt.ExchangeError("binanceusdm order book out of sync")),
                (MS0 + 116 * S, book(99, 116)),
                (MS0 + 170 * S, book(98, 170)),
            ],
        },
        start_ms=MS0 - 10 * S,
    )
    errors = []
    aggregator = BarAggregator(STEP, "binanceusdm", tmp_path / "_liquidations")
    streams = WebsocketStreams(fake, [SYMBOL], aggregator, lambda *e: errors.append(e), fake.clock, backoff_s=0.01)
    streams.start()
    try:
        deadline = time.monotonic() + 20
        while fake.scripts["watch_liquidations_for_symbols"][0][0] is not None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.1)
        bar0 = aggregator.take(SYMBOL, T0)
        gate.set()
        assert fake.done.wait(20)
        time.sleep(0.1)
    finally:
        streams.close()
    assert fake.closed
    assert bar0["long_liq_usd"] == 1000 and bar0["short_liq_usd"] == 500
    assert bar0["bid_depth_1pct_usd"] == pytest.approx(book_depth(book(101))["bid_depth_1pct_usd"])
    bar1 = aggregator.take(SYMBOL, T0 + STEP)
    assert "long_liq_usd" not in bar1, "a bar with a websocket drop must not get a partial sum"
    assert "bid_depth_1pct_usd" not in bar1
    bar2 = aggregator.take(SYMBOL, T0 + 2 * STEP)
    assert bar2["long_liq_usd"] == 760 and bar2["short_liq_usd"] == 0
    assert bar2["bid_depth_2pct_usd"] == pytest.approx(book_depth(book(98))["bid_depth_2pct_usd"])
    assert aggregator.late == 1
    assert [e[0] for e in errors] == ["liquidations", "orderbook"]
    logged = (tmp_path / "_liquidations" / "binanceusdm" / "BTC-USDT-USDT" / "2024-01-10.jsonl").read_text()
    assert len(logged.splitlines()) == 7 and '"venue":"binanceusdm"' in logged


class FlakyExchange(FakeExchange):
    """The recorded REST exchange, with an outage switch."""

    down = False

    def _record(self, method, since, limit):
        if self.down:
            self.calls.append((method, since, limit))
            raise ccxt.NetworkError(f"{self.id} GET {method}: Connection reset by peer")
        super()._record(method, since, limit)


def test_rest_outage_leaves_gaps_then_backfills():
    rest = FlakyExchange(listed="2024-01-01", delisted="2024-02-01")
    aggregator = BarAggregator(STEP, "binanceusdm")
    poller = LivePoller(rest, "binanceusdm", [SYMBOL], STEP, aggregator, sleep=lambda s: None)
    name = "BTC-USDT-USDT"
    last = {name: T0}
    got = poller.round(T0 + STEP, last)
    assert list(got[name].index) == [T0 + STEP]
    last[name] = T0 + STEP
    rest.down = True  # a minute-long outage: two bar closes
    assert poller.round(T0 + 2 * STEP, last) == {}
    assert poller.round(T0 + 3 * STEP, last) == {}
    assert poller.gaps == 2 and poller.missing[name] == {T0 + 2 * STEP, T0 + 3 * STEP}
    rest.down = False
    got = poller.round(T0 + 4 * STEP, last)
    assert list(got[name].index) == [T0 + 2 * STEP, T0 + 3 * STEP, T0 + 4 * STEP]
    assert poller.backfilled == 2 and not poller.missing[name]
    frame = got[name]
    assert frame["funding_rate"].notna().all() and frame["open_interest_usd"].notna().all()
    assert "long_liq_usd" not in frame  # no websocket data: no liquidation values invented


def test_watcher_with_fake_exchange_records_gaps_and_backfills(tmp_path):
    """run_live end to end on recorded REST data, time compressed 60x: REST is down for a
    minute; the bar of that minute is a gap at its close and is back-filled afterwards."""
    from features import build_features
    from features.scores import ScoreStore
    from features.sources.live.collector import run_live
    from features.sources.simulator import simulate
    from features.store import MarketStore
    from serving.predictor import Predictor
    from serving.radar import Radar, RadarClock
    from tests.serving.conftest import train_tiny_model

    wall0 = time.time()
    start = pd.Timestamp("2024-01-05 00:00:30", tz="UTC").timestamp()

    def clock() -> float:
        return start + (time.time() - wall0) * 60.0

    rounds = {"done": 0}

    class OutageExchange(FlakyExchange):
        def _record(self, method, since, limit):
            self.down = rounds["done"] == 2  # REST unreachable for the whole third round
            super()._record(method, since, limit)

    rest = OutageExchange(listed="2024-01-01", delisted="2030-01-01")
    fake = FakeProExchange({"watch_order_book": [(None, threading.Event())]})  # a quiet book
    model = train_tiny_model(build_features(simulate("BTC", days=40, bar="1h", seed=2)))
    predictor = Predictor(model, "flushrisk-btc", "t", {})
    radar = Radar(tmp_path, "1m", {"BTC-USDT-USDT": predictor}, clock=RadarClock(), source="binanceusdm")
    on_bars = radar.on_bars

    def counted(bars, closed_at=None):
        rounds["done"] += 1
        return on_bars(bars, closed_at)

    radar.on_bars = counted
    n = run_live(radar, "binanceusdm", [SYMBOL], "1m", threading.Event(), max_bars=5, exchange=rest,
                 pro=fake, clock=clock, settle_s=2.0, backfill=pd.Timedelta(minutes=3), speed=60.0,
                 sleep=lambda s: None)
    assert radar.close(timeout=60)
    assert n == 5
    stored = MarketStore(tmp_path).read("BTC-USDT-USDT", "1m")
    expected = pd.date_range(stored.index[0], stored.index[-1], freq="1min")
    assert list(stored.index) == list(expected), "every bar stored once, the gap back-filled"
    collector = radar.publisher.collector
    assert collector["gaps"] == 1 and collector["backfilled"] == 1 and collector["open_gaps"] == 0
    assert "long_liq_usd" not in stored or stored["long_liq_usd"].isna().all()  # never invented
    scores = ScoreStore(tmp_path).read("BTC-USDT-USDT", "1m")
    assert scores.index.is_unique and scores.index[-1] == stored.index[-1]


def test_data_inspect_shows_recorded_depth_and_liquidations(tmp_path):
    from typer.testing import CliRunner

    from features.sources.simulator import simulate
    from features.store import MarketStore
    from training.cli import app

    frame = simulate("BTC", days=2, bar="1h", seed=1)
    depth = [c for c in frame.columns if "depth" in c]
    frame.loc[frame.index[:30], depth] = np.nan  # the recorder started on the second day
    MarketStore(tmp_path).write("BTC", frame, bar="1h")
    aggregator = BarAggregator(pd.Timedelta(hours=1), "bybit", tmp_path / "_liquidations")
    for k in range(3):
        aggregator.add_liquidation("BTC", liq("sell", 1000.0 * (k + 1), 60.0 * k))
    result = CliRunner().invoke(app, ["data", "inspect", "BTC", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "depth recorded" in result.output and "18 bar(s)" in result.output
    assert "liquidations (bybit)" in result.output and "3 event(s)" in result.output
