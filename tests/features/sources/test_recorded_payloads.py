"""Real exchange payloads, end to end: raw HTTP answers go through the real ccxt exchange class
(its request building and its parsing: only ``Exchange.fetch``, the HTTP call, is replaced),
then through the fetcher and the live collector's REST path into the store.

Fixtures: ``tests/features/sources/recorded/<exchange>.json``. Each names, per endpoint, where
its answer comes from: verbatim from ccxt's recorded responses
(``ts/src/test/static/response/<id>.json`` in ccxt/ccxt) where ccxt recorded that call, or
hand-made in the exchange's documented raw layout where it did not (said so in the file).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ccxt
import pandas as pd
import pytest

from features.sources.fetch_ccxt import fetch_to_store
from features.sources.live.collector import fetch_bars
from features.store import MarketStore

FIXTURES = Path(__file__).parent / "recorded"


class RecordedHttp:
    """Stands in for ``Exchange.fetch``: the recorded raw answer of each endpoint path."""

    def __init__(self, responses: dict[str, Any]) -> None:
        self.responses = responses
        self.paths: list[str] = []

    def __call__(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        path = urlsplit(url).path
        self.paths.append(path)
        if path not in self.responses:
            raise ccxt.NotSupported(f"no recorded answer for {path}")
        return copy.deepcopy(self.responses[path])


def recorded(name: str) -> tuple[Any, RecordedHttp, dict[str, Any]]:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    exchange = getattr(ccxt, data["exchange"])({"enableRateLimit": False})
    http = RecordedHttp(data["responses"])
    exchange.fetch = http
    return exchange, http, data


def _klines(data: dict[str, Any], path: str) -> pd.DataFrame:
    rows = data["responses"][path]
    frame = pd.DataFrame([[float(v) for v in r[1:6]] for r in rows],
                         columns=["open", "high", "low", "close", "volume"])
    frame.index = pd.to_datetime([int(r[0]) for r in rows], unit="ms", utc=True).as_unit("ns")
    return frame


def test_binanceusdm_recorded_candles_reach_the_store_with_every_stream(tmp_path: Path) -> None:
    exchange, http, data = recorded("binanceusdm")
    candles = _klines(data, "/fapi/v1/klines")  # recorded by ccxt: 2024-04-10 08:41..08:43
    store = MarketStore(tmp_path)

    report = fetch_to_store(
        store, "binanceusdm", data["symbol"], candles.index[0], candles.index[-1],
        bar="1m", name="BTC", exchange=exchange, sleep=lambda s: None,
    )

    frame = store.read("BTC", bar="1m")
    assert list(frame.index) == list(candles.index)
    assert frame["close"].tolist() == candles["close"].tolist()
    assert frame["high"].tolist() == candles["high"].tolist()
    # ccxt's unified volume of a USD-M candle is in BTC: USD volume = volume x close
    assert frame["volume_usd"].tolist() == pytest.approx((candles["volume"] * candles["close"]).tolist())
    # the settlement of 08:00 (0.0345 % per 8 h) is in force for every bar
    assert frame["funding_rate"].tolist() == pytest.approx([0.000345] * 3)
    marks = _klines(data, "/fapi/v1/markPriceKlines")
    assert frame["mark_price"].tolist() == marks["close"].tolist()
    # open interest in USD straight from sumOpenInterestValue, the snapshot of 08:40 (the last
    # one before each bar's close)
    assert frame["open_interest_usd"].tolist() == pytest.approx([5810622000.0] * 3)
    assert frame["long_short_ratio"].tolist() == pytest.approx([1.8602] * 3)
    assert report.rows_written == 3
    assert {"/fapi/v1/exchangeInfo", "/fapi/v1/klines", "/fapi/v1/fundingRate",
            "/futures/data/openInterestHist"} <= set(http.paths)

    # the live collector's REST round builds the same bars from the same answers
    live = fetch_bars(exchange, "binanceusdm", data["symbol"], candles.index[0],
                      candles.index[-1], pd.Timedelta(minutes=1), sleep=lambda s: None)
    assert live is not None
    pd.testing.assert_frame_equal(
        live[frame.columns].astype("float64"), frame.astype("float64"), check_freq=False,
        check_names=False,
    )
