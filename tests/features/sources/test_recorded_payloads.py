"""Real exchange payloads, end to end: raw HTTP answers go through the real ccxt exchange class
(its request building and its parsing: only ``Exchange.fetch``, the HTTP call, is replaced),
then through the fetcher and the live collector's REST path into the store.

Fixtures: ``tests/features/sources/recorded/<exchange>.json``.

- ``ccxt_cases``: answers copied verbatim from ccxt's own recorded responses
  (``ts/src/test/static/response/<id>.json`` in ccxt/ccxt, file and commit named in ``source``),
  each with the method, its input, the raw ``httpResponse`` and ccxt's ``parsedResponse``.
- ``scenarios``: the answers one fetch needs, each endpoint either ``{"ccxt_case": ...}`` (the
  recorded answer, verbatim) or hand-made in the exchange's documented raw layout where ccxt
  recorded no such call; every endpoint's ``sources`` line says which.

What a user relies on is asserted against ccxt's ``parsedResponse`` where the answer is
recorded: the stored closes, volumes and open interest are those ccxt parsed, at those times.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt
import pandas as pd
import pytest

from features.bars import parse_bar
from features.sources import fetch_ccxt
from features.sources.fetch_ccxt import fetch_to_store
from features.sources.live.collector import fetch_bars
from features.store import MarketStore

FIXTURES = Path(__file__).parent / "recorded"
EXCHANGES = ("binanceusdm", "bybit", "okx")
CANDLES = {
    "binanceusdm": "/fapi/v1/klines",
    "bybit": "/v5/market/kline",
    "okx": "/api/v5/market/history-candles",
}
# the raw column ccxt reads as base volume (BTC), for hand-made candle answers: OKX swaps count
# contracts of 0.01 BTC in column 5 and BTC in column 6 (volCcy)
RAW_VOLUME_COLUMN = {"binanceusdm": 5, "bybit": 5, "okx": 6}


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


class RecordedHttp:
    """Stands in for ``Exchange.fetch``: the recorded raw answer of each endpoint.

    Keys are paths, optionally with query conditions (``/path?category=linear``); the most
    specific key that matches the request wins. ``fallback`` answers any other path (used to
    replay one recorded case whatever path the installed ccxt builds for it)."""

    def __init__(self, responses: dict[str, Any], fallback: Any = None) -> None:
        self.responses = responses
        self.fallback = fallback
        self.paths: list[str] = []
        self.unmatched: list[str] = []

    def __call__(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        self.paths.append(parts.path)
        matches = []
        for key, answer in self.responses.items():
            path, _, wanted = key.partition("?")
            conditions = parse_qsl(wanted)
            if path == parts.path and all(query.get(k) == v for k, v in conditions):
                matches.append((len(conditions), answer))
        if not matches:
            if self.fallback is None:
                raise ccxt.NotSupported(f"no recorded answer for {parts.path}")
            self.unmatched.append(parts.path)
            return copy.deepcopy(self.fallback)
        return copy.deepcopy(max(matches, key=lambda m: m[0])[1])


def answers(data: dict[str, Any], responses: dict[str, Any]) -> dict[str, Any]:
    """A scenario's answers with each ``{"ccxt_case": name}`` replaced by that recorded answer."""
    cases = data["ccxt_cases"]
    out = dict(data["markets"]["responses"])
    for path, answer in responses.items():
        ref = answer.get("ccxt_case") if isinstance(answer, dict) else None
        out[path] = cases[ref]["httpResponse"] if ref else answer
    return out


def exchange_for(data: dict[str, Any], responses: dict[str, Any], fallback: Any = None):
    config = {"enableRateLimit": False, "options": data.get("options", {})}
    exchange = getattr(ccxt, data["exchange"])(config)
    http = RecordedHttp(answers(data, responses), fallback)
    exchange.fetch = http
    return exchange, http


def candle_rows(name: str, data: dict[str, Any], scenario: dict[str, Any]) -> list[list[float]]:
    """[time, open, high, low, close, base volume] per bar, oldest first: ccxt's own
    parsedResponse where the candle answer is recorded, else the hand-made raw rows."""
    answer = scenario["responses"][CANDLES[name]]
    if isinstance(answer, dict) and "ccxt_case" in answer:
        return data["ccxt_cases"][answer["ccxt_case"]]["parsedResponse"]
    body = answer if isinstance(answer, list) else answer.get("data") or answer["result"]["list"]
    column = RAW_VOLUME_COLUMN[name]
    rows = [[int(r[0]), *map(float, r[1:5]), float(r[column])] for r in body]
    return sorted(rows, key=lambda r: r[0])


BYBIT = fixture("bybit")
BYBIT_HOURS = BYBIT["ccxt_cases"]["swap ohlcv with since and limit"]["parsedResponse"]
BYBIT_OI = BYBIT["ccxt_cases"]["linear OI"]["parsedResponse"]
NAN = math.nan

