"""/livez and the radar's polled GET routes are answered ahead of BentoML's tracing, timeout and
context layers (serving.hot_path), with the same answers, headers and API key rule as the full
stack, still counted on /metrics; anything it does not answer goes down the full stack."""

from __future__ import annotations

import json
import time
import warnings
from typing import Any

import pytest

from serving.hot_path import HotPath
from tests.serving.conftest import API_KEY
from tests.serving.test_radar_api import _fresh, api, radar_dir  # noqa: F401 - fixtures

with warnings.catch_warnings():  # starlette asks for httpx2, which is not needed here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

KEY = {"X-API-Key": API_KEY}


def _chain(app: Any) -> list[Any]:
    """The service's middleware, outermost first (each layer's ``app`` is the next one)."""
    layers, layer = [], app.middleware_stack
    while layer is not None and len(layers) < 50:
        layers.append(layer)
        layer = getattr(layer, "app", None)
    return layers


def _below_hot_path(asgi_app: Any) -> Any:
    return next(layer for layer in _chain(asgi_app) if isinstance(layer, HotPath)).app


def test_the_hot_path_sits_behind_the_metrics_and_ahead_of_tracing(api, asgi_app):  # noqa: F811
    api.get("/livez")
    names = [type(layer).__name__ for layer in _chain(asgi_app)]
    hot = names.index("HotPath")
    assert "RunnerTrafficMetricsMiddleware" in names[:hot]
    for skipped in ("OpenTelemetryMiddleware", "TimeoutMiddleware", "RequestGuard"):
        assert skipped in names[hot:], skipped


def _same(ours: Any, full: Any) -> None:
    assert ours.status_code == full.status_code, (ours.request.url, ours.text[:200])
    drop = {"date", "content-length"}  # the length moves with the data age (a few digits)
    assert {k: v for k, v in ours.headers.items() if k not in drop} == {
        k: v for k, v in full.headers.items() if k not in drop
    }, ours.request.url
    if ours.headers.get("content-type") == "application/json" and ours.content:
        a, b = json.loads(ours.content), json.loads(full.content)
        for body in (a, b):  # measured at each request
            body.pop("data_age_seconds", None)
            body.pop("as_of", None) if "symbols" in body else None
            for row in body.get("symbols", []):
                row.pop("data_age_seconds")
        assert a == b, ours.request.url
    else:
        assert ours.content == full.content


@pytest.mark.parametrize("headers", [KEY, {**KEY, "Accept-Encoding": "gzip"}, {}, {"X-API-Key": "wrong"}])
def test_hot_routes_answer_as_the_full_stack_does(api, asgi_app, radar_dir, headers):  # noqa: F811
    _fresh(radar_dir, written_at=time.time(), speed=1.0)
    full = TestClient(_below_hot_path(asgi_app), headers=headers)
    ours = TestClient(asgi_app, headers=headers)
    paths = ["/livez", "/healthz", "/risk", "/risk/ETH", "/risk/eth?window=7d", "/risk/NOPE",
             "/risk/BTC?window=1y", "/scores/SOL", "/scores/NOPE", "/scores/SOL?start=bad"]
    for path in paths:
        _same(ours.get(path), full.get(path))
    etag = ours.get("/risk", headers=KEY).headers["etag"]
    cached = ours.get("/risk", headers={"If-None-Match": etag})
    _same(cached, full.get("/risk", headers={"If-None-Match": etag}))
    if headers.get("X-API-Key") == API_KEY:
        assert cached.status_code == 304 and cached.content == b""
    else:  # without the key: the request guard's 401, whichever path it took
        assert cached.status_code == 401 and "API key" in cached.json()["error"]
    assert ours.get("/livez").headers["x-content-type-options"] == "nosniff"


def test_the_metrics_still_count_the_hot_routes(api):  # noqa: F811
    def risk_requests() -> float:
        lines = [x for x in api.get("/metrics").text.splitlines()
                 if x.startswith("bentoml_service_request_total{") and 'endpoint="/risk"' in x
                 and 'http_response_code="200"' in x]
        return sum(float(x.split()[-1]) for x in lines)

    before = risk_requests()
    for _ in range(3):
        api.get("/risk")
    assert risk_requests() == before + 3


class _FullStack:
    """Stands for the layers behind the hot path: records what reached it."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen.append(f"{scope['method']} {scope['path']}")
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def test_what_the_hot_path_does_not_answer_goes_down_the_full_stack(monkeypatch):
    from serving import radar_api

    async def broken(_: Any) -> Any:
        raise RuntimeError("the snapshot vanished")

    monkeypatch.setattr("serving.hot_path._BY_PREFIX", {"risk": broken, "scores": broken})
    monkeypatch.setattr(radar_api, "risk", broken)
    full = _FullStack()
    client = TestClient(HotPath(full, api_key="k"), headers={"X-API-Key": "k"})
    asked = [("POST", "/risk", {}), ("HEAD", "/risk", {}), ("GET", "/risk", {"X-API-Key": "no"}),
             ("GET", "/risk/a/b", {}), ("GET", "/risk/", {}), ("GET", "/model", {}),
             ("GET", "/risk/%01", {})]
    for method, path, headers in asked:
        assert client.request(method, path, headers=headers).status_code == 299, path
    assert client.get("/scores/BTC").status_code == 299  # a failing handler: the full stack
    assert client.get("/livez").status_code == 200 and full.seen[-1] == "GET /scores/BTC"
    dead = TestClient(HotPath(full, liveness=False, api_key="k"))
    assert dead.get("/livez").status_code == 299  # a service with __is_alive__ is asked
