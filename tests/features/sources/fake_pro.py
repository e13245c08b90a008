"""An offline stand-in for a ccxt.pro exchange: scripted websocket messages, drops and errors.

Each ``watch_*`` method plays its own script, one entry per call: ``(clock_ms, payload)``
returns the payload (a list of liquidations, or an order book) after setting the shared clock;
``(clock_ms, exception)`` raises it (a dropped or refused connection); ``(None, event)`` waits
for a threading.Event first (so a test can interleave). When a script is exhausted the call
blocks, as a quiet websocket does, until cancelled.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any


class FakeProExchange:
    id = "binanceusdm"

    def __init__(self, scripts: dict[str, list[tuple[Any, Any]]], start_ms: int = 0) -> None:
        self.scripts = {k: list(v) for k, v in scripts.items()}
        self.now_ms = start_ms
        self.calls: list[str] = []
        self.closed = False
        self.has = {
            "watchLiquidationsForSymbols": "watch_liquidations_for_symbols" in scripts,
            "watchLiquidations": "watch_liquidations" in scripts,
            "watchOrderBook": "watch_order_book" in scripts,
        }
        self.done = threading.Event()

    def clock(self) -> float:
        return self.now_ms / 1000.0

    def _earliest_elsewhere(self, method: str) -> float:
        heads = [
            script[0][0]
            for name, script in self.scripts.items()
            if name != method and script and script[0][0] is not None
        ]
        return min(heads, default=float("inf"))

    async def _play(self, method: str) -> Any:
        """The next entry of this method's script, in global time order across all scripts."""
        self.calls.append(method)
        script = self.scripts.get(method, [])
        while True:
            if not script:
                if all(not s for s in self.scripts.values()):
                    self.done.set()
                while True:
                    await asyncio.sleep(0.01)
            when, what = script[0]
            if when is None:
                while not what.is_set():
                    await asyncio.sleep(0.01)
                script.pop(0)
                continue
            while self._earliest_elsewhere(method) < when:
                await asyncio.sleep(0.002)  # another stream's earlier message goes first
            script.pop(0)
            self.now_ms = max(self.now_ms, when)
            if isinstance(what, BaseException):
                raise what
            return what

    async def watch_liquidations_for_symbols(self, symbols, since=None, limit=None, params=None):
        return await self._play("watch_liquidations_for_symbols")

    async def watch_liquidations(self, symbol, since=None, limit=None, params=None):
        return await self._play("watch_liquidations")

    async def watch_order_book(self, symbol, limit=None, params=None):
        return await self._play("watch_order_book")

    async def close(self) -> None:
        self.closed = True
