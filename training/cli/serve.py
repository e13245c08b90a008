"""``flushrisk serve | predict | build | quickstart``: the prediction service and its first run.

``serve`` runs ``bentoml serve serving.service:FlushRiskService`` on the promoted champion,
``predict`` sends a file of recent bars to a running service, ``build`` makes a Bento for a
container, and ``quickstart`` goes from nothing to a served model on simulated data: simulate a
year of hourly bars -> train with MLflow -> promote -> serve, one progress line per step. Every
step is idempotent (re-running the quickstart re-uses or refreshes what is there), and
``--only STEP`` re-runs a single step.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from features.atomic import write_text_atomic
from features.errors import DataError, FlushRiskError, ModelNotFoundError
from features.settings import get_settings
from features.store import normalize_symbol
from training.cli.app import app, console

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SERVICE = "serving.service:FlushRiskService"
SERVICE_NAME = "flushrisk"
# Packages the Bento's image installs: what serving imports (not mlflow, not training).
BENTO_PACKAGES = (
    "numpy",
    "pandas",
    "pyarrow",
    "pandera",
    "pydantic",
    "pydantic-settings",
    "pyyaml",
    "numba",
    "lightgbm",
    "bentoml",
)


def model_tag(symbol: str) -> str:
    """The BentoML model name promote exports a symbol's champion under."""
    return f"flushrisk-{normalize_symbol(symbol).lower()}"


def _bentoml_home(explicit: Path | None) -> Path:
    """The BentoML home to use: --bentoml-home, FLUSHRISK_BENTOML_HOME, BENTOML_HOME, ~/bentoml."""
    if explicit is not None:
        return explicit.resolve()
    configured = get_settings().bentoml_home
    if configured is not None:
        return configured.resolve()
    return Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml")).expanduser().resolve()


def find_model(tag: str, home: Path) -> Any:
    """The stored BentoML model ``tag`` in ``home``, or an error saying how to make one."""
    from bentoml._internal.models import ModelStore
    from bentoml.exceptions import NotFound

    try:
        return ModelStore(str(home / "models")).get(tag)
    except NotFound:
        raise ModelNotFoundError(
            f"no model {tag!r} in the BentoML store {home}: run `flushrisk quickstart`, or "
            "`flushrisk train` then `flushrisk promote`, or pass --bentoml-home"
        ) from None


def serve_env(tag: str, home: Path, workers: int) -> dict[str, str]:
    """The environment of the server process: which model, which store, how many workers."""
    env = dict(os.environ)
    env.update(
        BENTOML_HOME=str(home),
        FLUSHRISK_SERVE_MODEL=tag,
        BENTOML_DO_NOT_TRACK="true",
        BENTOML_CONFIG_OPTIONS=f"services.{SERVICE_NAME}.workers={workers}",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # BentoML sets up its own per server
    return env


def serve_command(port: int, host: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        SERVICE,
        "--port",
        str(port),
        "--host",
        host,
        "--working-dir",
        str(PROJECT_ROOT),
    ]


def curl_example(url: str, body_file: Path | None = None) -> str:
    """A request to paste: a body file, or a few features inline when there is no file."""
    if body_file is not None:
        data = f"@{body_file}"
    else:
        data = json.dumps(
            {"symbol": "BTC", "features": {"funding_rate": 0.0004, "funding_z_7d": 2.5}}
        )
    key = ' -H "X-API-Key: $FLUSHRISK_API_KEY"' if get_settings().api_key else ""
    return f"curl -s -X POST {url}/predict -H 'Content-Type: application/json'{key} -d {shlex.quote(data)}"


def store_has_hourly(data_dir: Path, symbol: str) -> bool:
    from features.store import MarketStore

    return "1h" in MarketStore(data_dir).bars(symbol)


def _exec_server(tag: str, home: Path, port: int, host: str, workers: int) -> None:
    """Replace this process with the BentoML server (Ctrl-C stops it)."""
    env = serve_env(tag, home, workers)
    command = serve_command(port, host)
    console.print(f"[dim]$ {shlex.join(command)}[/]", highlight=False)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(command[0], command, env)


Port = Annotated[int, typer.Option("--port", "-p", help="HTTP port.", min=1, max=65535)]
Host = Annotated[str, typer.Option("--host", help="Interface to bind (0.0.0.0 for all).")]
Workers = Annotated[int, typer.Option("--workers", "-w", help="Worker processes.", min=1, max=64)]
Symbol = Annotated[str, typer.Option("--symbol", "-s", help="Market whose champion to serve.")]
BentoHome = Annotated[
    Path | None,
    typer.Option(
        "--bentoml-home",
        help="BentoML store (default: FLUSHRISK_BENTOML_HOME, BENTOML_HOME, ~/bentoml).",
    ),
]


@app.command("serve")
def serve(
    port: Port = 3000,
    host: Host = "127.0.0.1",
    workers: Workers = 1,
    symbol: Symbol = "BTC",
    version: Annotated[
        str | None, typer.Option("--version", help="BentoML model version (default: latest).")
    ] = None,
    bentoml_home: BentoHome = None,
) -> None:
    """Serve the promoted champion over HTTP (POST /predict, /predict_batch; GET /model)."""
    home = _bentoml_home(bentoml_home)
    tag = model_tag(symbol) + (f":{version}" if version else "")
    stored = find_model(tag, home)
    console.print(
        f"serving [bold]{stored.tag}[/] from {home} on http://{host}:{port}", highlight=False
    )
    console.print(curl_example(f"http://{host}:{port}"), highlight=False, soft_wrap=True)
    _exec_server(str(stored.tag), home, port, host, workers)


# -- predict ---------------------------------------------------------------------------------
def read_bars(path: Path) -> pd.DataFrame:
    """A canonical frame from Parquet (a store dataset), CSV (a 'time' column) or JSON bars."""
    from features.schema import validate_frame

    if not path.exists():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet" or path.is_dir():  # a file, or a store dataset directory
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt"):
            frame = pd.read_csv(path)
        elif suffix == ".json":
            data = json.loads(path.read_text())
            frame = pd.DataFrame(data["bars"] if isinstance(data, dict) else data)
        else:
            raise DataError(f"{path}: unknown format {suffix!r}; use .parquet, .csv or .json")
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{path}: unreadable ({err})") from None
    if not isinstance(frame.index, pd.DatetimeIndex):
        if "time" not in frame.columns:
            raise DataError(
                f"{path}: needs a 'time' column of bar open times; has {list(frame.columns)}"
            )
        frame = frame.set_index(pd.to_datetime(frame.pop("time"), utc=True))
    return validate_frame(frame, str(path))


def bars_json(frame: pd.DataFrame, max_bars: int) -> list[dict[str, Any]]:
    """The last bars a request needs (the minimum window, at most max_bars) as JSON objects."""
    from features import MIN_WINDOW

    last = frame.index[-1]
    recent = frame[frame.index > last - MIN_WINDOW].iloc[-max_bars:]
    rows = []
    for t, values in zip(recent.index, recent.to_dict("records"), strict=True):
        row: dict[str, Any] = {"time": t.isoformat()}
        row.update({k: float(v) for k, v in values.items() if pd.notna(v)})
        rows.append(row)
    return rows


def http_client(url: str, api_key: str | None) -> Any:
    """An HTTP client for the service (a function, so tests can hand in an in-process one)."""
    import httpx

    headers = {"X-API-Key": api_key} if api_key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30.0)


