"""``flushrisk watch``: the live radar, from an exchange or in replay.

    flushrisk watch --replay BTC,ETH [--data-dir DIR] [--speed 600]
    flushrisk watch --exchange binanceusdm --symbols BTC/USDT:USDT,ETH/USDT:USDT [--bar 1m]

At each bar close every symbol's bar is stored, its features updated, scored with its champion,
recorded in the scores dataset and published for the service (``/risk``) and Prometheus.
Ctrl-C or SIGTERM stops it after the bar in hand, with everything flushed to disk.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from features.errors import DataError
from training.cli.app import (
    EXIT_SYMBOLS_SKIPPED,
    DataDirOption,
    app,
    console,
    print_skipped,
    resolve_data_dir,
)
from training.cli.serve import BentoHome, _bentoml_home


def alert_manager(
    webhooks: list[str], root: Path, page_url: str | None, mode: str, level: str | None = None
) -> Any:
    """The watcher's AlertManager: the model's alert rule, raised to ``level`` when given."""
    from serving.alerts import AlertManager, AlertRules

    if level is not None and level not in ("high", "extreme"):
        raise DataError(
            f"--alert-level {level!r}: give high or extreme (a model alerts from elevated or "
            "high by its own rule; a level only raises it)"
        )
    rules = AlertRules(level=level)
    return AlertManager.from_urls(webhooks, root, page_url=page_url, mode=mode, rules=rules)


def _names(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def store_names(markets: list[str]) -> dict[str, str]:
    """Exchange market -> the store's name: 'BTC/USDT:USDT' -> 'BTC' (the name the quickstart,
    training and the champions use); a plain name is normalised as everywhere else. Two
    markets with one base (BTC/USDT:USDT and BTC/USD:BTC) cannot share a name: an error."""
    from features.store import normalize_symbol

    out: dict[str, str] = {}
    for market in markets:
        base = market.split("/", 1)[0] if "/" in market else market
        out[market] = normalize_symbol(base)
    names = list(out.values())
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(
            f"--symbols: {', '.join(m for m in out if out[m] in twice)} would all be stored as "
            f"{', '.join(twice)}: watch one market per base asset"
        )
    return out


def replay_mode(source_dir: Path | None) -> str:
    """What a replay's data are: the simulator's (no --source-dir), or a stored history."""
    return "simulated" if source_dir is None else "replay"


def _use_bentoml_home(explicit: Path | None) -> Path:
    """Point BentoML at the same store as promote, serve and build (--bentoml-home,
    FLUSHRISK_BENTOML_HOME, BENTOML_HOME, ~/bentoml), before any model is loaded."""
    import os

    from bentoml._internal.configuration.containers import BentoMLContainer

    home = _bentoml_home(explicit)
    os.environ["BENTOML_HOME"] = str(home)
    BentoMLContainer.bentoml_home.set(str(home))
    return home


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or Ctrl-C: the loop finishes the bar in hand, then stops."""
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        if not stop.is_set():
            console.print(f"[yellow]{signal.Signals(signum).name}: stopping after this bar...[/]")
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


