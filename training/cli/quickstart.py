"""``flushrisk quickstart``: from nothing to a served model on simulated data.

Simulate a year of hourly bars (ending at the current hour, so predictions on it are about
now) -> train with MLflow -> promote -> serve, one progress line per step. Every step is
idempotent (re-running the quickstart re-uses or refreshes what is there), and ``--only STEP``
re-runs a single step. The ready-to-paste request is printed once the server answers
``/readyz``, not before.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer

from features.atomic import write_text_atomic
from features.errors import FlushRiskError, ModelNotFoundError
from features.label_defaults import DEFAULT_BTC_THRESHOLD_USD, default_threshold_usd
from features.settings import get_settings
from features.store import normalize_symbol
from training.cli.app import app, console
from training.cli.quickstart_radar import QuickstartRadar
from training.cli.serve import (
    Host,
    Port,
    _bentoml_home,
    bars_json,
    curl_example,
    find_model,
    model_tag,
    serve_address,
    serve_command,
    serve_env,
    store_has_hourly,
)

if TYPE_CHECKING:
    from training.jobs import LabelRequest

READY_TIMEOUT = 180.0
RADAR_BARS_PER_SECOND = 1.0
"""The radar's catch-up pace: fast enough to see the chart move, slow enough to follow it."""
Symbol = Annotated[str, typer.Option("--symbol", "-s", help="Market to simulate, train and serve.")]


class Step(str, Enum):
    simulate = "simulate"
    train = "train"
    promote = "promote"
    serve = "serve"


@dataclass
class QuickstartPaths:
    """Where the quickstart keeps everything (one --home, or the settings' defaults)."""

    data_dir: Path
    mlflow_home: Path
    bentoml_home: Path

    @classmethod
    def from_home(cls, home: Path | None) -> QuickstartPaths:
        if home is not None:
            home = home.resolve()
            return cls(home / "data", home / "mlflow", home / "bentoml")
        settings = get_settings()
        return cls(settings.data_dir.resolve(), settings.mlflow_home.resolve(), _bentoml_home(None))


def _step(number: int, total: int, title: str, action: Callable[[], str]) -> None:
    console.print(f"[bold cyan][{number}/{total}][/] {title} ...", highlight=False)
    started = time.perf_counter()
    outcome = action()
    console.print(
        f"[bold green][{number}/{total}][/] {title}: {outcome} ({time.perf_counter() - started:.1f}s)",
        highlight=False,
        soft_wrap=True,
    )


def simulate_step(symbol: str, days: float, seed: int, data_dir: Path) -> str:
    from features.sources.simulator import simulate
    from features.store import MarketStore

    frame = simulate(symbol, days=days, bar="1h", seed=seed)
    # End the simulated history at the current hour: predictions on it are then about now,
    # not stale (a re-run within the hour writes the same rows).
    now = pd.Timestamp.now(tz="UTC").floor("h")
    frame.index = frame.index + (now - frame.index[-1])
    result = MarketStore(data_dir).write(symbol, frame, source=f"simulator seed {seed}")
    return (
        f"{len(frame)} hourly bars {frame.index[0]:%Y-%m-%d} .. {frame.index[-1]:%Y-%m-%d} in "
        f"{result.path} ({result.rows_added} new rows)"
    )


# The quickstart's label is the default label of train and features build (one definition:
# features.label_defaults): long liquidations of at least $5M within the next hour on simulated
# BTC (the real evaluation's own threshold, at its ~5.4 % base rate), scaled by market size for
# other symbols.
SIMULATED_BTC_THRESHOLD_USD = DEFAULT_BTC_THRESHOLD_USD


def quickstart_label(symbol: str) -> LabelRequest:
    """The default label (features.label_defaults), scaled by the market's size."""
    from training.jobs import LabelRequest

    return LabelRequest(threshold_usd=default_threshold_usd(symbol))


def train_step(symbol: str, paths: QuickstartPaths) -> str:
    from training.jobs import train

    result = train(
        data_dir=paths.data_dir, symbol=symbol, bar="1h", home=paths.mlflow_home,
        label=quickstart_label(symbol),
    )
    return _describe(result, "trained")


def promote_step(symbol: str, paths: QuickstartPaths) -> str:
    from training.registry import promote

    result = promote(symbol, home=paths.mlflow_home, bentoml_home=paths.bentoml_home)
    if result.promoted:
        return f"{result.reason}; exported {result.exported}"
    if result.previous is None:
        # No champion yet and the promotion gate refused (e.g. the model does not beat the best
        # baseline on this data): the quickstart still needs something to serve, so it
        # promotes with --force and says so, instead of hiding the refusal.
        forced = promote(symbol, force=True, home=paths.mlflow_home, bentoml_home=paths.bentoml_home)
        return f"{result.reason} -> promoted anyway for the quickstart (--force); exported {forced.exported}"
    # The new version did not beat the champion: keep serving the champion, exported again
    # only if the BentoML store does not hold it already.
    try:
        stored = find_model(model_tag(symbol), paths.bentoml_home)
        exported = stored.info.labels.get("mlflow_version") == str(result.previous)
    except ModelNotFoundError:
        exported = False
    if not exported:
        stored_tag = promote(
            symbol, version=result.previous, home=paths.mlflow_home, bentoml_home=paths.bentoml_home
        ).exported
    else:
        stored_tag = str(stored.tag)
    return f"{result.reason}; serving champion v{result.previous} ({stored_tag})"