@app.command("predict")
def predict(
    bars: Annotated[
        Path,
        typer.Option("--bars", "-b", help="Recent bars: .parquet, .csv (time column) or .json."),
    ],
    url: Annotated[
        str, typer.Option("--url", help="The service's base URL.")
    ] = "http://127.0.0.1:3000",
    symbol: Symbol = "BTC",
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")] = False,
) -> None:
    """Ask a running service for the squeeze probability after the last bar of a file."""
    settings = get_settings()
    frame = read_bars(bars)
    body = {"symbol": symbol, "bars": bars_json(frame, settings.max_bars)}
    key = settings.api_key.get_secret_value() if settings.api_key else None
    import httpx

    try:
        with http_client(url.rstrip("/"), key) as client:
            response = client.post("/predict", json=body)
    except httpx.HTTPError as err:
        raise FlushRiskError(f"cannot reach {url}: {err}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": response.text[:500]}
    if response.status_code != 200:
        raise FlushRiskError(
            f"{url} answered {response.status_code}: {answer.get('error', answer)}"
        )
    if as_json:
        console.print_json(data=answer)
        return
    _print_answer(answer)


def _print_answer(answer: dict[str, Any]) -> None:
    model = answer["model"]
    console.print(
        f"[bold]{answer['symbol']}[/] as of {answer.get('as_of')}: probability "
        f"[bold]{answer['probability']:.2%}[/], risk [bold]{answer['risk_level']}[/] "
        f"({model.get('label') or 'label spec ' + json.dumps(model['label_spec'])})",
        highlight=False,
    )
    if answer["drivers"]:
        console.print("why (effect on the probability, in percentage points):", highlight=False)
    for driver in answer["drivers"]:
        console.print(
            f"  {100 * driver['contribution']:+6.2f}  {driver.get('text') or driver['feature']}",
            highlight=False,
            soft_wrap=True,
        )
    for warning in answer.get("warnings", []):
        console.print(
            f"[yellow]warning ({warning['code']}):[/] {warning['message']}", highlight=False
        )
    console.print(
        f"[dim]model {model['name']} v{model.get('version')} (BentoML {model.get('bentoml_tag')}, "
        f"run {model.get('mlflow_run_id')}), trained until {model.get('trained_until')}[/]",
        highlight=False,
    )


