"""GET /docs.json documents every route the service answers, under the project's own name.

A client generator or a reader of the HTTP reference (built from this document) must find
/risk, /risk/{symbol}, /scores/{symbol}, the pages and the probes beside /predict, each with a
schema that the real answers match.
"""

from __future__ import annotations

import json
import threading
import time
from importlib import metadata
from typing import Any

import jsonschema_rs
import pytest
from starlette.routing import Mount, Route

from features.sources.live.replay import ReplayPlan, ReplaySource
from serving.radar import Radar, RadarClock, run_replay, snapshot_path
from serving.service import API_PATHS, routes_app

PROBES = {"/livez": "get", "/readyz": "get", "/metrics": "get", "/docs.json": "get"}


def served_routes() -> set[tuple[str, str]]:
    """``(path, method)`` of every route the app serves: BentoML's API, the web routes, probes."""
    routes = {(path, "post") for path in API_PATHS}
    routes |= {(path, method) for path, method in PROBES.items()}
    for route in routes_app.routes:
        if isinstance(route, Mount):  # the pages' static files (scripts, styles): not an API
            continue
        assert isinstance(route, Route), route
        routes |= {(route.path, m.lower()) for m in route.methods or () if m != "HEAD"}
    return routes


def test_every_served_route_is_documented(client: Any) -> None:
    doc = client.get("/docs.json").json()
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    missing = sorted(served_routes() - documented)
    assert not missing, f"routes the service answers but /docs.json does not list: {missing}"
    for path in ("/risk", "/risk/{symbol}", "/scores/{symbol}", "/predict"):
        responses = doc["paths"][path]["get" if path != "/predict" else "post"]["responses"]
        assert "schema" in responses["200"]["content"]["application/json"], path


def test_the_document_carries_the_projects_title_version_and_description(client: Any) -> None:
    info = client.get("/docs.json").json()["info"]
    assert info["title"] == "FlushRisk"
    assert info["version"] == metadata.version("flushrisk") != "None"
    assert "long squeeze" in info["description"] and "/risk" in info["description"]


@pytest.fixture(scope="module")
def radar_dir(tmp_path_factory, predictor):
    """A short replay of one simulated symbol: the snapshot, scores and store the API reads."""
    root = tmp_path_factory.mktemp("docs-radar")
    source = ReplaySource(ReplayPlan(symbols=["BTC"], bar="1h", warm_days=31, days=0.5, seed=3))
    radar = Radar(root, "1h", {"BTC": predictor}, clock=RadarClock())
    run_replay(radar, source, speed=0, stop=threading.Event(), max_bars=6)
    radar.close(timeout=60)
    path = snapshot_path(root)
    path.write_text(json.dumps({**json.loads(path.read_text()), "written_at": time.time()}))
    return root


@pytest.mark.parametrize(
    ("url", "path", "schema"),
    [
        ("/risk", "/risk", "RiskTable"),
        ("/risk/BTC?window=7d", "/risk/{symbol}", "RiskSymbol"),
        ("/scores/BTC", "/scores/{symbol}", "Scores"),
    ],
)
def test_radar_answers_match_their_documented_schema(
    client: Any, radar_dir, monkeypatch, url: str, path: str, schema: str
) -> None:
    monkeypatch.setenv("FLUSHRISK_DATA_DIR", str(radar_dir))
    doc = client.get("/docs.json").json()
    declared = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    assert declared["schema"] == {"$ref": f"#/components/schemas/{schema}"}
    validator = jsonschema_rs.Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]}
    )
    response = client.get(url)
    assert response.status_code == 200, response.text[:300]
    errors = [str(e) for e in validator.iter_errors(response.json())]
    assert not errors, f"{url} does not match {schema}: {errors[:3]}"


def test_a_wrong_answer_fails_the_documented_schema(client: Any) -> None:
    """The check above can fail: a row without its staleness flag is refused."""
    doc = client.get("/docs.json").json()
    validator = jsonschema_rs.Draft202012Validator(
        {"$ref": "#/components/schemas/RiskTable", "components": doc["components"]}
    )
    row = {"symbol": "BTC", "bar": "1h", "probability": 0.1, "risk_level": "low",
           "as_of": "2025-01-01T00:00:00+00:00", "warnings": []}
    assert validator.is_valid({"as_of": "2025-01-01T00:00:00+00:00", "symbols": [{**row, "stale": False}]})
    assert not validator.is_valid({"as_of": "2025-01-01T00:00:00+00:00", "symbols": [row]})
