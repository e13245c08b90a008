"""RequestGuard: the API key as a header, a Bearer token or the pages' login session."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from serving.security import session_cookie
from serving.service import RequestGuard

KEY = "k3y-for-guard"


async def _data(_: Any) -> JSONResponse:
    return JSONResponse({"ok": True})


@pytest.fixture(scope="module")
def guarded() -> Any:
    routes = [Route("/risk", _data), Route("/model", _data), Route("/livez", _data)]
    return RequestGuard(Starlette(routes=routes), api_key=KEY)


@pytest.mark.parametrize(
    ("headers", "cookies", "status"),
    [
        ({}, {}, 401),
        ({"X-API-Key": KEY}, {}, 200),
        ({"Authorization": f"Bearer {KEY}"}, {}, 200),
        ({}, {"flushrisk_key": session_cookie(KEY.encode()).decode()}, 200),
        ({}, {"flushrisk_key": KEY}, 401),  # the key itself is never a cookie
        ({}, {"flushrisk_key": session_cookie(b"other key").decode()}, 401),
        ({}, {"flushrisk_key": session_cookie(KEY.encode(), now=0).decode()}, 401),  # expired
        ({}, {"flushrisk_key": "wrong"}, 401),
        ({}, {"other": KEY}, 401),
        ({"X-API-Key": "wrong"}, {"flushrisk_key": session_cookie(KEY.encode()).decode()}, 401),
    ],
)
def test_the_key_is_accepted_as_header_bearer_or_cookie(
    guarded: Any, headers: dict[str, str], cookies: dict[str, str], status: int
) -> None:
    client = TestClient(guarded, headers=headers, cookies=cookies)
    for path in ("/risk", "/model"):
        response = client.get(path)
        assert response.status_code == status, (path, response.text)
        if status == 401:
            assert "POST /login" in response.json()["error"]
    assert client.get("/livez").status_code == 200  # probes stay open


ODD_KEY = "k:ey@with spaces/and=signs"


@pytest.fixture(scope="module")
def pages_guarded() -> Any:
    from starlette.responses import HTMLResponse, PlainTextResponse

    async def page(_: Any) -> HTMLResponse:
        return HTMLResponse("<html></html>")

    async def metrics(_: Any) -> PlainTextResponse:
        return PlainTextResponse('flushrisk_probability{symbol="BTC"} 0.06\n')

    routes = [
        Route("/risk", _data),
        Route("/", page),
        Route("/metrics", metrics),
        Route("/livez", _data),
    ]
    return RequestGuard(Starlette(routes=routes), api_key=ODD_KEY, metrics_token="scrape-t0ken")


def test_login_sets_an_httponly_strict_bounded_session_that_opens_the_data(
    pages_guarded: Any,
) -> None:
    """A key with ':', '@', spaces and '=' logs in and stays logged in (issue 22: such a key
    was stored URL-encoded and compared undecoded, so the page asked for it on every load)."""
    from serving.security import SESSION_SECONDS

    client = TestClient(pages_guarded)
    assert client.get("/risk").status_code == 401
    assert client.post("/login", json={"key": "wrong"}).status_code == 401
    assert "flushrisk_key" not in client.cookies
    response = client.post("/login", json={"key": ODD_KEY})
    assert response.status_code == 200, response.text
    header = response.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "samesite", "max-age", "path"} <= flags
    assert "SameSite=Strict" in header and f"Max-Age={SESSION_SECONDS}" in header
    assert "secure" not in flags  # plain http here; over TLS see the next test
    assert ODD_KEY not in header and "k%3Aey" not in header
    assert client.get("/risk").status_code == 200  # the browser sends the cookie back
    assert client.get("/risk").status_code == 200  # ... and again after a "reload"
    assert "Max-Age=0" in client.post("/logout").headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/risk").status_code == 401


@pytest.mark.parametrize(
    ("base", "headers"),
    [("https://testserver", {}), ("http://testserver", {"X-Forwarded-Proto": "https"})],
)
def test_the_session_cookie_is_secure_over_tls(
    pages_guarded: Any, base: str, headers: dict[str, str]
) -> None:
    client = TestClient(pages_guarded, base_url=base, headers=headers)
    header = client.post("/login", json={"key": ODD_KEY}).headers["set-cookie"]
    assert "; Secure" in header


@pytest.mark.parametrize(
    "body", [b"", b"not json", b'{"key": 5}', b'{"nokey": "x"}', b"[]", b'{"key": ""}']
)
def test_a_malformed_login_is_a_400(pages_guarded: Any, body: bytes) -> None:
    response = TestClient(pages_guarded).post("/login", content=body)
    assert response.status_code == 400 and "key" in response.json()["error"]
    assert TestClient(pages_guarded).get("/login").status_code == 405


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "Bearer scrape-t0ken"}, 200),  # what Prometheus sends
        ({"X-API-Key": ODD_KEY}, 200),
        ({"X-API-Key": "scrape-t0ken"}, 200),
    ],
)
def test_metrics_need_the_key_or_the_metrics_token(
    pages_guarded: Any, headers: dict[str, str], status: int
) -> None:
    response = TestClient(pages_guarded, headers=headers).get("/metrics")
    assert response.status_code == status, response.text
    if status == 401:
        assert "flushrisk_probability" not in response.text
        assert "FLUSHRISK_METRICS_TOKEN" in response.json()["error"]


def test_the_metrics_token_opens_nothing_else(pages_guarded: Any) -> None:
    client = TestClient(pages_guarded, headers={"Authorization": "Bearer scrape-t0ken"})
    assert client.get("/risk").status_code == 401


def test_every_answer_is_nosniff_and_pages_carry_a_content_security_policy(
    pages_guarded: Any,
) -> None:
    client = TestClient(pages_guarded)
    for method, path in (("GET", "/risk"), ("GET", "/livez"), ("GET", "/"), ("GET", "/nope"),
                         ("POST", "/login"), ("GET", "/metrics")):
        response = client.request(method, path)
        assert response.headers["x-content-type-options"] == "nosniff", (path, response.status_code)
    policy = client.get("/").headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    assert "content-security-policy" not in client.get("/livez").headers
