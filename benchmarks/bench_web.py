"""The radar page and the /risk JSON under load, against baselines measured in the same run.

Targets (issue 13):

* ``/`` fully rendered with 400 symbols in headless Chromium in under 1.5 s: from navigation
  start to the frame after the whole table (400 rows, 400 sparklines) is in the DOM, as the page
  marks it (``performance.mark("radar-rendered")``). Baseline: the same rendered table served
  as a static page (no script, no fetch), to the frame after its load event.
* ``GET /risk`` p99 under 20 ms (400 symbols, sequential requests on one keep-alive
  connection). Baseline: a trivial JSON endpoint (``/readyz``) of the same server.

Also printed: the /risk body size, and how long the page's own work takes once loaded (a
re-sort of 400 rows, a filter, and one refresh with every row changed).

Under load (issue 23; ``--load-only`` runs only this part, no browser needed): 16 concurrent
clients (``--clients``) for ``--seconds`` mix ``/risk`` (40 %), ``/risk/{symbol}`` (30 %) and
``/scores/{symbol}`` (30 %) over random symbols, gzip accepted as a browser does, while one
more client asks ``/livez`` every 20 ms. Targets: mixed p99 <= 50 ms with 0 errors, ``/livez``
p99 <= 20 ms meanwhile, and a conditional GET of ``/risk`` with its ETag answers 304. Ceiling,
same server, same run, same clients: a static file (``/static/vendor/uPlot.iife.min.js``,
served by Starlette's StaticFiles, behind BentoML's whole middleware stack); and the floor,
``/livez`` alone (answered, as the radar's GET routes are, ahead of BentoML's tracing, timeout
and context layers: :mod:`serving.hot_path`). The clients are
:mod:`benchmarks.load_client` (aiohttp in a child process); the server's CPU per request and
the clients' own CPU are printed beside the latencies, the load average beside each figure.
Before the timed passes the benchmark waits until the service's own warming is done.

The data, by default: the real radar (serving.radar, what ``flushrisk watch --replay`` runs)
replays 400 simulated markets at hourly bars for a day into a temporary data directory, scored
by a tiny real model, and the real service (``flushrisk serve``) answers from it. With
``--stand-in``: the contract stand-in of tests/serving/radar_fixture.py instead (1-minute bars,
sparklines of 96 points), which needs no radar. With ``--url``: any running FlushRisk service.

    .venv/bin/python benchmarks/bench_web.py [--symbols 400] [--runs 7] [--requests 300]
        [--stand-in] [--url http://127.0.0.1:3000] [--load-only] [--clients 16] [--seconds 20]
        [--work DIR]

Needs Debian's Chromium (``apt-get install -y chromium``). Every loop is bounded; servers are
stopped by their process-group ids at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.timing import cpu_seconds, time_calls
from tests.serving import browser as chrome
from tests.serving.server_process import free_port, running_server

console = Console(width=180)
PAGE_TARGET_S = 1.5
RISK_P99_TARGET_MS = 20.0
MIXED_P99_TARGET_MS = 50.0
LIVEZ_P99_TARGET_MS = 20.0
STATIC_PATH = "/static/vendor/uPlot.iife.min.js"

# Page-side timings: a re-sort, a filter, and a refresh where every row changed.
INTERACT = """async () => {
  const t = (f) => { const a = performance.now(); f(); return performance.now() - a; };
  const th = document.querySelector('th[data-key=symbol]');
  const sort = t(() => th.click());
  const input = document.getElementById('filter');
  const filter = t(() => { input.value = 'S1'; input.dispatchEvent(new Event('input')); });
  input.value = ''; input.dispatchEvent(new Event('input'));
  document.querySelector('th[data-key=probability]').click();
  return {sort, filter};
}"""
STATIC_MARK = (
    "<script>addEventListener('load', () => requestAnimationFrame(() => requestAnimationFrame("
    "() => performance.mark('radar-rendered'))));</script>"
)


@contextmanager
def replayed_service(symbols: int, work: Path) -> Iterator[str]:
    """The real service over a data directory the real radar filled by replaying ``symbols``."""
    import json
    import time

    from serving.radar import snapshot_path

    home = work / "home"
    if not (home / "data" / "_radar").exists():  # a kept --work directory is served as it is
        _replay(symbols, home)
    path = snapshot_path(home / "data")  # as a watcher running in real time would date it
    snap = json.loads(path.read_text())
    snap.update(written_at=time.time(), speed=1.0)
    path.write_text(json.dumps(snap))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FLUSHRISK_API_KEY", "PROMETHEUS_MULTIPROC_DIR")
    }
    env.update(
        BENTOML_HOME=str(home / "bentoml"),
        FLUSHRISK_SERVE_MODEL="flushrisk-btc",
        FLUSHRISK_DATA_DIR=str(home / "data"),
        PYTHONPATH=str(ROOT),
    )
    port = free_port()
    command = [
        sys.executable, "-c", "from training.cli import main; main()", "serve",
        "--port", str(port), "--bentoml-home", str(home / "bentoml"),
    ]
    with running_server(command, env, work / "service.log", timeout=180, name="the service") as (
        url, _, _,
    ):
        yield url


def _replay(symbols: int, home: Path) -> None:
    """A tiny real model, and the real radar replaying ``symbols`` simulated markets into
    ``home``/data (a day of hourly bars after 31 days of warm-up)."""
    import threading
    import time

    from bentoml._internal.models import ModelStore

    from benchmarks.bench_serving import tiny_model
    from features.sources.live.replay import ReplayPlan, ReplaySource
    from serving.predictor import Predictor
    from serving.radar import Radar, RadarClock, run_replay

    tiny_model(home)

    stored = ModelStore(str(home / "bentoml" / "models")).get("flushrisk-btc")
    predictor = Predictor.load(stored.path, "flushrisk-btc", str(stored.tag.version))
    names = [f"S{i:03d}" for i in range(symbols)]
    started = time.perf_counter()
    source = ReplaySource(ReplayPlan(symbols=names, bar="1h", warm_days=31, days=1, seed=5))
    radar = Radar(home / "data", "1h", {n: predictor for n in names}, clock=RadarClock())
    try:
        bars = run_replay(radar, source, speed=0, stop=threading.Event(), max_bars=24)
    finally:
        radar.close(timeout=300)
    console.print(
        f"replayed {bars} hourly bars of {symbols} symbols through the radar in "
        f"{time.perf_counter() - started:.0f} s"
    )


@contextmanager
def stand_in(symbols: int, bar_minutes: int, log_dir: Path) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable, "-m", "tests.serving.radar_fixture", "--symbols", str(symbols),
        "--port", str(port), "--days", "2", "--bar-minutes", str(bar_minutes),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with running_server(command, env, log_dir / "fixture.log", timeout=300, name="the stand-in") as (
        url, _, _,
    ):
        yield url


def render_times(browser: Any, url: str, runs: int, symbols: int) -> tuple[list[float], str, dict]:
    """Seconds to a rendered radar per run (fresh browser context each), the rendered HTML."""
    times, html, interact = [], "", {}
    for i in range(runs):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        log = chrome.ConsoleLog(page)
        page.goto(f"{url}/?refresh=3600", wait_until="commit")
        page.wait_for_selector("body[data-rendered='1']", timeout=60_000)
        rows = page.eval_on_selector_all("#rows tr", "rows => rows.length")
        if rows != symbols:
            raise SystemExit(f"the radar shows {rows} rows, expected {symbols}")
        start = page.evaluate("performance.getEntriesByName('radar-rendered')[0].startTime")
        times.append(start / 1000)
        if i == runs - 1:
            interact = page.evaluate(INTERACT)
            html = page.evaluate(
                "() => { const d = document.documentElement.cloneNode(true);"
                " d.querySelectorAll('script').forEach(s => s.remove()); return d.outerHTML; }"
            )
        if log.errors:
            raise SystemExit(f"the browser logged errors: {log.errors}")
        context.close()
    return times, html, interact


def static_times(browser: Any, url: str, html: str, runs: int) -> list[float]:
    """The same rendered table as a static page (served from memory): the floor for /."""
    body = html.replace("</body>", STATIC_MARK + "</body>")
    times = []
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.route(f"{url}/baseline", lambda route: route.fulfill(body=body, content_type="text/html"))
        page.goto(f"{url}/baseline", wait_until="commit")
        page.wait_for_function("performance.getEntriesByName('radar-rendered').length > 0")
        times.append(page.evaluate("performance.getEntriesByName('radar-rendered')[0].startTime") / 1000)
        context.close()
    return times


def refresh_time(browser: Any, url: str) -> float:
    """Milliseconds the page spends applying one /risk answer in which every row changed."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(f"{url}/?refresh=3600")
    page.wait_for_selector("body[data-rendered='1']", timeout=60_000)
    took = page.evaluate(
        """async () => {
      const r = await fetch('/risk'); const body = await r.json();
      for (const s of body.symbols) { s.probability *= 1.01; s.as_of = 'x' + s.as_of; }
      const orig = window.fetch;
      window.fetch = async () => new Response(JSON.stringify(body), {headers: {'content-type': 'application/json'}});
      const before = Number(document.body.dataset.updates);
      const t0 = performance.now();
      await window.FRRadar.refresh();
      if (Number(document.body.dataset.updates) === before) throw new Error('the refresh did not apply');
      window.fetch = orig;
      return performance.now() - t0;
    }"""
    )
    context.close()
    return float(took)