def write_examples(symbol: str, paths: QuickstartPaths) -> tuple[Path, Path]:
    """Ready request bodies from the simulated data: the last 30 days of bars, and features."""
    from features import MIN_WINDOW, features_at
    from features.store import MarketStore

    frame = MarketStore(paths.data_dir).read(symbol, "1h")
    window = frame[frame.index > frame.index[-1] - MIN_WINDOW]
    folder = paths.data_dir.parent / "requests"
    folder.mkdir(parents=True, exist_ok=True)
    name = normalize_symbol(symbol).lower()
    bars_path, features_path = folder / f"{name}_bars.json", folder / f"{name}_features.json"
    _write_json(bars_path, {"symbol": symbol, "bars": bars_json(window, len(window))})
    row = features_at(window)
    features = {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}
    _write_json(
        features_path,
        {"symbol": symbol, "features": features, "as_of": window.index[-1].isoformat()},
    )
    return bars_path, features_path


def _write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data))


def _describe(result: Any, verb: str) -> str:
    version = getattr(result, "version", None)
    run_id = getattr(result, "run_id", None)
    metrics = getattr(result, "metrics", None) or {}
    shown = ", ".join(f"{k} {v:.3f}" for k, v in list(metrics.items())[:3] if isinstance(v, float))
    return f"{verb} v{version} (run {run_id}){', ' + shown if shown else ''}"


@app.command("quickstart")
def quickstart(
    symbol: Symbol = "BTC",
    days: Annotated[
        float, typer.Option("--days", help="Days of hourly bars to simulate.", min=40)
    ] = 365,
    seed: Annotated[int, typer.Option("--seed", help="Simulator seed.", min=0)] = 7,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Keep data/, mlflow/ and bentoml/ under this directory (default: the settings).",
        ),
    ] = None,
    port: Port = None,
    host: Host = None,
    only: Annotated[
        list[Step] | None, typer.Option("--only", help="Run only this step (repeatable).")
    ] = None,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Stop after promote (tests, CI).")
    ] = False,
    no_radar: Annotated[
        bool,
        typer.Option(
            "--no-radar", help="Serve without the radar (no replay watcher beside the server)."
        ),
    ] = False,
    radar_days: Annotated[
        float,
        typer.Option(
            "--radar-days",
            help="Days of the simulated history the radar replays quickly before going live.",
            min=0.1,
            max=30,
        ),
    ] = 2.0,
) -> None:
    """From nothing to a served model: simulate a year -> train (MLflow) -> promote -> serve."""
    paths = QuickstartPaths.from_home(home)
    port, host, url = serve_address(port, host)
    wanted = set(only) if only else set(Step)
    if no_serve:
        wanted.discard(Step.serve)
    steps: list[tuple[str, Callable[[], str]]] = []
    if Step.simulate in wanted:
        steps.append(
            (
                f"simulate {days:g} days of {symbol} hourly bars",
                lambda: simulate_step(symbol, days, seed, paths.data_dir),
            )
        )
    if Step.train in wanted:
        steps.append(
            ("train with MLflow (walk-forward, calibrated)", lambda: train_step(symbol, paths))
        )
    if Step.promote in wanted:
        steps.append(
            ("promote the champion and export it to BentoML", lambda: promote_step(symbol, paths))
        )
    total = len(steps) + (1 if Step.serve in wanted else 0)
    for number, (title, action) in enumerate(steps, start=1):
        _step(number, total, title, action)
    mlflow_ui = (f"FLUSHRISK_MLFLOW_HOME={paths.mlflow_home} " if home else "") + "flushrisk ui"
    console.print(
        f"[bold]Review the runs in MLflow:[/] {mlflow_ui}", highlight=False, soft_wrap=True
    )

    examples: list[tuple[Path, Path]] = []

    def prepare() -> None:
        # the request files exist before the ready line is printed: a reader (or script) that
        # copies the printed curl at once never posts a file that is still being written
        if store_has_hourly(paths.data_dir, symbol):
            examples.append(write_examples(symbol, paths))

    def ask() -> None:
        how_to_ask(symbol, paths, url, examples[0] if examples else None)

    if Step.serve not in wanted:
        serve = (
            f"FLUSHRISK_MLFLOW_HOME={paths.mlflow_home} flushrisk serve --bentoml-home "
            f"{paths.bentoml_home}"
            if home
            else "flushrisk serve"
        )
        prepare()
        console.print(f"\n[bold]Serve it[/] with `{serve}`, then ask it:", highlight=False)
        ask()
        return
    tag = model_tag(symbol)
    stored = find_model(tag, paths.bentoml_home)
    console.print(
        f"[bold cyan][{total}/{total}][/] serve {stored.tag} on {url} (Ctrl-C stops) ...",
        highlight=False,
    )
    radar = None if no_radar else make_radar(symbol, stored, paths, days, seed, radar_days)

    def ready() -> None:
        ask()
        if radar is not None:
            start_radar(radar, symbol, url)

    prepare()  # before the server starts: its "ready ...; ask it:" line comes with the files
    try:
        code = run_server(
            [tag], paths.bentoml_home, port, host, on_ready=ready, data_dir=paths.data_dir
        )
    finally:
        if radar is not None:
            flushed = radar.stop()
            console.print(
                "radar stopped; "
                + ("all bars and scores flushed" if flushed else "some writes still pending"),
                highlight=False,
            )
    raise typer.Exit(code)


