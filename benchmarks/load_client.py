"""A cheap HTTP load generator in its own process, so a benchmark measures the server, not itself.

``bench_web.py`` ran its 16 clients as ``httpx.AsyncClient`` coroutines inside the benchmark's
own process: each answer was decompressed (1.25 MB of JSON per ``/risk``) and parsed by pure
Python on the same 2 cores as the server, so the client's queue was part of every figure, the
static-file ceiling included. Here the clients are aiohttp (C HTTP parser) on uvloop in a
child process; answers are read whole but not decompressed (what a browser pays to unzip is
not the server's cost); every latency is taken from the request's send to the last byte of
its answer. The child reports its own CPU time so the benchmark can print what the clients
cost beside what they measured.

:func:`run_load` is the one entry point: ``plan`` says which paths the clients ask, ``"static"``
one path again and again, ``"mixed"`` the radar's three routes over random symbols, ``"once"``
each path of a list once (the warm-up pass).
"""

from __future__ import annotations

import asyncio
import random
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

MIX = (("/risk", 0.4), ("/risk/{symbol}", 0.3), ("/scores/{symbol}", 0.3))
"""The mixed load: share of each route (symbols drawn at random)."""
PROBE_EVERY_S = 0.02


@dataclass
class Plan:
    """Which paths the clients ask: ``kind`` is "static" (``paths[0]`` again and again),
    "mixed" (:data:`MIX` over ``symbols``) or "once" (each of ``paths`` once, then stop)."""

    kind: str
    paths: list[str] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)
    seed: int = 7


@dataclass
class LoadResult:
    """Latencies in ms (requests and the /livez probe), errors, wall and client CPU seconds."""

    latencies_ms: list[float]
    errors: int
    livez_ms: list[float]
    wall_s: float
    client_cpu_s: float
    statuses: dict[int, int]
    by_route: dict[str, list[float]] = field(default_factory=dict)
    """Latencies in ms per route (the path with its symbol replaced by ``{symbol}``)."""


def _paths(plan: Plan) -> Any:
    rng = random.Random(plan.seed)
    if plan.kind == "static":
        return lambda: plan.paths[0]
    if plan.kind == "once":
        queue = iter(plan.paths)
        return lambda: next(queue, None)
    routes = [r for r, _ in MIX]
    weights = [w for _, w in MIX]

    def mixed() -> str:
        route = rng.choices(routes, weights)[0]
        return route.format(symbol=rng.choice(plan.symbols))

    return mixed


async def _load(url: str, plan: Plan, clients: int, seconds: float, headers: dict[str, str]
                ) -> LoadResult:
    import aiohttp

    nxt = _paths(plan)
    latencies: list[float] = []
    by_route: dict[str, list[float]] = {}
    livez: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    started = time.perf_counter()
    stop = started + seconds
    done = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=clients + 1, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            path = nxt()
            if path is None:
                return
            t = time.perf_counter()
            try:
                async with session.get(url + path, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError):
                status = 0
            took = (time.perf_counter() - t) * 1000
            latencies.append(took)
            by_route.setdefault(_route(path), []).append(took)
            statuses[status] = statuses.get(status, 0) + 1
            errors += status not in (200, 304)

    async def probe(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < stop and not done.is_set():
            t = time.perf_counter()
            try:
                async with session.get(url + "/livez") as response:
                    await response.read()
            except (TimeoutError, aiohttp.ClientError):
                pass
            livez.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(PROBE_EVERY_S)

    async def all_clients(session: aiohttp.ClientSession) -> None:
        await asyncio.gather(*(one(session) for _ in range(clients)))
        done.set()

    cpu = time.process_time()
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as session:
        await asyncio.gather(probe(session), all_clients(session))
    return LoadResult(latencies, errors, livez, time.perf_counter() - started,
                      time.process_time() - cpu, statuses, by_route)


def _route(path: str) -> str:
    parts = path.split("?")[0].split("/")
    return "/".join(parts[:2] + ["{symbol}"] if len(parts) > 2 and parts[1] in ("risk", "scores")
                    else parts)


def _run(url: str, plan: Plan, clients: int, seconds: float, headers: dict[str, str]
         ) -> LoadResult:
    try:
        import uvloop

        return uvloop.run(_load(url, plan, clients, seconds, headers))
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(_load(url, plan, clients, seconds, headers))


def run_load(url: str, plan: Plan, clients: int, seconds: float, api_key: str | None = None
             ) -> LoadResult:
    """``clients`` concurrent keep-alive clients asking ``plan``'s paths for ``seconds`` (or
    until a "once" plan is done) while one more asks /livez every 20 ms, in a fresh child
    process; gzip is accepted as a browser does."""
    headers = {"Accept-Encoding": "gzip"}
    if api_key:
        headers["X-API-Key"] = api_key
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_run, url, plan, clients, seconds, headers).result()


__all__ = ["MIX", "LoadResult", "Plan", "run_load"]