def latency_ms(client: httpx.Client, path: str, n: int) -> np.ndarray:
    for _ in range(min(20, n)):
        client.get(path).raise_for_status()
    return np.array(time_calls(lambda: client.get(path).raise_for_status(), n)) * 1000


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def server_processes(url: str) -> list[Any]:
    """The processes serving ``url`` (those holding its listening socket, and their children):
    their CPU time is what the server spent, whatever the clients cost."""
    import psutil

    port = int(url.rsplit(":", 1)[1])
    found: dict[int, Any] = {}
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            proc = psutil.Process(conn.pid)
            for p in [proc, *proc.children(recursive=True)]:
                found[p.pid] = p
    return list(found.values())


def wait_until_idle(server: list[Any], limit: float = 600.0, window: float = 2.0
                    ) -> tuple[float, float]:
    """Wall and CPU seconds until the server rests (under 5 % of a core over ``window``): the
    service prepares every watched symbol's answers when it starts and when the radar
    publishes, and the timed passes start after that, as a reader's requests would."""
    import time

    started, cpu0 = time.perf_counter(), cpu_seconds(server)
    before = cpu0
    while time.perf_counter() - started < limit:
        time.sleep(window)
        now = cpu_seconds(server)
        if now - before < 0.05 * window:
            break
        before = now
    return time.perf_counter() - started, cpu_seconds(server) - cpu0


