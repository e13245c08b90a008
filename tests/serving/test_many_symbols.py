"""One service, every symbol: /predict picks the model by symbol; new champions without restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from serving.predictor import Predictor, RequestError
from serving.schemas import PredictRequest
from tests.serving.conftest import train_tiny_model


def _features_body(row: pd.Series, symbol: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "features": {k: (None if np.isnan(v) else float(v)) for k, v in row.items()},
    }


@pytest.fixture
def sol_champion(client: Any, feature_matrix: pd.DataFrame) -> Iterator[str]:
    """A SOL champion promoted while the service runs; the index is restored afterwards."""
    from serving.champions import index_path
    from serving.loader import bentoml_home
    from training.registry import export_bentoml

    index = index_path(bentoml_home())
    before = index.read_text()
    model = train_tiny_model(feature_matrix, symbol="SOL", seed=5)
    tag = export_bentoml(model, "SOL", 1, "5" * 32)
    try:
        yield tag
    finally:
        index.write_text(before)
        client.post("/admin/reload")


def test_a_new_champion_is_served_without_a_restart(
    client: Any, sol_champion: str, feature_matrix: pd.DataFrame
) -> None:
    import time

    row = feature_matrix.iloc[-1]
    # promote rewrote the champion index: the service notices by itself (no restart)
    deadline = time.monotonic() + 60
    while client.get("/models").json()["symbols"] != ["BTC", "SOL"]:
        assert time.monotonic() < deadline, "the new champion was not picked up"
        time.sleep(0.5)
    reloaded = client.post("/admin/reload")  # the explicit way does the same
    assert reloaded.status_code == 200 and reloaded.json()["symbols"] == ["BTC", "SOL"]
    refused = client.post("/predict", json=_features_body(row, "DOGE"))
    assert refused.status_code == 400 and "BTC, SOL" in refused.json()["error"]
    listing = client.get("/models").json()
    assert listing["symbols"] == ["BTC", "SOL"]
    assert {m["bentoml_tag"] for m in listing["models"]} >= {sol_champion}

    btc = client.post("/predict", json=_features_body(row, "BTC")).json()
    sol = client.post("/predict", json=_features_body(row, "sol")).json()
    assert sol["model"]["bentoml_tag"] == sol_champion
    assert btc["model"]["bentoml_tag"] != sol_champion
    assert sol["probability"] != btc["probability"]  # another model answered
    batch = client.post(
        "/predict_batch",
        json={"items": [_features_body(row, "SOL"), _features_body(row, "BTC")]},
    ).json()["results"]
    assert [r["probability"] for r in batch] == pytest.approx(
        [sol["probability"], btc["probability"]]
    )
    cards = client.get("/model")
    assert cards.status_code == 400 and "symbol" in cards.json()["error"]
    card = client.get("/model", params={"symbol": "SOL"}).json()
    assert card["symbols"] == ["SOL"] and card["model"]["bentoml_tag"] == sol_champion


def test_reload_needs_the_api_key(client: Any) -> None:
    from starlette.testclient import TestClient

    anonymous = TestClient(client.app)
    assert anonymous.post("/admin/reload").status_code == 401
    assert anonymous.get("/models").status_code == 401


def test_a_pooled_model_serves_each_of_its_symbols(feature_matrix: pd.DataFrame) -> None:
    model = train_tiny_model(feature_matrix)
    model.metadata["symbols"] = ["BTC", "ETH", "SOL"]
    predictor = Predictor(model, "flushrisk-pooled", "1")
    row = feature_matrix.iloc[-1]
    for symbol in ("BTC", "eth", "SOL"):
        request = PredictRequest.model_validate(_features_body(row, symbol))
        assert 0 < predictor.predict(request).probability < 1
    with pytest.raises(RequestError, match="BTC, ETH, SOL"):
        predictor.predict(PredictRequest.model_validate(_features_body(row, "DOGE")))
    assert predictor.card().symbols == ["BTC", "ETH", "SOL"]


def test_the_index_keeps_projects_apart(tmp_path: Path) -> None:
    from serving.champions import ChampionRecord, read_champions, record_champion

    for project, version in (("sqlite:///a/mlflow.db", "1"), ("sqlite:///b/mlflow.db", "7")):
        record_champion(
            tmp_path,
            ChampionRecord(
                "BTC", f"flushrisk-btc:{version}", "flushrisk-BTC", version, "r", project
            ),
        )
    assert read_champions(tmp_path, "sqlite:///a/mlflow.db")["BTC"].mlflow_version == "1"
    assert read_champions(tmp_path, "sqlite:///b/mlflow.db")["BTC"].mlflow_version == "7"
    assert read_champions(tmp_path, "sqlite:///c/mlflow.db") == {}
