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
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from features.errors import DataError, FlushRiskError, ModelNotFoundError
from features.settings import get_settings
from features.store import normalize_symbol
from serving.champions import ChampionMismatchError, ChampionRecord, read_champions
from serving.state import symbol_key
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
    except Exception as err:  # noqa: BLE001 - BentoML's record of the model is damaged
        from serving.champions import CorruptModelError

        name, _, version = tag.partition(":")
        record = home / "models" / name.lower() / (version or "latest") / "model.yaml"
        reason = (str(err).splitlines() or [""])[0][:200]
        raise CorruptModelError(
            f"{record}: unreadable BentoML model record ({type(err).__name__}: {reason}); "
            "export the model again with `flushrisk promote`"
        ) from None


def registry_champions(mlflow_home: Path) -> dict[str, tuple[str, str]] | None:
    """Symbol -> (MLflow version, run id) of each champion in this project's registry.

    None when the project has no MLflow store (a machine that only serves).
    """
    if not (mlflow_home / "mlflow.db").is_file():
        return None
    from training.registry import list_versions

    out: dict[str, tuple[str, str]] = {}
    for info in list_versions(home=mlflow_home):
        if info.is_champion:
            out[symbol_key(info.name.removeprefix("flushrisk-"))] = (str(info.version), info.run_id)
    return out


def resolve_champions(home: Path, symbols: list[str] | None) -> list[ChampionRecord]:
    """The exports to serve: this project's champions, checked against its registry.

    The registry's ``champion`` alias decides; the champion index promote wrote in the BentoML
    store says which export holds it. They must agree: another project sharing the store, an
    export that failed, or a promote in another checkout would otherwise serve a model the user
    does not think is served.
    """
    settings = get_settings()
    project = settings.tracking_uri
    records = read_champions(home, project)
    registry = registry_champions(settings.mlflow_home.resolve())
    wanted = [symbol_key(s) for s in symbols] if symbols else None
    if registry is not None:
        for symbol, (version, run_id) in sorted(registry.items()):
            if wanted is not None and symbol not in wanted:
                continue
            record = records.get(symbol)
            if record is None or (record.mlflow_version, record.mlflow_run_id) != (version, run_id):
                exported = (
                    f"the store holds v{record.mlflow_version} (run {record.mlflow_run_id})"
                    if record is not None
                    else "the store holds no export of it for this project"
                )
                raise ChampionMismatchError(
                    f"the registry's champion of flushrisk-{symbol} is v{version} (run {run_id}, "
                    f"project {project}), but {exported} in {home}: export it with "
                    f"`flushrisk promote --symbol {symbol} --version {version}`"
                )
        stale = [s for s in records if s not in registry and (wanted is None or s in wanted)]
        if stale:
            raise ChampionMismatchError(
                f"{home} records champions of {stale} for project {project}, but its registry "
                f"({settings.mlflow_home}) has no champion for them: promote one, or serve "
                "the others with --symbol"
            )
    chosen = [r for s, r in sorted(records.items()) if wanted is None or s in wanted]
    missing = [s for s in (wanted or []) if s not in records]
    if missing or not chosen:
        names = ", ".join(f"flushrisk-{s.lower()}" for s in missing) or "any flushrisk model"
        others = sorted(p for p in _all_projects(home) if p != project)
        elsewhere = f" (it holds other projects' exports: {others})" if others else ""
        raise ModelNotFoundError(
            f"no champion export of {names} for project {project} in the BentoML store "
            f"{home}{elsewhere}: run `flushrisk quickstart`, or `flushrisk train` then "
            "`flushrisk promote`, or pass --bentoml-home"
        )
    return chosen


def _all_projects(home: Path) -> list[str]:
    import json as _json

    from serving.champions import index_path

    try:
        return list(_json.loads(index_path(home).read_text()))
    except (OSError, ValueError):
        return []


def check_exports(home: Path, records: list[ChampionRecord]) -> None:
    """Refuse corrupt exports before a server starts (checksums, documents, a trial)."""
    from serving.champions import verify_model

    for record in records:
        stored = find_model(record.bentoml_tag, home)
        verify_model(stored.path, record.sha256)