def under_load(url: str, symbols: list[str], clients: int, seconds: float,
               warm_seconds: float = 900.0) -> list[tuple]:
    """Mixed routes against the static ceiling, 304 on a matching ETag: rows for the table.

    Every phase runs the same load generator (:mod:`benchmarks.load_client`, its own process)
    against the same server; the server's CPU time per request is printed beside its latency.
    """
    from benchmarks.load_client import Plan, run_load

    key = os.environ.get("FLUSHRISK_API_KEY")
    server = server_processes(url)
    with httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": key} if key else {}) as c:
        first = c.get("/risk")
        again = c.get("/risk", headers={"If-None-Match": first.headers.get("etag", "")})

    def phase(plan: Plan, limit: float) -> tuple[Any, float, str]:
        cpu = cpu_seconds(server)
        result = run_load(url, plan, clients, limit, key)
        return result, cpu_seconds(server) - cpu, load_average()

    warmed_s, warmed_cpu = wait_until_idle(server)
    w_load = load_average()
    # warm-up: each symbol's first /risk/{symbol} and /scores/{symbol}; timed, it is the cold
    # cost per symbol (what the service's own warming left to do)
    cold, cold_cpu, c_load = phase(
        Plan("once", [f"/risk/{s}" for s in symbols] + [f"/scores/{s}" for s in symbols]),
        warm_seconds,
    )
    floor, f_cpu, f_load = phase(Plan("static", ["/livez"]), seconds)
    static, s_cpu, s_load = phase(Plan("static", [STATIC_PATH]), seconds)
    mix, m_cpu, m_load = phase(Plan("mixed", symbols=symbols), seconds)
    p = lambda a, q: float(np.percentile(a, q)) if len(a) else float("nan")
    per = lambda cpu, r: (  # a --url server elsewhere: its CPU is not seen from here
        f"{1000 * cpu / max(len(r.latencies_ms), 1):.2f} ms server CPU per request"
        if server else "server CPU not measured (not a local process)")
    client = lambda r: f"clients' CPU {r.client_cpu_s:.1f} s in {r.wall_s:.1f} s"
    rows = [(
        f"the service's own warming at start, {len(symbols)} symbols ({w_load})",
        f"{warmed_s:.1f} s until it rests; {warmed_cpu:.1f} s server CPU",
        f"{1000 * warmed_cpu / max(len(symbols), 1):.1f} ms CPU per symbol", "",
        "(not a target)",
    ), (
        (f"warm-up: first /risk/{{symbol}} and /scores/{{symbol}} of {len(symbols)} symbols "
        f"({c_load})"),
        (f"{len(cold.latencies_ms)} requests in {cold.wall_s:.1f} s; p50 / p99 "
        f"{p(cold.latencies_ms, 50):.1f} / {p(cold.latencies_ms, 99):.1f} ms; "
        f"{per(cold_cpu, cold)}"),
        f"{cold.errors} errors", "", "(not a target: what the service's warming left)",
    )]
    mix99, stat99 = p(mix.latencies_ms, 99), p(static.latencies_ms, 99)
    live99 = p(mix.livez_ms, 99)
    verdict = lambda ok: "PASS" if ok else "FAIL"
    rows.append((
        (f"{clients} clients, mixed /risk, /risk/{{symbol}}, /scores/{{symbol}}: p50 / p99 "
        f"({len(mix.latencies_ms)} requests in {mix.wall_s:.1f} s, {mix.errors} errors; "
        f"{per(m_cpu, mix)}; {client(mix)}; {m_load})"),
        f"{p(mix.latencies_ms, 50):.1f} / {mix99:.1f} ms",
        (f"static file: {p(static.latencies_ms, 50):.1f} / {stat99:.1f} ms "
        f"({len(static.latencies_ms)} requests, {static.errors} errors; {per(s_cpu, static)}; "
        f"{client(static)}; {s_load})"),
        f"{mix99 / stat99:.1f}x",
        (f"p99 <= {MIXED_P99_TARGET_MS:g} ms and 0 errors: "
        f"{verdict(mix99 <= MIXED_P99_TARGET_MS and mix.errors == 0)}"),
    ))
    rows.append((
        "mixed, by route: p50 / p99",
        "; ".join(f"{route} {p(t, 50):.1f} / {p(t, 99):.1f} ms ({len(t)})"
                  for route, t in sorted(mix.by_route.items())),
        "", "", "",
    ))
    rows.append((
        f"/livez p50 / p99 meanwhile ({len(mix.livez_ms)} probes; {m_load})",
        f"{p(mix.livez_ms, 50):.1f} / {live99:.1f} ms",
        (f"beside the static file: {p(static.livez_ms, 50):.1f} / "
        f"{p(static.livez_ms, 99):.1f} ms"),
        f"{live99 / p(static.livez_ms, 99):.1f}x",
        f"p99 <= {LIVEZ_P99_TARGET_MS:g} ms: {verdict(live99 <= LIVEZ_P99_TARGET_MS)}",
    ))
    rows.append((
        (f"floor: {clients} clients asking /livez alone (the HTTP server, BentoML's metrics "
        f"and serving.hot_path's one-byte answer; {len(floor.latencies_ms)} requests; "
        f"{f_load})"),
        f"{p(floor.latencies_ms, 50):.1f} / {p(floor.latencies_ms, 99):.1f} ms",
        per(f_cpu, floor), "", "(not a target: what any route pays)",
    ))
    rows.append((
        "conditional GET /risk with its ETag",
        f"{again.status_code} ({len(again.content)} bytes)",
        (f"first answer {first.status_code}, {len(first.content) / 1e6:.2f} MB unzipped, "
        f"ETag {first.headers.get('etag')}"),
        "",
        f"304: {verdict(again.status_code == 304)}",
    ))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=400)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--stand-in", action="store_true", help="the contract stand-in, not the radar")
    parser.add_argument("--bar-minutes", type=int, default=1, help="stand-in bar")
    parser.add_argument("--url", help="a running FlushRisk service")
    parser.add_argument("--load-only", action="store_true",
                        help="only the concurrent load part (no browser)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="per load phase")
    parser.add_argument("--work", type=Path,
                        help="keep the replayed data here and reuse it on the next run")
    args = parser.parse_args()
    reason = None if args.load_only else chrome.missing()
    if reason:
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory(prefix="bench-web-") as scratch:
        tmp = str(args.work) if args.work else scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        if args.url:
            server: Any = nullcontext(args.url.rstrip("/"))
            source = args.url
        elif args.stand_in:
            server = stand_in(args.symbols, args.bar_minutes, Path(tmp))
            source = f"the radar API stand-in, {args.bar_minutes}-minute bars"
        else:
            server = replayed_service(args.symbols, Path(tmp))
            source = "the service, fed by the radar replaying simulated markets (1h bars)"
        with server as url:
            console.print(f"[bold]bench_web[/]: {args.symbols} symbols from {source}; "
                          f"{load_average()}")
            with httpx.Client(base_url=url, timeout=30) as client:
                names = [r["symbol"] for r in client.get("/risk").json()["symbols"]]
            loaded = under_load(url, names, args.clients, args.seconds)
            if args.load_only:
                _table(loaded)
                return
            with httpx.Client(base_url=url, timeout=30) as client:
                size = len(client.get("/risk").content)
                risk = latency_ms(client, "/risk", args.requests)
                ping = latency_ms(client, "/readyz", args.requests)
            with chrome.chromium() as browser:
                page, html, interact = render_times(browser, url, args.runs, args.symbols)
                static = static_times(browser, url, html, args.runs)
                refresh = refresh_time(browser, url)
    table = Table(title="FlushRisk pages: measured in this run")
    for col in ("measure", "value", "baseline (same run)", "ratio", "target"):
        table.add_column(col)
    med, worst = statistics.median(page), max(page)
    base = statistics.median(static)
    table.add_row(
        f"/ rendered, {args.symbols} symbols (median of {args.runs}; worst)",
        f"{med:.3f} s; {worst:.3f} s",
        f"static copy of the table: {base:.3f} s",
        f"{med / base:.1f}x",
        f"< {PAGE_TARGET_S} s: {'met' if worst < PAGE_TARGET_S else 'MISSED'}",
    )
    p50, p99 = np.percentile(risk, 50), np.percentile(risk, 99)
    b50, b99 = np.percentile(ping, 50), np.percentile(ping, 99)
    table.add_row(
        f"GET /risk p50 / p99 ({args.requests} requests, {size / 1e6:.2f} MB)",
        f"{p50:.2f} / {p99:.2f} ms",
        f"/readyz: {b50:.2f} / {b99:.2f} ms",
        f"{p99 / b99:.1f}x",
        f"p99 < {RISK_P99_TARGET_MS:g} ms: {'met' if p99 < RISK_P99_TARGET_MS else 'MISSED'}",
    )
    table.add_row(f"re-sort {args.symbols} rows / filter (in page)", f"{interact['sort']:.1f} / {interact['filter']:.1f} ms", "", "", "")
    table.add_row("apply one /risk refresh, every row changed", f"{refresh:.1f} ms", "", "", "")
    for row in loaded:
        table.add_row(*row)
    console.print(table)
    console.print(f"finished; {load_average()}")


def _table(rows: list[tuple]) -> None:
    table = Table(title="FlushRisk API under load: measured in this run")
    for col in ("measure", "value", "ceiling (same server, same run)", "ratio", "target"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"finished; {load_average()}")


if __name__ == "__main__":
    main()
