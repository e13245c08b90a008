"""RequestGuard: the API key as a header, a Bearer token or the pages' cookie."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

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
        ({}, {"flushrisk_key": KEY}, 200),
        ({}, {"flushrisk_key": "wrong"}, 401),
        ({}, {"other": KEY}, 401),
        ({"X-API-Key": "wrong"}, {"flushrisk_key": KEY}, 401),  # the header decides
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
            assert "flushrisk_key cookie" in response.json()["error"]
    assert client.get("/livez").status_code == 200  # probes stay open
