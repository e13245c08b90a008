"""`flushrisk serve | predict | build | quickstart` through typer's CliRunner."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from training.cli import app
from training.cli import serve as serve_cli

runner = CliRunner()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    from features.sources.simulator import simulate

    return simulate("BTC", days=40, bar="1h", seed=3)


@pytest.fixture(scope="module")
def bento_home(frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BentoML store holding a tiny real model exported as promote exports it."""
    from features import build_features
    from tests.serving.conftest import train_tiny_model
    from training.registry import export_bentoml

    home = tmp_path_factory.mktemp("bentoml")
    export_bentoml(train_tiny_model(build_features(frame)), "BTC", 1, "a" * 32, bentoml_home=home)
    return home


def test_serve_without_a_model_says_how_to_get_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--bentoml-home", str(tmp_path)])
    assert result.exit_code == 2
    assert "no champion export" in result.output and "quickstart" in result.output
    result = runner.invoke(app, ["serve", "--symbol", "ETH", "--bentoml-home", str(tmp_path)])
    assert result.exit_code == 2 and "flushrisk-eth" in result.output


def test_serve_starts_bentoml_on_the_champion(
    bento_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: dict[str, Any] = {}

    def fake_exec(tags: Any, home: Path, port: int, host: str, workers: int) -> None:
        started.update(tags=tags, home=home, port=port, host=host, workers=workers)

    monkeypatch.setattr(serve_cli, "_exec_server", fake_exec)
    result = runner.invoke(
        app, ["serve", "--port", "3456", "--workers", "2", "--bentoml-home", str(bento_home)]
    )
    assert result.exit_code == 0, result.output
    assert started["tags"] is None  # every champion of the project, reloadable
    assert started["home"] == bento_home.resolve()
    assert (started["port"], started["host"], started["workers"]) == (3456, "127.0.0.1", 2)
    assert "BTC (flushrisk-BTC v1)" in result.output and "flushrisk predict" in result.output

    env = serve_cli.serve_env(None, bento_home, 2)
    assert env["BENTOML_HOME"] == str(bento_home)
    assert "FLUSHRISK_SERVE_MODEL" not in env and env["FLUSHRISK_PROJECT"].startswith("sqlite:")
    assert env["BENTOML_CONFIG_OPTIONS"] == "services.flushrisk.workers=2"
    result = runner.invoke(app, ["serve", "--symbol", "btc", "--bentoml-home", str(bento_home)])
    assert result.exit_code == 0, result.output
    assert started["tags"][0].startswith("flushrisk-btc:")  # pinned to that export
    command = serve_cli.serve_command(3456, "127.0.0.1")
    assert (
        command[1:4] == ["-m", "bentoml", "serve"] and "serving.service:FlushRiskService" in command
    )


class StubService:
    """Stands in for the HTTP service: records the request, answers like the real one."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []

    def client(self, url: str, api_key: str | None) -> Any:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        with warnings.catch_warnings():  # starlette asks for httpx2, which is not needed here
            warnings.simplefilter("ignore")
            from starlette.testclient import TestClient

        async def predict(request: Any) -> JSONResponse:
            self.bodies.append(await request.json())
            if self.status != 200:
                return JSONResponse({"error": "bars: the bars cover 1d"}, status_code=self.status)
            return JSONResponse(
                {
                    "symbol": "BTC",
                    "probability": 0.125,
                    "risk_level": "high",
                    "drivers": [
                        {
                            "feature": "funding_z_7d",
                            "text": "funding 0.041 % per 8 h, 2.5 standard deviations above "
                            "its 7-day mean",
                            "value": 2.5,
                            "unit": "standard deviations",
                            "raw_value": 2.5,
                            "contribution": 0.031,
                            "contribution_log_odds": 0.4,
                        }
                    ],
                    "model": {
                        "name": "flushrisk-btc",
                        "version": "4",
                        "bentoml_tag": "flushrisk-btc:v1",
                        "mlflow_run_id": "r" * 32,
                        "trained_until": "2025-01-01",
                        "bar": "1h",
                        "label_spec": {"kind": "liquidation"},
                        "label": "long liquidations",
                    },
                    "as_of": "2025-02-09T23:00:00Z",
                    "warnings": [{"code": "stale_data", "message": "old bars", "features": []}],
                    "alert": True,
                    "squeeze_running": False,
                }
            )

        return TestClient(
            Starlette(routes=[Route("/predict", predict, methods=["POST"])]), base_url=url
        )


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".json"])
def test_predict_sends_the_minimum_window_of_a_file(
    frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    stub = StubService()
    monkeypatch.setattr(serve_cli, "http_client", stub.client)
    path = tmp_path / f"bars{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".csv":
        frame.reset_index().to_csv(path, index=False)
    else:
        rows = frame.reset_index().assign(time=lambda f: f["time"].astype(str)).to_dict("records")
        path.write_text(json.dumps({"bars": rows}))

    result = runner.invoke(app, ["predict", "--bars", str(path), "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 0, result.output
    sent = stub.bodies[0]
    assert sent["symbol"] == "BTC"
    assert len(sent["bars"]) == 720  # 40 days in the file, the 30-day minimum window sent
    assert pd.Timestamp(sent["bars"][-1]["time"]) == frame.index[-1]
    assert sent["bars"][-1]["close"] == pytest.approx(frame["close"].iloc[-1])
    assert "12.50%" in result.output and "high" in result.output
    assert "2.5 standard deviations above its 7-day mean" in result.output
    assert "+3.10" in result.output and "stale_data" in result.output
    assert "ALERT: the model's alert rule fires for this bar" in result.output


def test_predict_reports_a_refusal_and_a_bad_file(
    frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve_cli, "http_client", StubService(status=400).client)
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    result = runner.invoke(app, ["predict", "--bars", str(path)])
    assert result.exit_code == 2
    assert "400" in result.output and "bars cover" in result.output

    bad = tmp_path / "bad.csv"
    bad.write_text("when,close\n2025-01-01,1\n")
    result = runner.invoke(app, ["predict", "--bars", str(bad)])
    assert result.exit_code == 2 and "time" in result.output


def test_predict_says_when_the_service_is_unreachable(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = runner.invoke(
        app, ["predict", "--bars", str(path), "--url", f"http://127.0.0.1:{port}"]
    )
    assert result.exit_code == 2 and "cannot reach" in result.output
    assert "flushrisk serve" in result.output  # how to start one


def test_build_makes_a_bento_with_the_model_offline(bento_home: Path) -> None:
    result = runner.invoke(app, ["build", "--bentoml-home", str(bento_home)])
    assert result.exit_code == 0, result.output
    [manifest] = list((bento_home / "bentos" / "flushrisk").glob("*/bento.yaml"))
    text = manifest.read_text()
    assert "flushrisk-btc:" in text and "FLUSHRISK_SERVE_MODEL" in text
    source = manifest.parent / "src"
    assert (source / "serving" / "service.py").is_file() and (
        source / "models" / "flush_model.py"
    ).is_file()
    assert not (source / "training").exists()
    requirements = (manifest.parent / "env" / "python" / "requirements.txt").read_text()
    assert "lightgbm==" in requirements and "mlflow" not in requirements


def test_quickstart_simulate_step_is_rerunnable(tmp_path: Path) -> None:
    args = [
        "quickstart",
        "--home",
        str(tmp_path),
        "--only",
        "simulate",
        "--days",
        "40",
        "--no-serve",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert (
        "[1/1]" in first.output
        and "960 hourly bars" in first.output
        and "(960 new rows)" in first.output
    )
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "(0 new rows)" in again.output
    assert "curl" in again.output and "flushrisk ui" in again.output


def test_quickstart_goes_from_nothing_to_a_servable_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's command, offline, on a short simulation: every step, then serve."""
    from bentoml._internal.models import ModelStore

    from serving.predictor import Predictor
    from serving.schemas import PredictRequest

    # 150 days: the realistic simulator has large squeezes in ~0.5-1 % of hours, so 90 days can
    # hold fewer than the 10 positives training needs
    result = runner.invoke(app, ["quickstart", "--home", str(tmp_path), "--days", "150", "--no-serve"])
    assert result.exit_code == 0, result.output
    for step in ("[1/3] simulate", "[2/3] train", "[3/3] promote"):
        assert step in result.output
    assert "exported flushrisk-btc:" in result.output
    assert "curl -s -X POST http://127.0.0.1:3000/predict" in result.output
    assert "flushrisk ui" in result.output

    stored = ModelStore(str(tmp_path / "bentoml" / "models")).get("flushrisk-btc")
    assert stored.info.labels["mlflow_version"] == "1"
    predictor = Predictor.load(stored.path, "flushrisk-btc", str(stored.tag.version))
    for name in ("btc_bars.json", "btc_features.json"):
        request = PredictRequest.model_validate_json((tmp_path / "requests" / name).read_text())
        answer = predictor.predict(request)
        assert 0 < answer.probability < 1 and answer.model.version == "1"
        # the benchmark's label, the real evaluation's form, not the rare 0.3 %-of-OI default
        assert answer.model.label_spec["threshold_usd"] == 5e6, answer.model.label_spec
        # the simulated history ends at the current hour: the answer is about now
        assert "stale_data" not in [w.code for w in answer.warnings], answer.warnings

    served: dict[str, Any] = {}
    from training.cli import quickstart as quickstart_cli

    monkeypatch.setattr(
        quickstart_cli, "run_server", lambda *args, **kw: served.update(args=args, kw=kw) or 0
    )
    again = runner.invoke(app, ["quickstart", "--home", str(tmp_path), "--only", "promote", "--only", "serve"])
    assert again.exit_code == 0, again.output
    assert "[1/2] promote" in again.output and "[2/2] serve" in again.output
    assert served["args"][:2] == (["flushrisk-btc"], (tmp_path / "bentoml").resolve())
    assert "curl" not in again.output  # printed only once the server is ready
    served["kw"]["on_ready"]()


@pytest.mark.parametrize(
    "garbage", [b"\xff\xfe\x00garbage\x81" * 20, b"{{{: [unclosed\n  - : :", b"- a list\n- not a map\n"]
)
def test_a_garbled_model_yaml_is_refused_in_one_line(
    bento_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, garbage: bytes
) -> None:
    """Issue 22: model.yaml replaced by garbage ended `flushrisk serve` with a 144-line
    traceback (UnicodeDecodeError), not its one-line refusal."""
    import shutil

    home = tmp_path / "bentoml"
    shutil.copytree(bento_home, home)
    records = [p for p in (home / "models").rglob("model.yaml") if not p.is_symlink()]
    assert records
    for record in records:
        record.write_bytes(garbage)
    monkeypatch.setattr(serve_cli, "_exec_server", lambda *a: pytest.fail("must not start"))
    result = runner.invoke(app, ["serve", "--bentoml-home", str(home)])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "model.yaml" in result.output and "flushrisk promote" in result.output, result.output
    assert len(lines) <= 3, result.output  # the refusal, wrapped by the terminal at most