def serve_env(tags: list[str] | None, home: Path, workers: int) -> dict[str, str]:
    """The environment of the server process: which models, which store and project, workers.

    ``tags`` None serves every champion of this project (and picks up new ones without a
    restart); a list pins the server to those exports.
    """
    env = dict(os.environ)
    env.update(
        BENTOML_HOME=str(home),
        FLUSHRISK_PROJECT=get_settings().tracking_uri,
        # The server runs in the project's directory (--working-dir): a relative store path
        # (the default ./data, or FLUSHRISK_DATA_DIR=radar) must mean the caller's directory.
        FLUSHRISK_DATA_DIR=str(get_settings().data_dir.resolve()),
        BENTOML_DO_NOT_TRACK="true",
        BENTOML_CONFIG_OPTIONS=f"services.{SERVICE_NAME}.workers={workers}",
    )
    env.pop("FLUSHRISK_SERVE_MODEL", None)
    if tags:
        env["FLUSHRISK_SERVE_MODEL"] = ",".join(tags)
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


def _exec_server(tags: list[str] | None, home: Path, port: int, host: str, workers: int) -> None:
    """Replace this process with the BentoML server (Ctrl-C stops it)."""
    env = serve_env(tags, home, workers)
    command = serve_command(port, host)
    console.print(f"[dim]$ {shlex.join(command)}[/]", highlight=False)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(command[0], command, env)


Port = Annotated[
    int | None,
    typer.Option(
        "--port", "-p", help="HTTP port (default: FLUSHRISK_SERVE_PORT, else 3000).", min=1, max=65535
    ),
]
Host = Annotated[
    str | None,
    typer.Option(
        "--host",
        help="Interface to bind, 0.0.0.0 for all (default: FLUSHRISK_SERVE_HOST, else 127.0.0.1).",
    ),
]


def serve_address(port: int | None, host: str | None) -> tuple[int, str, str]:
    """The port and interface to serve on (the options, else the settings) and the URL the pages
    are then read at: one derivation for serve, the quickstart, predict and the alert links."""
    from features.settings import Settings

    given = {k: v for k, v in (("serve_port", port), ("serve_host", host)) if v is not None}
    settings = Settings(**given)
    return settings.serve_port, settings.serve_host, settings.service_url
Workers = Annotated[int, typer.Option("--workers", "-w", help="Worker processes.", min=1, max=64)]
Symbols = Annotated[
    list[str] | None,
    typer.Option(
        "--symbol",
        "-s",
        help="Serve only this symbol's champion (repeatable; default: every symbol that has one).",
    ),
]
Symbol = Annotated[str, typer.Option("--symbol", "-s", help="The market the bars are of.")]
BentoHome = Annotated[
    Path | None,
    typer.Option(
        "--bentoml-home",
        help="BentoML store (default: FLUSHRISK_BENTOML_HOME, BENTOML_HOME, ~/bentoml).",
    ),
]


