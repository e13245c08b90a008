"""A stand-in for the radar JSON API (HELPERS.md contract 5), for page tests and benchmarks.

It answers ``GET /risk``, ``GET /risk/{symbol}`` and ``GET /scores/{symbol}`` with the contract's
shapes from deterministic synthetic markets, next to the real page routes
(:data:`serving.pages.ROUTES`). :meth:`FixtureRadar.append_bar` plays the part of a new replayed
bar. The pages are tested against the real radar service as well (test_browser.py); this
stand-in lets the page code be exercised at 400 symbols without training 400 models.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from serving.alert_rule import rule_text

NAMES = ["BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "ADA", "AVAX", "LINK", "TON", "SUI", "PEPE"]
LEVELS = ("low", "elevated", "high", "extreme")
THRESHOLDS = {"elevated": 0.02, "high": 0.05, "extreme": 0.12}
SPARKLINE_POINTS = 96
UNDERWAY = NAMES[1]
"""The stand-in's symbol whose squeeze is under way (``squeeze_running``): no new alert."""
ALERT_RULE = {"level": "high", "calm_hours": 6.0}
ALERT_RULE["text"] = rule_text(ALERT_RULE)  # the service's own words for the rule
LABEL = "long liquidations of at least 0.5 % of open interest in the next hour"
VERDICT_LINES = (
    (
        "model beats best baseline funding z-score by +0.120 PR-AUC (90% CI +0.070 to +0.170); "
        "PR-AUC 0.210 vs 0.090"
    ),
    (
        "onsets warned at equal alert budget: model is not clearly ahead on onsets of best "
        "baseline funding z-score, 2/7 vs 1/7 (+14.3 pts, 90% CI -14.3 to +42.9 pts)"
    ),
)
DRIVERS = [
    ("funding_rate_z", "funding is {v:.1f} standard deviations above its 7-day mean (longs pay)"),
    ("oi_change_24h", "open interest rose {v:.0f} % in 24 h while price went sideways"),
    ("basis_bps", "the perp trades {v:.0f} bp above the index (rich premium)"),
    ("depth_bid_1pct_ratio", "bid depth within 1 % is {v:.0f} % of its 7-day median (thin book)"),
    ("liq_long_1h_usd", "long liquidations of ${v:.1f}M in the last hour"),
]


def symbol_names(n: int) -> list[str]:
    return NAMES[:n] + [f"S{i:03d}" for i in range(len(NAMES), n)]


@dataclass
class _Market:
    symbol: str
    times: list[datetime]
    columns: dict[str, list[float | None]]
    probability: list[float]
    events: list[tuple[datetime, float]] = field(default_factory=list)
    lag_seconds: float = 0.0  # a collector that fell behind: its data is this much older