# Per exchange and scenario, the per-bar values a user relies on besides the candles: funding in
# force (per 8 h), open interest in USD and the long/short account ratio.
EXPECTED: dict[tuple[str, str], dict[str, list[float]]] = {
    ("binanceusdm", "recorded swap minutes"): {
        "funding_rate": [0.000345] * 3,  # settled 08:00, in force 08:41..08:43
        "open_interest_usd": [5810622000.0] * 3,  # sumOpenInterestValue of 08:40
        "long_short_ratio": [1.8602] * 3,
    },
    ("bybit", "recorded swap hours"): {
        "funding_rate": [0.000154] * 3,  # settled 16:00
        # Bybit's open interest is BTC only (ccxt: openInterestValue None): the collector values
        # each snapshot at the close of the bar that had closed when it was taken
        "open_interest_usd": [
            52280.123 * BYBIT_HOURS[0][4],  # 17:00 snapshot x close of the 16:00 bar
            52311.870 * BYBIT_HOURS[1][4],  # 18:00 snapshot x close of the 17:00 bar
            52311.870 * BYBIT_HOURS[1][4],  # the 18:00 bar closes 19:00: still the 18:00 one
        ],
        "long_short_ratio": [0.6012 / 0.3988, 0.5987 / 0.4013, 0.5987 / 0.4013],
    },
    ("bybit", "recorded open interest"): {
        "funding_rate": [0.000087] * 2,
        "open_interest_usd": [
            NAN,  # the 15:00 bar closes 16:00, before the only snapshot (17:00): left missing
            BYBIT_OI["openInterestAmount"] * 97480.5,  # x close of the 16:00 bar
        ],
        "long_short_ratio": [0.5536 / 0.4464, 0.5521 / 0.4479],
    },
    ("okx", "hand-made swap minutes"): {
        "funding_rate": [0.00029] * 3,
        "open_interest_usd": [2001883412.88] * 3,  # oiUsd of 08:40
        "long_short_ratio": [1.41] * 3,
    },
}


def _scenarios() -> list[tuple[str, str]]:
    return [(name, s) for name in EXCHANGES for s in fixture(name)["scenarios"]]


def _cases() -> list[tuple[str, str]]:
    return [(name, c) for name in EXCHANGES for c in fixture(name)["ccxt_cases"]]


def test_every_scenario_has_expectations_and_says_where_each_answer_comes_from() -> None:
    assert set(_scenarios()) == set(EXPECTED)
    for name in EXCHANGES:
        data = fixture(name)
        for scenario in data["scenarios"].values():
            assert set(scenario["responses"]) == set(scenario["sources"])
            for path, answer in scenario["responses"].items():
                recorded = isinstance(answer, dict) and "ccxt_case" in answer
                assert scenario["sources"][path].startswith("RECORDED") == recorded, path
                if recorded:  # the line names the ccxt file, commit and case
                    case = data["ccxt_cases"][answer["ccxt_case"]]
                    assert case["source"] in scenario["sources"][path], path
        for case in data["ccxt_cases"].values():
            assert case["source"].startswith("ccxt/ccxt ts/src/test/static/response/")


@pytest.mark.parametrize(("name", "case"), _cases(), ids=lambda v: str(v))
def test_installed_ccxt_parses_each_recorded_answer_as_ccxt_recorded_it(
    name: str, case: str
) -> None:
    """The installed ccxt turns each recorded raw answer into ccxt's recorded parsedResponse
    (the fields the collector reads), through the endpoint the recording is of."""
    data = fixture(name)
    recorded = data["ccxt_cases"][case]
    exchange, http = exchange_for(data, {}, fallback=recorded["httpResponse"])
    result = getattr(exchange, recorded["method"])(*recorded["input"])
    parsed = recorded["parsedResponse"]

    assert set(http.unmatched) == {recorded["path"]}
    if recorded["method"] == "fetchOHLCV":
        assert result == parsed
    else:
        for key in ("symbol", "timestamp", "openInterestAmount", "openInterestValue"):
            if parsed[key] is None:
                assert result[key] is None, key
            else:
                assert result[key] == pytest.approx(parsed[key]), key


