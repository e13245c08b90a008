"""The HTTP API through BentoML's ASGI app (built once per process): answers, 4xx, never 500."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features import FEATURES
from serving.schemas import MAX_BARS, MAX_BATCH
from tests.serving.conftest import API_KEY, SYMBOL, bars_payload


@pytest.fixture(scope="module")
def bars_body(window: pd.DataFrame) -> dict[str, Any]:
    return {"symbol": SYMBOL, "bars": bars_payload(window)}


@pytest.fixture(scope="module")
def features_body(feature_matrix: pd.DataFrame) -> dict[str, Any]:
    row = feature_matrix.iloc[-1]
    return {
        "symbol": SYMBOL,
        "features": {k: (None if np.isnan(v) else float(v)) for k, v in row.items()},
    }


def post_raw(client: Any, path: str, text: str, **headers: str) -> Any:
    return client.post(path, content=text, headers={"Content-Type": "application/json", **headers})


def test_predict_from_bars_and_from_features_agree(
    client: Any, bars_body: dict[str, Any], features_body: dict[str, Any], window: pd.DataFrame
) -> None:
    a = client.post("/predict", json=bars_body)
    b = client.post("/predict", json=features_body)
    assert a.status_code == 200, a.text
    assert b.status_code == 200, b.text
    ja, jb = a.json(), b.json()
    assert ja["probability"] == pytest.approx(jb["probability"], rel=1e-9)
    assert 0 < ja["probability"] < 1
    assert ja["risk_level"] in {"low", "elevated", "high", "extreme"}
    assert pd.Timestamp(ja["as_of"]) == window.index[-1]
    # the hour the probability is about: from the scored bar's close, one horizon long (UTC)
    hour = pd.Timedelta(hours=1)
    assert pd.Timestamp(ja["window"]["from"]) == window.index[-1] + hour
    assert pd.Timestamp(ja["window"]["until"]) == window.index[-1] + 2 * hour
    assert len(ja["drivers"]) == 5
    assert {"feature", "text", "value", "unit", "raw_value", "contribution"} <= set(ja["drivers"][0])
    assert "contribution_log_odds" in ja["drivers"][0]
    assert ja["model"]["name"] == "flushrisk-BTC"  # the MLflow registered model
    assert ja["model"]["mlflow_run_id"] == "0" * 31 + "1"
    assert ja["model"]["label_spec"]["kind"] == "liquidation"
    # Simulated bars end long before today: the answer says so.
    assert "stale_data" in [w["code"] for w in ja["warnings"]]


def test_batch_answers_each_item_in_order(
    client: Any, bars_body: dict[str, Any], feature_matrix: pd.DataFrame
) -> None:
    items = [
        {
            "symbol": SYMBOL,
            "features": {k: (None if np.isnan(v) else float(v)) for k, v in row.items()},
        }
        for _, row in feature_matrix.iloc[[-1, -300, -600, -900]].iterrows()
    ]
    items.insert(1, bars_body)  # the bars of the same last hour as items[0]
    singles = [client.post("/predict", json=item).json()["probability"] for item in items]
    assert len(set(singles)) > 2, "rows chosen to differ"
    response = client.post("/predict_batch", json={"items": items})
    assert response.status_code == 200, response.text
    batch = [r["probability"] for r in response.json()["results"]]
    assert batch == pytest.approx(singles, rel=1e-12)
    assert batch[0] == pytest.approx(batch[1], rel=1e-9)


def test_model_card(client: Any, bento_tag: str) -> None:
    response = client.get("/model")
    assert response.status_code == 200
    card = response.json()
    assert card["features"] == list(FEATURES)
    assert card["model"]["bentoml_tag"] == bento_tag
    assert card["model"]["version"] == "3"  # one version: MLflow's
    assert card["symbol"] == "BTC"
    assert card["min_bars"] == 720 and card["max_bars"] == MAX_BARS
    assert set(card["thresholds"]) == {"elevated", "high", "extreme"}
    assert card["metrics"]["pr_auc"] == 0.5
    assert card["data_end"] is not None


def test_probes_and_metrics(client: Any, features_body: dict[str, Any]) -> None:
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200

    def observed() -> float:
        text = client.get("/metrics").text
        match = re.search(
            r'^flushrisk_predicted_probability_count\{[^}]*symbol="BTC"[^}]*\} (\S+)$',
            text,
            re.MULTILINE,
        )
        return float(match.group(1)) if match else 0.0

    before = observed()
    assert client.post("/predict", json=features_body).status_code == 200
    assert observed() == before + 1
    assert "flushrisk_predicted_probability_bucket" in client.get("/metrics").text


@pytest.mark.parametrize("path", ["/predict", "/predict_batch", "/model"])
@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_api_key_is_required_when_set(client: Any, path: str, key: str | None) -> None:
    headers = {"X-API-Key": key} if key else {}
    from starlette.testclient import TestClient

    anonymous = TestClient(client.app, headers=headers)  # no `with`: the lifespan ran once
    response = anonymous.get(path) if path == "/model" else anonymous.post(path, json={})
    assert response.status_code == 401
    assert "API key" in response.json()["error"]
    assert anonymous.get("/livez").status_code == 200
    assert anonymous.get("/metrics").status_code == 401  # it carries the radar's probabilities


def test_bearer_token_is_accepted(client: Any, features_body: dict[str, Any]) -> None:
    response = client.post(
        "/predict",
        json=features_body,
        headers={"X-API-Key": "", "Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 401  # an empty X-API-Key is a wrong key, not a missing one
    del client.headers["X-API-Key"]
    try:
        response = client.post(
            "/predict", json=features_body, headers={"Authorization": f"Bearer {API_KEY}"}
        )
        assert response.status_code == 200
    finally:
        client.headers["X-API-Key"] = API_KEY


def _bad_bodies(bars: dict[str, Any], feats: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(id, raw JSON body, text the error must contain: the field's name)."""
    few = {"symbol": SYMBOL, "bars": bars["bars"][-3:]}

    def with_bar(index: int, **change: Any) -> str:
        body = copy.deepcopy(few)
        body["bars"][index].update(change)
        return json.dumps(body)

    text = json.dumps(few)
    first_close = json.dumps(few["bars"][0]["close"])
    unordered = copy.deepcopy(few)
    unordered["bars"][1], unordered["bars"][2] = unordered["bars"][2], unordered["bars"][1]
    duplicate = copy.deepcopy(few)
    duplicate["bars"][2]["time"] = duplicate["bars"][1]["time"]
    too_many = {"symbol": SYMBOL, "bars": [few["bars"][0]] * (MAX_BARS + 1)}
    feature_name = FEATURES[0]
    return [
        ("nan-in-bar", text.replace(first_close, "NaN", 1), "bars.0.close"),
        ("infinity-in-bar", text.replace(first_close, "Infinity", 1), "bars.0.close"),
        ("overflow-to-inf", text.replace(first_close, "1e999", 1), "bars.0.close"),
        (
            "nan-feature",
            json.dumps({"symbol": SYMBOL, "features": {feature_name: 1.0}}).replace("1.0", "NaN"),
            f"features.{feature_name}",
        ),
        ("unknown-top-field", json.dumps({**few, "extra": 1}), "extra"),
        ("unknown-bar-field", with_bar(1, volume=5.0), "bars.1.volume"),
        (
            "unknown-feature",
            json.dumps({"symbol": SYMBOL, "features": {"not_a_feature": 1.0}}),
            "not_a_feature",
        ),
        ("string-price", with_bar(0, close="high"), "bars.0.close"),
        ("list-symbol", json.dumps({**few, "symbol": ["BTC"]}), "symbol"),
        ("bad-time", with_bar(2, time="yesterday"), "bars.2.time"),
        ("far-future-time", with_bar(2, time="9999-12-31T23:00:00Z"), "bars.2.time"),
        ("as-of-overflow", json.dumps({**feats, "as_of": "9999-12-31T23:59:59-10:00"}), "as_of"),
        ("as-of-with-bars", json.dumps({**few, "as_of": "2025-01-01T00:00:00Z"}), "as_of"),
        ("negative-price", with_bar(0, low=-1.0), "bars.0.low"),
        ("high-below-low", with_bar(1, high=1.0, low=2.0), "bars.1"),
        ("funding-in-percent", with_bar(0, funding_rate=1.5), "bars.0.funding_rate"),
        ("ratio-above-one", with_bar(0, taker_buy_ratio=1.5), "bars.0.taker_buy_ratio"),
        ("unordered-bars", json.dumps(unordered), "bars.2.time"),
        ("duplicate-bars", json.dumps(duplicate), "bars.2.time"),
        ("too-many-bars", json.dumps(too_many), "bars"),
        ("one-bar", json.dumps({"symbol": SYMBOL, "bars": few["bars"][:1]}), "bars"),
        ("short-window", text, "720 bars"),
        ("both-inputs", json.dumps({**few, "features": {}}), "exactly one"),
        ("no-input", json.dumps({"symbol": SYMBOL}), "exactly one"),
        ("no-symbol", json.dumps({"bars": few["bars"]}), "symbol"),
        ("other-symbol", json.dumps({**feats, "symbol": "ETH"}), "symbol"),
        ("invalid-json", '{"symbol": "BTC", "bars": [', "JSON"),
        ("array-body", "[1, 2, 3]", "object"),
        ("empty-body", "", "symbol"),
    ]