@app.command("watch")
def watch_command(
    replay: Annotated[
        str | None,
        typer.Option(
            help="Replay these symbols (comma-separated) from a stored or simulated history."
        ),
    ] = None,
    exchange: Annotated[
        str | None, typer.Option(help="Collect live from binanceusdm, bybit or okx (ccxt).")
    ] = None,
    symbols: Annotated[
        str | None, typer.Option(help="Exchange symbols, e.g. BTC/USDT:USDT,ETH/USDT:USDT.")
    ] = None,
    bar: Annotated[
        str | None, typer.Option(help="Bar: 1m, 5m, 15m, 30m or 1h (default: the champion's).")
    ] = None,
    data_dir: DataDirOption = None,
    bentoml_home: BentoHome = None,
    speed: Annotated[
        float,
        typer.Option(
            help="Replay speed: replay seconds per wall second (0 = as fast as possible)."
        ),
    ] = 600.0,
    days: Annotated[float, typer.Option(help="Replay: days of bars to release.")] = 2.0,
    warm_days: Annotated[
        float, typer.Option(help="Replay: days of history stored before the first released bar.")
    ] = 31.0,
    source_dir: Annotated[
        Path | None, typer.Option(help="Replay from this store (default: simulate the symbols).")
    ] = None,
    preset: Annotated[str, typer.Option(help="Simulator preset for replayed symbols.")] = "default",
    max_bars: Annotated[int | None, typer.Option(help="Stop after this many bar closes.")] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Score every symbol with this BentoML model tag instead of each champion."
        ),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Expose the watcher's Prometheus metrics on this port.")
    ] = None,
    alert_webhook: Annotated[
        list[str] | None,
        typer.Option(
            help="Send alerts to this URL (repeatable). Prefix slack:, discord: or telegram: "
            "for those formats; telegram reads FLUSHRISK_TELEGRAM_TOKEN and FLUSHRISK_TELEGRAM_CHAT."
        ),
    ] = None,
    page_url: Annotated[
        str | None,
        typer.Option(
            help="Base URL of the service, for the links in alerts (default: FLUSHRISK_PAGE_URL, "
            "else where `flushrisk serve` listens: http://FLUSHRISK_SERVE_HOST:FLUSHRISK_SERVE_PORT)."
        ),
    ] = None,
    engine: Annotated[
        str, typer.Option(help="Feature engine: streaming (default) or window (slow reference).")
    ] = "streaming",
    alert_level: Annotated[
        str | None,
        typer.Option(
            help="Alert only from this risk level (high or extreme) where it is above the "
            "model's own alert level; the model's rule (calm hours) still applies. Its "
            "evaluation measured alerts at the model's level, not at this one."
        ),
    ] = None,
) -> None:
    """Score every watched symbol at each bar close and publish the radar."""
    from features.incremental import make_engine
    from serving.radar import Radar, RadarClock, load_champions, run_replay

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if (replay is None) == (exchange is None):
        raise DataError("give either --replay SYMBOLS or --exchange NAME --symbols ...")
    if alert_level is not None and not alert_webhook:
        raise DataError("--alert-level sets when alerts are sent: give --alert-webhook URL too")
    root = resolve_data_dir(data_dir)
    names = _names(replay) if replay is not None else _names(symbols)
    if not names:
        raise DataError("no symbols: give --replay BTC,ETH or --symbols BTC/USDT:USDT,...")
    _use_bentoml_home(bentoml_home)
    stop = _stop_on_signals()  # from here on, Ctrl-C stops cleanly (no traceback)
    stored_as = store_names(names) if exchange is not None else {n: n for n in names}
    if exchange is not None and any(m != n for m, n in stored_as.items()):
        console.print(
            "stored and scored as: " + ", ".join(f"{m} -> {n}" for m, n in stored_as.items()),
            highlight=False,
        )
    predictors = load_champions(list(stored_as.values()), model, skip_missing=True)
    skipped = [n for n in stored_as.values() if n not in predictors]
    if skipped:
        stored_as = {m: n for m, n in stored_as.items() if n in predictors}
        names = [m for m in names if m in stored_as]
        console.print(
            f"[yellow]not watched: {', '.join(skipped)} (no champion model; champions: "
            f"{', '.join(sorted(predictors))}). Train and promote one (flushrisk train --symbol "
            f"{skipped[0]} then flushrisk promote --symbol {skipped[0]}), or pass --model TAG to "
            "score every symbol with one model.[/]",
            highlight=False,
        )
    chosen = _choose_bar(bar, predictors)
    if metrics_port is not None:
        _serve_metrics(metrics_port)
    mode = "live" if replay is None else replay_mode(source_dir)
    alerts = None
    if alert_webhook:
        alerts = alert_manager(alert_webhook, root, page_url, mode, alert_level)
        console.print(
            f"alert links open {alerts.page_url}/symbol/<SYMBOL> (--page-url to change)",
            highlight=False,
        )
        if alert_level is not None:
            console.print(
                f"alerts from {alert_level} where the model's own alert level is lower (its "
                "evaluation measured alerts at its own level: fewer alerts here, their onset "
                "record not measured)",
                highlight=False,
            )
    clock = RadarClock(speed=speed if replay is not None else 1.0)
    radar = Radar(
        root,
        chosen,
        predictors,
        engine=None if engine == "streaming" else make_engine(chosen, engine),
        clock=clock,
        on_scored=alerts.on_scored if alerts is not None else None,
        source="replay" if replay is not None else str(exchange),
        mode=mode,
    )
    try:
        if replay is not None:
            from features.sources.live.replay import ReplayPlan, ReplaySource

            plan = ReplayPlan(
                symbols=names,
                bar=chosen,
                warm_days=warm_days,
                days=days,
                preset=preset,
                source_dir=source_dir,
            )
            source = ReplaySource(plan)
            console.print(
                f"replaying {', '.join(source.frames)} at {chosen} bars from {source.start} "
                f"at {speed:g}x into {root}"
            )
            done = run_replay(radar, source, speed, stop, max_bars=max_bars, on_bar=_progress)
        else:
            from features.sources.live.collector import run_live
            from serving.radar_metrics import COLLECTOR

            done = run_live(
                radar, str(exchange), names, chosen, stop, max_bars=max_bars, names=stored_as,
                metrics=COLLECTOR,
            )
    finally:
        flushed = radar.close(timeout=120)
        unsent = alerts.close() if alerts is not None else 0
    state = "all bars and scores flushed" if flushed else "some writes still pending (see log)"
    console.print(f"stopped after {done} bar close(s); {state}")
    collector = radar.publisher.collector
    console.print(
        f"collected: {done} bar close(s) for {', '.join(stored_as.values())} into {root}; "
        f"{int(collector.get('gaps', 0))} gap bar(s), {int(collector.get('errors', 0))} "
        "collector error(s)",
        highlight=False,
    )
    if alerts is not None:
        console.print(
            f"alerts: {alerts.delivered} delivered, {unsent + alerts.failed} not delivered"
            + (f" (recorded in {root / '_radar' / 'alerts' / 'undelivered.jsonl'})"
               if unsent + alerts.failed else ""),
            highlight=False,
        )
    if skipped:
        console.print(f"not watched (no champion model): {', '.join(skipped)}", highlight=False)
    if mode != "live" and radar.publisher.ended:
        console.print(
            f"the {mode} replay {radar.publisher.ended['reason']}: the radar clock stopped at "
            f"{radar.publisher.ended['at']}",
            highlight=False,
        )
    if radar.skipped:  # each was logged with its damaged file when it was met
        print_skipped(radar.skipped, reasons=False)
        raise typer.Exit(EXIT_SYMBOLS_SKIPPED)


def _serve_metrics(port: int) -> None:
    """The watcher's own /metrics on loopback (multiprocess-aware, like the service's)."""
    import os

    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr="127.0.0.1", registry=registry)


def _choose_bar(bar: str | None, predictors: dict) -> str:
    """The bar to watch: --bar, else the champions' bar; a model never scores another bar."""
    from features.bars import bar_name, parse_bar

    model_bars = {bar_name(p.bar): s for s, p in predictors.items() if p.bar is not None}
    chosen = bar_name(parse_bar(bar)) if bar else next(iter(model_bars), "1h")
    wrong = {b: s for b, s in model_bars.items() if b != chosen}
    if wrong:
        b, s = next(iter(wrong.items()))
        raise DataError(
            f"the model for {s} was trained on {b} bars, not {chosen}: watch at --bar {b}, or "
            "train and promote a model for that bar"
        )
    return chosen


def _progress(t: object, scored: list) -> None:
    if not scored:
        return
    top = max(scored, key=lambda s: s.probability)
    console.print(
        f"{t}: scored {len(scored)} symbol(s) in {max(s.latency_s for s in scored) * 1e3:.0f} ms; "
        f"highest {top.symbol} {top.probability:.3f} ({top.risk_level})",
        highlight=False,
    )
