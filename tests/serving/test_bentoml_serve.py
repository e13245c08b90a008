"""One real server: `flushrisk serve` (-> `bentoml serve`) on a free loopback port.

Called with BentoML's own client and with `flushrisk predict`, as a user would. The server runs
without an API key (the ASGI tests cover the key); it is stopped by its process group id.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.serving.conftest import SYMBOL, bars_payload
from tests.serving.server_process import ServerFailed, free_port, running_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def server(bento_tag: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from bentoml._internal.configuration.containers import BentoMLContainer

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FLUSHRISK_API_KEY", "PROMETHEUS_MULTIPROC_DIR")
    }
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [
        sys.executable,
        "-c",
        "from training.cli import main; main()",
        "serve",
        "--port",
        str(free_port()),
        "--host",
        "127.0.0.1",
        "--bentoml-home",
        BentoMLContainer.bentoml_home.get(),
    ]
    try:
        with running_server(command, env, log, START_TIMEOUT) as (url, _, _):
            yield url
    except ServerFailed as err:
        pytest.fail(str(err))


def test_bentoml_client_predicts_from_bars(
    server: str, window: pd.DataFrame, predictor: Any
) -> None:
    import bentoml

    bars = bars_payload(window)
    with bentoml.SyncHTTPClient(server, timeout=30) as client:
        answer = client.predict(symbol=SYMBOL, bars=bars)
        batch = client.predict_batch(items=[{"symbol": SYMBOL, "bars": bars}])
    answer = answer if isinstance(answer, dict) else answer.model_dump(mode="json")
    from serving.schemas import PredictRequest

    expected = predictor.predict(PredictRequest.model_validate({"symbol": SYMBOL, "bars": bars}))
    assert answer["probability"] == pytest.approx(expected.probability, rel=1e-9)
    assert answer["risk_level"] == expected.risk_level
    assert pd.Timestamp(answer["as_of"]) == window.index[-1]
    results = batch["results"] if isinstance(batch, dict) else batch.model_dump()["results"]
    assert results[0]["probability"] == pytest.approx(answer["probability"])


def test_real_server_answers_bad_input_with_400_and_serves_probes(server: str) -> None:
    response = httpx.post(
        f"{server}/predict",
        content='{"symbol": "BTC", "features": {"x": NaN}}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("features.x")
    assert httpx.get(f"{server}/livez").status_code == 200
    card = httpx.get(f"{server}/model").json()
    assert card["model"]["name"] == "flushrisk-BTC" and len(card["features"]) > 0
    metrics = httpx.get(f"{server}/metrics").text
    assert "flushrisk_predicted_probability_bucket" in metrics


def test_flushrisk_predict_cli_against_the_server(
    server: str, window: pd.DataFrame, tmp_path: Path
) -> None:
    from training.cli import app

    path = tmp_path / "bars.parquet"
    window.to_parquet(path)
    result = CliRunner().invoke(app, ["predict", "--url", server, "--bars", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert '"probability"' in result.output and '"risk_level"' in result.output

    short = tmp_path / "short.parquet"
    window.iloc[-48:].to_parquet(short)
    result = CliRunner().invoke(app, ["predict", "--url", server, "--bars", str(short)])
    assert result.exit_code == 2
    assert "400" in result.output and "720 bars" in result.output