def test_bad_input_gets_400_naming_the_field(
    client: Any, bars_body: dict[str, Any], features_body: dict[str, Any]
) -> None:
    failures = []
    for case, body, named in _bad_bodies(bars_body, features_body):
        response = post_raw(client, "/predict", body)
        error = response.json().get("error", "") if response.status_code == 400 else ""
        if response.status_code != 400 or named not in error:
            failures.append(f"{case}: {response.status_code} {response.text[:300]}")
    assert not failures, "\n".join(failures)


def test_batch_errors_name_the_item_and_the_limit(
    client: Any, bars_body: dict[str, Any], features_body: dict[str, Any]
) -> None:
    bad = copy.deepcopy(features_body)
    bad["features"][FEATURES[1]] = "x"
    response = client.post("/predict_batch", json={"items": [features_body, bad]})
    assert response.status_code == 400
    assert f"items.1.features.{FEATURES[1]}" in response.json()["error"]

    short = {"symbol": SYMBOL, "bars": bars_body["bars"][-5:]}
    response = client.post("/predict_batch", json={"items": [features_body, short]})
    assert response.status_code == 400
    assert response.json()["error"].startswith("items.1.bars:")

    response = client.post("/predict_batch", json={"items": [features_body] * (MAX_BATCH + 1)})
    assert response.status_code == 400 and "items" in response.json()["error"]
    assert client.post("/predict_batch", json={"items": []}).status_code == 400