# -- build -----------------------------------------------------------------------------------
def bentofile(tag: str) -> dict[str, Any]:
    """The Bento's build file: service, sources, pinned packages, the model to serve.

    Sources are features/, models/ and serving/ (not training/: serving never imports it);
    packages are what serving imports, pinned to the installed versions, and not locked (no
    resolver run), so the build works offline and ``bentoml containerize`` rebuilds this stack.
    """
    from importlib.metadata import version as installed

    return {
        "service": SERVICE,
        "name": SERVICE_NAME,
        "description": "FlushRisk: calibrated probability of a large long squeeze in the next hour.",
        "labels": {"model": tag},
        "include": ["features/**/*.py", "models/**/*.py", "serving/**/*.py"],
        "exclude": ["**/__pycache__", "tests", "training", "data", "mlflow", ".venv"],
        "python": {
            "packages": [f"{name}=={installed(name)}" for name in BENTO_PACKAGES],
            "lock_packages": False,
        },
        "envs": [{"name": "FLUSHRISK_SERVE_MODEL", "value": tag}],
    }


def build_bento(tag: str, home: Path) -> str:
    """Build the Bento in the BentoML store ``home``; return its tag.

    ``bentoml build`` runs in a child process with that home and model, so the caller's own
    BentoML configuration (already bound to one store) is left alone.
    """
    import tempfile

    import yaml

    with tempfile.TemporaryDirectory(prefix="flushrisk-bento-") as tmp:
        spec = Path(tmp) / "bentofile.yaml"
        spec.write_text(yaml.safe_dump(bentofile(tag), sort_keys=False))
        command = [
            sys.executable,
            "-m",
            "bentoml",
            "build",
            "-f",
            str(spec),
            "-o",
            "tag",
            str(PROJECT_ROOT),
        ]
        env = serve_env(tag, home, workers=1)
        env.pop("BENTOML_CONFIG_OPTIONS")
        done = subprocess.run(
            command,
            check=False,
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    if done.returncode != 0:
        raise FlushRiskError(f"bentoml build failed:\n{(done.stdout + done.stderr)[-2000:]}")
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return lines[-1].removeprefix("__tag__:") if lines else "?"


@app.command("build")
def build(symbol: Symbol = "BTC", bentoml_home: BentoHome = None) -> None:
    """Build a Bento (service + champion model) for `bentoml containerize`."""
    home = _bentoml_home(bentoml_home)
    stored = find_model(model_tag(symbol), home)
    tag = build_bento(str(stored.tag), home)
    console.print(
        f"built Bento [bold]{tag}[/] in {home / 'bentos'} with model {stored.tag}", highlight=False
    )
    console.print(f"container: BENTOML_HOME={home} bentoml containerize {tag}", highlight=False)
    console.print(f"or serve it: BENTOML_HOME={home} bentoml serve {tag}", highlight=False)


# -- quickstart ------------------------------------------------------------------------------
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
    result = MarketStore(data_dir).write(symbol, frame, source=f"simulator seed {seed}")
    return (
        f"{len(frame)} hourly bars {frame.index[0]:%Y-%m-%d} .. {frame.index[-1]:%Y-%m-%d} in "
        f"{result.path} ({result.rows_added} new rows)"
    )


def train_step(symbol: str, paths: QuickstartPaths) -> str:
    from training.jobs import train

    result = train(data_dir=paths.data_dir, symbol=symbol, bar="1h", home=paths.mlflow_home)
    return _describe(result, "trained")


def promote_step(symbol: str, paths: QuickstartPaths) -> str:
    from training.registry import promote

    result = promote(symbol, home=paths.mlflow_home, bentoml_home=paths.bentoml_home)
    if result.promoted:
        return f"{result.reason}; exported {result.exported}"
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
    port: Port = 3000,
    host: Host = "127.0.0.1",
    only: Annotated[
        list[Step] | None, typer.Option("--only", help="Run only this step (repeatable).")
    ] = None,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Stop after promote (tests, CI).")
    ] = False,
) -> None:
    """From nothing to a served model: simulate a year -> train (MLflow) -> promote -> serve."""
    paths = QuickstartPaths.from_home(home)
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
    url = f"http://{host}:{port}"
    mlflow_ui = (f"FLUSHRISK_MLFLOW_HOME={paths.mlflow_home} " if home else "") + "flushrisk ui"
    console.print(f"\n[bold]Ask the model[/] (once it serves on {url}):", highlight=False)
    if store_has_hourly(paths.data_dir, symbol):
        bars_path, features_path = write_examples(symbol, paths)
        console.print(curl_example(url, bars_path), highlight=False, soft_wrap=True)
        console.print(
            f"[dim]precomputed features instead of bars: -d @{features_path}[/]", highlight=False
        )
        console.print(
            f"or: flushrisk predict --url {url} --bars {paths.data_dir / normalize_symbol(symbol) / '1h'}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(curl_example(url), highlight=False, soft_wrap=True)
    console.print(
        f"[bold]Review the runs in MLflow:[/] {mlflow_ui}", highlight=False, soft_wrap=True
    )
    if Step.serve in wanted:
        tag = model_tag(symbol)
        stored = find_model(tag, paths.bentoml_home)
        console.print(
            f"[bold cyan][{total}/{total}][/] serve {stored.tag} on {url} (Ctrl-C stops)",
            highlight=False,
        )
        _exec_server(tag, paths.bentoml_home, port, host, workers=1)