@pytest.mark.parametrize(("name", "scenario"), _scenarios(), ids=lambda v: str(v))
def test_exchange_payloads_reach_the_store_through_ccxt_and_the_collector(
    name: str, scenario: str, tmp_path: Path
) -> None:
    data = fixture(name)
    spec = data["scenarios"][scenario]
    exchange, http = exchange_for(data, spec["responses"])
    step = parse_bar(spec["bar"])
    bars = pd.date_range(spec["start"], spec["end"], freq=step, tz="UTC").as_unit("ns")
    store = MarketStore(tmp_path)

    report = fetch_to_store(
        store, name, data["symbol"], bars[0], bars[-1], bar=spec["bar"], name="BTC",
        exchange=exchange, sleep=lambda s: None,
    )

    frame = store.read("BTC", bar=spec["bar"])
    rows = candle_rows(name, data, spec)
    assert list(frame.index) == list(bars), report
    assert [pd.Timestamp(r[0], unit="ms", tz="UTC") for r in rows] == list(bars)
    assert frame["close"].tolist() == [r[4] for r in rows]
    assert frame["volume_usd"].tolist() == pytest.approx([r[5] * r[4] for r in rows])
    for column, values in EXPECTED[(name, scenario)].items():
        assert frame[column].tolist() == pytest.approx(values, nan_ok=True), column
    assert frame["mark_price"].notna().all() and frame["index_price"].notna().all()
    assert {"funding_rate", "mark_price", "index_price", "open_interest_usd",
            "long_short_ratio"} <= set(report.streams)
    # the fetch report says how many bars each snapshot stream filled, and how a value the
    # exchange does not give was derived
    for column in ("open_interest_usd", "long_short_ratio"):
        values = EXPECTED[(name, scenario)][column]
        have = sum(not math.isnan(v) for v in values)
        wanted = "ok" if have == len(values) else f"{have} of {len(values)} bars"
        assert report.streams[column].startswith(wanted), report.streams[column]
    derived = "bybit gives no USD value" in report.streams["open_interest_usd"]
    assert derived == (name == "bybit"), report.streams["open_interest_usd"]
    assert CANDLES[name] in http.paths

    # the live collector's REST round builds the same bars from the same answers
    live = fetch_bars(exchange, name, data["symbol"], bars[0], bars[-1], step,
                      sleep=lambda s: None)
    assert live is not None
    pd.testing.assert_frame_equal(
        live[frame.columns].astype("float64"), frame.astype("float64"),
        check_freq=False, check_names=False,
    )


@pytest.mark.parametrize(("name", "scenario"), _scenarios(), ids=lambda v: str(v))
def test_which_open_interest_field_each_exchange_leaves_empty(name: str, scenario: str) -> None:
    """ccxt's unified open-interest history per exchange: Binance and OKX give a USD value,
    Bybit's linear history gives only the BTC amount (openInterestValue None), which the
    collector values itself (see the Bybit scenarios above)."""
    data = fixture(name)
    spec = data["scenarios"][scenario]
    exchange, _ = exchange_for(data, spec["responses"])
    timeframe = fetch_ccxt._snapshot_timeframe(parse_bar(spec["bar"]))
    since = int(pd.Timestamp(spec["start"], tz="UTC").value // 1_000_000) - 3 * 3_600_000
    rows = exchange.fetch_open_interest_history(data["symbol"], timeframe, since=since, limit=3)
    assert rows
    assert all((r["openInterestValue"] is None) == (name == "bybit") for r in rows)
    assert all(r["openInterestAmount"] is not None for r in rows)


def test_recorded_open_interest_is_valued_in_usd_whatever_field_the_exchange_fills() -> None:
    """ccxt's recorded open-interest answers fill different unified fields: Bybit linear the
    amount in BTC only, Bybit inverse the value in USD only, OKX both (the amount in contracts
    of 0.01 BTC). The collector's valuation gives USD in each case."""
    step = pd.Timedelta(hours=1)
    okx = fixture("okx")
    okx_oi = okx["ccxt_cases"]["linear oi"]["parsedResponse"]
    okx_exchange, _ = exchange_for(okx, {})
    okx_exchange.load_markets()
    okx_market = okx_exchange.market("BTC/USDT:USDT")
    # OKX counts contracts: amount x contract size is the BTC amount it also reports (oiCcy)
    assert okx_oi["openInterestAmount"] * okx_market["contractSize"] == pytest.approx(
        okx_oi["baseVolume"]
    )
    price = okx_oi["openInterestValue"] / okx_oi["baseVolume"]
    at = pd.Timestamp(okx_oi["timestamp"], unit="ms", tz="UTC").floor(step) - step
    closes = pd.Series([price], index=pd.DatetimeIndex([at]))
    # with the value given, it is used as is; without it, amount x contract size x price
    assert fetch_ccxt._oi_usd(okx_oi, okx_market, closes, step) == okx_oi["openInterestValue"]
    derived = fetch_ccxt._oi_usd({**okx_oi, "openInterestValue": None}, okx_market, closes, step)
    assert derived == pytest.approx(okx_oi["openInterestValue"])

    bybit_exchange, _ = exchange_for(BYBIT, {})
    bybit_exchange.load_markets()
    inverse = BYBIT["ccxt_cases"]["inverse OI"]["parsedResponse"]
    assert inverse["openInterestAmount"] is None
    value = fetch_ccxt._oi_usd(inverse, bybit_exchange.market("BTC/USD:BTC"), closes[:0], step)
    assert value == inverse["openInterestValue"]