@pytest.mark.parametrize(
    "content_type", ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded"]
)
def test_non_json_bodies_get_415(
    client: Any, features_body: dict[str, Any], content_type: str
) -> None:
    response = client.post(
        "/predict", content=json.dumps(features_body), headers={"Content-Type": content_type}
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]


def test_oversized_bodies_get_413_before_they_are_read() -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from serving.service import RequestGuard

    async def echo(request: Any) -> JSONResponse:
        return JSONResponse({"size": len(await request.body())})

    app = RequestGuard(
        Starlette(routes=[Route("/predict", echo, methods=["POST"])]), api_key="", max_body=1000
    )
    with TestClient(app) as test_client:
        assert test_client.post("/predict", content=b"x" * 1000).json() == {"size": 1000}
        declared = test_client.post("/predict", content=b"x" * 1001)
        assert declared.status_code == 413 and "1000 bytes" in declared.json()["error"]
        streamed = test_client.post("/predict", content=iter([b"x" * 600, b"x" * 600]))
        assert streamed.status_code == 413


def test_metrics_are_labelled_by_route_and_unknown_paths_share_one_label(client: Any) -> None:
    """Random paths must not add label sets: /metrics and memory stay bounded."""
    import uuid

    def series() -> set[str]:
        text = client.get("/metrics").text
        return {line.split(" ")[0] for line in text.splitlines() if line.startswith("bentoml_")}

    client.get("/nothing-here")
    client.get("/model")
    client.get("/model", params={"symbol": "NOT-SERVED"})
    before = series()
    for _ in range(300):
        client.get(f"/{uuid.uuid4().hex}/{uuid.uuid4().hex}")
    client.get("/model", params={"symbol": uuid.uuid4().hex})
    after = series()
    assert after == before, sorted(after - before)[:5]
    labels = " ".join(after)
    assert 'endpoint="other"' in labels and 'endpoint="/model"' in labels
    assert "nothing-here" not in labels


def test_access_log_is_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """BentoML's per-request log line is off by default (about 5 % of a small /predict's
    server CPU; /metrics counts requests without it) and FLUSHRISK_ACCESS_LOG turns it on."""
    from features.settings import get_settings
    from serving.service import FlushRiskService

    monkeypatch.delenv("FLUSHRISK_ACCESS_LOG", raising=False)
    assert get_settings().access_log is False
    assert FlushRiskService.config["logging"] == {"access": {"enabled": False}}
    monkeypatch.setenv("FLUSHRISK_ACCESS_LOG", "true")
    assert get_settings().access_log is True


@pytest.mark.parametrize(
    ("method", "path", "status", "said"),
    [
        ("GET", "/nothing-here", 404, "GET /nothing-here: no such route"),
        ("GET", "/risk/BTC/extra", 404, "GET /risk/BTC/extra: no such route"),
        ("DELETE", "/livez", 405, "DELETE /livez: method not allowed"),
    ],
)
def test_unknown_routes_and_methods_answer_in_the_apis_error_shape(
    client, method: str, path: str, status: int, said: str
) -> None:
    """A client that mistypes a route gets the API's JSON error, not BentoML's plain text."""
    r = client.request(method, path)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"error": said}
    assert r.headers["x-content-type-options"] == "nosniff"
