"""Schemathesis over every endpoint with generated JSON bodies: no answer is a server error.

The cases are sent through the session's TestClient (the app is built once per process);
schemathesis's own ASGI transport would run the app's lifespan again for every call.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings


def _api_schema() -> Any:
    """The service's own OpenAPI document (no model needed to build it), plus GET /model."""
    from serving.service import FlushRiskService

    spec = FlushRiskService.openapi_spec.asdict()
    # GET /model is a plain Starlette route mounted beside the BentoML APIs; BentoML's
    # OpenAPI document does not list it, so it is added here to be fuzzed too.
    spec["paths"]["/model"] = {
        "get": {
            "operationId": "model_card",
            "responses": {
                "200": {
                    "description": "the model card",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    # The bodies are pydantic 2 JSON Schemas (numeric exclusiveMinimum, {"type": "null"}):
    # OpenAPI 3.1 semantics, although BentoML labels the document 3.0.
    spec["openapi"] = "3.1.0"
    return schemathesis.openapi.from_dict(spec)


schema = _api_schema()


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case: Any, client: Any) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    request: dict[str, Any] = {
        "headers": {**(kwargs.get("headers") or {})},
        "params": kwargs.get("params"),
    }
    for field in ("json", "data", "content"):
        if kwargs.get(field) is not None:
            request["json" if field == "json" else "content"] = kwargs[field]
    response = client.request(kwargs["method"], kwargs["url"], **request)
    assert response.status_code < 500, (
        f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}\n"
        f"body: {str(getattr(case, 'body', None))[:500]}"
    )
    if response.status_code in (400, 401, 413, 415):
        assert "error" in response.json(), response.text[:300]