class FixtureRadar:
    """Synthetic scored markets for ``n`` symbols, ``days`` of ``bar_minutes`` bars."""

    def __init__(self, n: int = 6, days: int = 30, bar_minutes: int = 5, seed: int = 3,
                 end: datetime | None = None) -> None:
        self.bar = timedelta(minutes=bar_minutes)
        self.bar_name = f"{bar_minutes}m"
        self.rng = np.random.default_rng(seed)
        end = end or datetime.now(UTC).replace(second=0, microsecond=0)
        end -= timedelta(minutes=end.minute % bar_minutes) + self.bar  # the last closed bar
        count = int(timedelta(days=days) / self.bar)
        self.lock = threading.Lock()
        self.markets = {
            s: self._simulate(s, end - self.bar * (count - 1), count, i)
            for i, s in enumerate(symbol_names(n))
        }

    # -- synthetic data ----------------------------------------------------------------------
    def _simulate(self, symbol: str, start: datetime, count: int, i: int) -> _Market:
        rng = self.rng
        times = [start + self.bar * k for k in range(count)]
        price = (60000 if symbol == "BTC" else 3000 / (1 + i)) * np.exp(
            np.cumsum(rng.normal(0, 0.0015, count))
        )
        risk = np.zeros(count)
        x = rng.normal(-4.5, 0.5)
        events = []
        for k in range(count):
            x += 0.02 * (-4.3 - x) + rng.normal(0, 0.08)
            if rng.random() < 1 / 3000:
                x += rng.uniform(1.0, 2.5)
            risk[k] = x
            if k > 12 and rng.random() < 1.0 / (1 + math.exp(-(x + 1.5))) / 40:
                size = float(rng.uniform(4e6, 4e7))
                events.append((times[k], size))
                price[k:] *= 1 - rng.uniform(0.01, 0.04)
                x -= 2.0
        # the last bar of the first symbols is deliberately hot, so every level shows
        bumps = [1.5, 1.0, 0.6, 0.3]
        if i < len(bumps):
            risk[-60:] += np.linspace(0, bumps[i] + 1.2, 60)
        prob = 1 / (1 + np.exp(-risk))
        liq_long = np.where(rng.random(count) < 0.3, rng.lognormal(11, 1.5, count), 0.0)
        liq_short = np.where(rng.random(count) < 0.3, rng.lognormal(10.5, 1.5, count), 0.0)
        for t, size in events:
            liq_long[times.index(t)] += size
        oi = 2e9 / (1 + i) * np.exp(np.cumsum(rng.normal(0, 0.001, count)))
        columns = {
            "close": price.tolist(),
            "liq_long_usd": liq_long.tolist(),
            "liq_short_usd": liq_short.tolist(),
            "funding_rate": (0.0001 + 0.0003 * np.tanh(risk + 4)).tolist(),
            "open_interest_usd": oi.tolist(),
            "basis": (0.0004 + 0.001 * np.tanh(risk + 4) + rng.normal(0, 1e-4, count)).tolist(),
            "depth_bid_1pct_usd": (
                [None] * count if i % 5 == 4 else (4e7 / (1 + i) * np.exp(rng.normal(0, 0.2, count))).tolist()
            ),
        }
        lag = 1800.0 if i % 6 == 5 else 0.0  # every sixth symbol's feed is half an hour behind
        return _Market(symbol, times, columns, prob.tolist(), events, lag)

    def append_bar(self) -> datetime:
        """One more bar for every symbol (a replayed bar close); returns its open time."""
        with self.lock:
            for m in self.markets.values():
                m.times.append(m.times[-1] + self.bar)
                for values in m.columns.values():
                    last = values[-1]
                    values.append(None if last is None else last * float(np.exp(self.rng.normal(0, 0.002))))
                m.probability.append(min(0.95, m.probability[-1] * float(np.exp(self.rng.normal(0.05, 0.1)))))
            return next(iter(self.markets.values())).times[-1]

    # -- contract answers ----------------------------------------------------------------
    @staticmethod
    def _level(p: float) -> str:
        level = "low"
        for name, threshold in THRESHOLDS.items():
            if p >= threshold:
                level = name
        return level

    def _drivers(self, m: _Market) -> list[dict[str, Any]]:
        k = len(m.times)
        first = sum(map(ord, m.symbol)) % len(DRIVERS)  # each symbol has its own leading driver
        out = []
        for j, (feature, text) in enumerate(DRIVERS):
            rank = (j - first) % len(DRIVERS)
            v = [2.3, 38.0, 41.0, 55.0, 3.2][j] * (1 + 0.1 * math.sin(k + j))
            out.append({
                "feature": feature, "text": text.format(v=v), "value": v, "raw_value": v,
                "contribution": m.probability[-1] * (0.35 - 0.08 * rank) * (1 if rank != 3 else -1),
                "contribution_log_odds": 0.6 - 0.15 * rank,
            })
        out.sort(key=lambda d: -abs(d["contribution"]))
        return out

    def _summary(self, m: _Market, now: datetime) -> dict[str, Any]:
        per_hour = int(timedelta(hours=1) / self.bar)
        per_day = int(timedelta(hours=24) / self.bar)
        step = max(1, -(-per_day // SPARKLINE_POINTS))
        p = m.probability[-1]
        drivers = self._drivers(m)
        age = max(0.0, (now - (m.times[-1] + self.bar)).total_seconds()) + m.lag_seconds
        stale = age > 2 * self.bar.total_seconds()
        warnings = [{"code": "stale_data", "message": f"newest data is {age / 60:.0f} minutes old"}] if stale else []
        if m.columns["depth_bid_1pct_usd"][-1] is None:
            warnings.append({"code": "missing_signal_group", "message": "no order-book depth for this symbol"})
        return {
            "symbol": m.symbol,
            "bar": self.bar_name,
            "probability": p,
            "risk_level": self._level(p),
            "change_1h": p - m.probability[-1 - per_hour],
            "as_of": m.times[-1].isoformat(),
            "data_age_seconds": age,
            "stale": stale,
            "top_driver": drivers[0]["text"],
            "drivers": drivers,
            "sparkline": {  # 24 h at most every 15 minutes, ending with the newest bar
                "time": [t.isoformat() for t in m.times[-per_day:][::-step][::-1]],
                "probability": m.probability[-per_day:][::-step][::-1],
            },
            "label": LABEL,
            "warnings": warnings,
            "squeeze_running": m.symbol == UNDERWAY,
        }

    def risk(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        with self.lock:
            items = [self._summary(m, now) for m in self.markets.values()]
        items.sort(key=lambda d: -d["probability"])
        return {"as_of": max(d["as_of"] for d in items), "symbols": items}

    def risk_symbol(self, symbol: str, window: str) -> dict[str, Any] | None:
        m = self.markets.get(symbol)
        if m is None:
            return None
        span = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}[window]
        with self.lock:
            out = self._summary(m, datetime.now(UTC))
            n = min(len(m.times), int(span / self.bar))
            sl = slice(len(m.times) - n, None)
            out["history"] = {
                "time": [t.isoformat() for t in m.times[sl]],
                "probability": m.probability[sl],
                **{name: values[sl] for name, values in m.columns.items()},
            }
            out["alerts"] = [
                {"time": m.times[k].isoformat(), "probability": m.probability[k], "level": "high"}
                for k in range(len(m.times) - n + 1, len(m.times))
                if m.probability[k] >= THRESHOLDS["high"] > m.probability[k - 1]
            ]
            recent = [e for e in m.events if e[0] >= m.times[-1] - timedelta(hours=48)]
            out["post_flush"] = self._post_flush(m, recent[-1]) if recent else None
            out["model"] = {
                "name": f"flushrisk-{m.symbol.lower()}:3",
                "label": LABEL,
                "base_rate": 0.0085,
                "alert_threshold": THRESHOLDS["high"],
                "alert_rule": ALERT_RULE,
                "thresholds": THRESHOLDS,
                "track_record": {
                    "pr_auc": 0.21, "pr_auc_ci": [0.15, 0.27],
                    "baseline": {"name": "funding z-score", "pr_auc": 0.09, "pr_auc_ci": [0.06, 0.12]},
                    "base_rate": 0.0085,
                    "ci_level": 0.9,
                    "verdict": {  # the two lead lines, as training.protocol.lead_verdict makes them
                        "text": "\n".join(VERDICT_LINES),
                        "lines": list(VERDICT_LINES),
                        "pr_text": VERDICT_LINES[0],
                        "onsets": {
                            "text": VERDICT_LINES[1],
                            "status": "not_clear", "best_baseline": "funding z-score",
                            "model_hits": 2, "baseline_hits": 1, "onsets": 7,
                        },
                    },
                    "reliability": {
                        "mean_p": [0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15],
                        "freq": [0.001, 0.006, 0.012, 0.018, 0.047, 0.07, 0.19],
                        "freq_lo": [0.0, 0.003, 0.008, 0.011, 0.03, 0.045, 0.12],
                        "freq_hi": [0.003, 0.009, 0.017, 0.026, 0.064, 0.1, 0.26],
                        "count": [9000, 4000, 2500, 1200, 500, 180, 60],
                    },
                    "event_study": {"events": 14, "hits": 9, "false_alarms_per_week": 1.4,
                                    "median_lead_time_hours": 2.5, "onsets": 7, "onset_hits": 2,
                                    "continuations": 7, "continuation_hits": 7},
                    "evaluated_from": "2025-01-01T00:00:00+00:00", "evaluated_to": "2026-10-01T00:00:00+00:00",
                },
            }
        return out

    @staticmethod
    def _post_flush(m: _Market, event: tuple[datetime, float]) -> dict[str, Any]:
        when, size = event
        hours = (m.times[-1] - when).total_seconds() / 3600
        return {
            "time": when.isoformat(), "size_usd": size, "hours_since": hours,
            "items": [
                {"name": "funding", "then": 0.0004, "now": 0.00005, "unit": "per 8 h",
                 "text": "funding has reset from 0.040 % to 0.005 % per 8 h: the crowded long is gone"},
                {"name": "open interest", "then": 2.1e9, "now": 1.7e9, "unit": "USD",
                 "text": "open interest is 81 % of its pre-flush peak and rebuilding at 1.2 % an hour"},
                {"name": "price vs flush low", "then": None, "now": 0.021, "unit": "fraction",
                 "text": "price is 2.1 % above the flush low"},
            ],
        }

    def scores(self, symbol: str) -> dict[str, Any] | None:
        m = self.markets.get(symbol)
        if m is None:
            return None
        with self.lock:
            events, record = self._backtest(m)
            return {
                "time": [t.isoformat() for t in m.times],
                "probability": list(m.probability),
                "risk_level": [self._level(p) for p in m.probability],
                "events": events,
                "backtest": record,
                "close": list(m.columns["close"]),
            }

    def _backtest(self, m: _Market) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The stand-in's flushes as two-bar cascades (a smaller bar, then the peak), counted by
        the real :mod:`serving.backtest`; the first third of the history is 'in-sample'."""
        from serving.backtest import warned_record

        times = pd.DatetimeIndex(m.times)
        events = [
            {"time": t.isoformat(), "start": (t - self.bar).isoformat(), "end": t.isoformat(),
             "bars": 2, "size": size * 1.25, "peak_size": size}
            for t, size in m.events
        ]
        starts = pd.DatetimeIndex([t - self.bar for t, _ in m.events])
        horizon = timedelta(hours=1)
        labels = np.array([float(((starts > t) & (starts <= t + horizon)).any()) for t in times])
        record = warned_record(
            events, times, np.array(m.probability), labels, THRESHOLDS["high"],
            pd.Timedelta(horizon), pd.Timedelta(self.bar), times[len(times) // 3],
        )
        return events, record


def fixture_routes(radar: FixtureRadar) -> list[Any]:
    """Starlette routes answering contract 5 from ``radar``."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def dump(body: Any) -> Response:
        return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")

    async def risk(_: Request) -> Response:
        return dump(radar.risk())

    async def risk_symbol(request: Request) -> Response:
        window = request.query_params.get("window", "24h")
        if window not in ("24h", "7d", "30d"):
            return JSONResponse({"error": f"window: must be 24h, 7d or 30d, not {window!r}"}, 400)
        body = radar.risk_symbol(request.path_params["symbol"], window)
        if body is None:
            return JSONResponse({"error": f"symbol: {request.path_params['symbol']} is not watched"}, 404)
        return dump(body)

    async def scores(request: Request) -> Response:
        body = radar.scores(request.path_params["symbol"])
        if body is None:
            return JSONResponse({"error": f"symbol: no scores for {request.path_params['symbol']}"}, 404)
        return dump(body)

    async def ready(_: Request) -> Response:  # what a trivial JSON endpoint costs (a baseline)
        return JSONResponse({"ready": True})

    return [
        Route("/risk", risk),
        Route("/risk/{symbol}", risk_symbol),
        Route("/scores/{symbol}", scores),
        Route("/readyz", ready),
    ]


def fixture_app(radar: FixtureRadar) -> Any:
    """The real page routes plus the stand-in radar API."""
    from starlette.applications import Starlette

    from serving.pages import ROUTES

    return Starlette(routes=[*fixture_routes(radar), *ROUTES])


@contextmanager
def serve_in_thread(app: Any, port: int) -> Iterator[str]:
    """Run ``app`` with uvicorn on loopback in a daemon thread; yield its URL; stop it."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the fixture server on port {port} did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_data_dir(app: Any, data_dir: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port, its radar routes reading ``data_dir``."""
    import os

    from tests.serving.server_process import free_port

    previous = os.environ.get("FLUSHRISK_DATA_DIR")
    os.environ["FLUSHRISK_DATA_DIR"] = str(data_dir)
    try:
        with serve_in_thread(app, free_port()) as url:
            yield url
    finally:
        if previous is None:
            os.environ.pop("FLUSHRISK_DATA_DIR", None)
        else:
            os.environ["FLUSHRISK_DATA_DIR"] = previous


def main(argv: list[str] | None = None) -> None:
    """Serve the stand-in on loopback until killed (benchmarks run it as a subprocess)."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--port", type=int, default=3160)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--bar-minutes", type=int, default=5)
    parser.add_argument("--append-every", type=float, default=0.0, help="seconds; 0: never")
    args = parser.parse_args(argv)
    fixture = FixtureRadar(n=args.symbols, days=args.days, bar_minutes=args.bar_minutes)
    if args.append_every > 0:
        def tick() -> None:
            while True:
                time.sleep(args.append_every)
                fixture.append_bar()

        threading.Thread(target=tick, daemon=True).start()
    uvicorn.run(fixture_app(fixture), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":  # python -m tests.serving.radar_fixture --symbols 40 --port 3160
    main()