def make_radar(
    symbol: str, stored: Any, paths: QuickstartPaths, days: float, seed: int, radar_days: float
) -> QuickstartRadar | None:
    """The replay watcher to run beside the server, or None (said why) when it cannot run."""
    from serving.predictor import Predictor

    if not store_has_hourly(paths.data_dir, symbol):
        console.print(f"[yellow]no radar: no hourly {symbol} bars in {paths.data_dir}[/]")
        return None
    labels = dict(getattr(stored.info, "labels", {}) or {})
    try:
        predictor = Predictor.load(
            Path(stored.path), stored.tag.name, str(stored.tag.version), labels
        )
        radar = QuickstartRadar(
            paths.data_dir,
            symbol,
            predictor,
            days,
            seed,
            catch_up_days=radar_days,
            bars_per_second=RADAR_BARS_PER_SECOND,
        )
        radar.prepare()
    except FlushRiskError as err:  # the service still starts; the console says why no radar
        console.print(f"[yellow]no radar: {err}[/]", highlight=False, soft_wrap=True)
        return None
    return radar


def start_radar(radar: QuickstartRadar, symbol: str, url: str) -> None:
    """Start the replay watcher and say what it replays and where to watch it."""
    console.print(f"[bold]radar:[/] {radar.description}", highlight=False, soft_wrap=True)
    radar.start()
    name = normalize_symbol(symbol)
    console.print(
        f"[bold green]Watch the radar:[/] {url}/  ({name}: {url}/symbol/{name}; JSON: "
        f"{url}/risk)",
        highlight=False,
        soft_wrap=True,
    )


def how_to_ask(
    symbol: str, paths: QuickstartPaths, url: str, written: tuple[Path, Path] | None = None
) -> None:
    """Print ready requests: curl with a file of bars, features instead, flushrisk predict
    (``written``: the request files :func:`write_examples` made; None: a generic curl)."""
    if written is None:
        console.print(curl_example(url), highlight=False, soft_wrap=True)
        return
    bars_path, features_path = written
    console.print(curl_example(url, bars_path), highlight=False, soft_wrap=True)
    console.print(
        f"[dim]precomputed features instead of bars: -d @{features_path}[/]", highlight=False
    )
    console.print(
        f"or: flushrisk predict --url {url} --bars {bars_path} --symbol {symbol}",
        highlight=False,
        soft_wrap=True,
    )


def run_server(
    tags: list[str],
    home: Path,
    port: int,
    host: str,
    on_ready: Callable[[], None],
    timeout: float = READY_TIMEOUT,
    data_dir: Path | None = None,
) -> int:
    """Run the server as a child, call ``on_ready`` once /readyz answers, wait for it to stop.

    Ctrl-C reaches the child too (same process group); SIGTERM to this process is passed on
    to it. This process then waits for it to finish shutting down and returns its exit status.
    ``data_dir``: the store the server's radar routes read (the quickstart's own).
    """
    import httpx

    env = serve_env(tags, home, 1)
    if data_dir is not None:
        env["FLUSHRISK_DATA_DIR"] = str(data_dir)
    process = subprocess.Popen(serve_command(port, host), env=env)
    _forward_sigterm(process)
    probe = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/readyz"
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            try:
                if httpx.get(probe, timeout=1.0).status_code == 200:
                    console.print(f"[bold green]ready on {probe[: -len('/readyz')]}[/]; ask it:")
                    on_ready()
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                process.send_signal(signal.SIGTERM)
                raise FlushRiskError(f"the server was not ready after {timeout:g} s")
            time.sleep(0.5)
        return process.wait()
    except KeyboardInterrupt:
        return process.wait()


def _forward_sigterm(process: subprocess.Popen) -> None:
    """SIGTERM to the quickstart stops the server too (then the radar, as after Ctrl-C)."""

    def handler(_signum: int, _frame: object) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an embedding caller): leave signals alone
        pass