@app.command("serve")
def serve(
    port: Port = None,
    host: Host = None,
    workers: Workers = 1,
    symbol: Symbols = None,
    bentoml_home: BentoHome = None,
) -> None:
    """Serve every champion (or --symbol's) over HTTP: POST /predict, GET /models, /model.

    The champions are the registry's (alias ``champion``), as promote exported them; a
    disagreement between the two, or a corrupt export, is refused before the server starts.
    Without --symbol, a new champion promoted later is served without a restart.
    """
    port, host, _ = serve_address(port, host)
    home = _bentoml_home(bentoml_home)
    records = resolve_champions(home, symbol)
    check_exports(home, records)
    served = ", ".join(f"{r.symbol} ({r.mlflow_name} v{r.mlflow_version})" for r in records)
    console.print(f"serving {served} from {home} on http://{host}:{port}", highlight=False)
    console.print(
        f"[dim]when it is ready: flushrisk predict --url http://{host}:{port} --bars FILE "
        f"--symbol {records[0].symbol}[/]",
        highlight=False,
        soft_wrap=True,
    )
    _exec_server([r.bentoml_tag for r in records] if symbol else None, home, port, host, workers)


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
        str | None,
        typer.Option(
            "--url",
            help="The service's base URL (default: FLUSHRISK_PAGE_URL, else where `flushrisk "
            "serve` listens: http://FLUSHRISK_SERVE_HOST:FLUSHRISK_SERVE_PORT).",
        ),
    ] = None,
    symbol: Symbol = "BTC",
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON answer.")] = False,
) -> None:
    """Ask a running service for the squeeze probability after the last bar of a file."""
    settings = get_settings()
    url = url or settings.service_url
    frame = read_bars(bars)
    body = {"symbol": symbol, "bars": bars_json(frame, settings.max_bars)}
    key = settings.api_key.get_secret_value() if settings.api_key else None
    import httpx

    try:
        with http_client(url.rstrip("/"), key) as client:
            response = client.post("/predict", json=body)
    except httpx.ConnectError:
        raise FlushRiskError(
            f"cannot reach {url}: no FlushRisk service is listening there. Start one with "
            "`flushrisk serve` (or `flushrisk quickstart`), or pass --url"
        ) from None
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
    if answer.get("alert"):
        console.print("[bold red]ALERT[/]: the model's alert rule fires for this bar", highlight=False)
    elif answer.get("squeeze_running"):
        console.print(
            "squeeze under way (one of the model's label ended in its calm window): no new alert",
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
def bentofile(tags: list[str]) -> dict[str, Any]:
    """The Bento's build file: service, sources, pinned packages, the champions to serve.

    Sources are features/, models/ and serving/ (not training/: serving never imports it);
    packages are what serving imports, pinned to the installed versions, and not locked (no
    resolver run), so the build works offline and ``bentoml containerize`` rebuilds this stack.
    """
    from importlib.metadata import version as installed

    return {
        "service": SERVICE,
        "name": SERVICE_NAME,
        "description": "FlushRisk: calibrated probability of a large long squeeze in the next hour.",
        "labels": {"models": ",".join(tags).replace(":", "_")},
        "include": ["features/**/*.py", "models/**/*.py", "serving/**/*.py", "serving/**/*.*"],
        "exclude": ["**/__pycache__", "tests", "training", "data", "mlflow", ".venv"],
        "python": {
            "packages": [f"{name}=={installed(name)}" for name in BENTO_PACKAGES],
            "lock_packages": False,
        },
        "models": list(tags),
        "envs": [{"name": "FLUSHRISK_SERVE_MODEL", "value": ",".join(tags)}],
    }


def build_bento(tags: list[str], home: Path) -> str:
    """Build the Bento in the BentoML store ``home``; return its tag.

    ``bentoml build`` runs in a child process with that home and models, so the caller's own
    BentoML configuration (already bound to one store) is left alone.
    """
    import tempfile

    import yaml

    with tempfile.TemporaryDirectory(prefix="flushrisk-bento-") as tmp:
        spec = Path(tmp) / "bentofile.yaml"
        spec.write_text(yaml.safe_dump(bentofile(tags), sort_keys=False))
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
        env = serve_env(tags, home, workers=1)
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
def build(symbol: Symbols = None, bentoml_home: BentoHome = None) -> None:
    """Build a Bento (service + every champion, or --symbol's) for `bentoml containerize`."""
    home = _bentoml_home(bentoml_home)
    records = resolve_champions(home, symbol)
    check_exports(home, records)
    tags = [r.bentoml_tag for r in records]
    tag = build_bento(tags, home)
    served = ", ".join(f"{r.symbol} ({r.bentoml_tag})" for r in records)
    console.print(f"built Bento [bold]{tag}[/] in {home / 'bentos'} with {served}", highlight=False)
    console.print(f"container: BENTOML_HOME={home} bentoml containerize {tag}", highlight=False)
    console.print(f"or serve it: BENTOML_HOME={home} bentoml serve {tag}", highlight=False)
