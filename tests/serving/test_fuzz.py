"""Schemathesis over every endpoint of the SERVED OpenAPI document: generated bodies, no 5xx,
and every answer conforms to the document (status codes, 400 bodies, nullable fields).

The cases are sent through the session's TestClient (the app is built once per process);
schemathesis's own ASGI transport would run the app's lifespan again for every call.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from serving.openapi import openapi_document
from serving.service import FlushRiskService

schema = schemathesis.openapi.from_dict(openapi_document(FlushRiskService))


def test_the_served_document_is_openapi_3_1_and_lists_every_route(client: Any) -> None:
    served = client.get("/docs.json").json()
    assert served == openapi_document(FlushRiskService)
    assert served["openapi"].startswith("3.1")
    assert {"/predict", "/predict_batch", "/model", "/models", "/admin/reload"} <= set(
        served["paths"]
    )
    error = served["components"]["schemas"]["Error"]["properties"]
    assert error["detail"]["type"] == "array"  # what a 400 really carries


def test_requests_the_document_allows_are_the_ones_the_api_accepts(client: Any) -> None:
    """{"symbol", "as_of"} is refused by both; bars: null is refused by both."""
    import jsonschema_rs

    schemas = openapi_document(FlushRiskService)["components"]["schemas"]
    body_schema = {**schemas["PredictRequestIODescriptor"], "components": {"schemas": schemas}}
    validator = jsonschema_rs.Draft202012Validator(body_schema)
    assert validator.is_valid({"symbol": "BTC", "features": {"funding_rate": 0.0001}})
    for body in (
        {"symbol": "BTC", "as_of": "2025-01-01T00:00:00Z"},
        {"symbol": "BTC", "bars": None},
        {"symbol": "BTC", "features": None},
    ):
        assert not validator.is_valid({**body}), body
        assert client.post("/predict", json=body).status_code == 400, body


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_answers_match_the_document(case: Any, client: Any) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    request: dict[str, Any] = {
        "headers": {**(kwargs.get("headers") or {})},
        "params": kwargs.get("params"),
    }
    for field in ("json", "data", "content"):
        if kwargs.get(field) is not None:
            request["json" if field == "json" else "content"] = kwargs[field]
    if case.path == "/admin/reload":
        return  # reloading mid-fuzz would only slow it down; tests/serving/test_many_symbols.py
    response = client.request(kwargs["method"], kwargs["url"], **request)
    assert response.status_code < 500, (
        f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}\n"
        f"body: {str(getattr(case, 'body', None))[:500]}"
    )
    if response.status_code in (400, 401, 413, 415):
        assert "error" in response.json(), response.text[:300]
    if case.path in ("/predict", "/predict_batch", "/model"):
        # The answer must match the document: declared status code, content type, body
        # schema (200 and 400 alike). Whether a schema-valid body is accepted is not checked:
        # the API has rules JSON Schema cannot say (30 days of bars in time order).
        case.validate_response(
            response,
            checks=[status_code_conformance, content_type_conformance, response_schema_conformance],
        )
