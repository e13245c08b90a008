"""Schemathesis over every endpoint of the SERVED OpenAPI document (at least 5,000 cases, valid
and invalid, derandomized): generated bodies, no 5xx,
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


CASES_AT_LEAST = 5000
"""Issue 22: a schemathesis run of at least this many cases on the served document, in CI."""
EXPENSIVE = {"/predict": 800, "/predict_batch": 400}
SKIPPED_PATHS = {"/admin/reload"}  # reloading mid-fuzz would only slow it down (test_many_symbols)


def _send(client: Any, case: Any) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    request: dict[str, Any] = {
        "headers": {**(kwargs.get("headers") or {})},
        "params": kwargs.get("params"),
    }
    for field in ("json", "data", "content"):
        if kwargs.get(field) is not None:
            request["json" if field == "json" else "content"] = kwargs[field]
    return client.request(kwargs["method"], kwargs["url"], **request)


def _check(case: Any, response: Any) -> None:
    """No 5xx; errors say what is wrong; the answer matches the document (status code, content
    type, body schema). Whether a schema-valid body is accepted is not checked: the API has
    rules JSON Schema cannot say (30 days of bars in time order)."""
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}\n"
        f"query: {case.query} body: {str(getattr(case, 'body', None))[:500]}"
    )
    is_json = response.headers.get("content-type", "").startswith("application/json")
    if response.status_code in (400, 401, 404, 413, 415, 503) and is_json:
        assert "error" in response.json(), response.text[:300]
    assert response.headers.get("x-content-type-options") == "nosniff"
    case.validate_response(
        response,
        checks=[status_code_conformance, content_type_conformance, response_schema_conformance],
    )


def _has_input(operation: Any) -> bool:
    return bool(operation.body) or any(True for _ in operation.iter_parameters())


def test_no_server_errors_and_answers_match_the_document(
    client: Any, scored_radar: Any, monkeypatch: Any
) -> None:
    """At least CASES_AT_LEAST generated requests (valid and invalid) over every operation of
    the served document, against the in-process app with a real model and a replayed radar's
    data: no 5xx, every answer true to the document. Derandomized: the same cases every run.

    The prediction bodies (up to 5000 bars, 150 optional features) cost several times more to
    generate than a query: they get a fixed share (EXPENSIVE), and the rest of the budget is
    spread over the other operations, those without input (one possible case) first.
    """
    import time

    from hypothesis import Phase, given
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    monkeypatch.setenv("FLUSHRISK_DATA_DIR", str(scored_radar))
    served = [r.ok() for r in schema.get_all_operations() if r.ok().path not in SKIPPED_PATHS]
    # the prediction operations first, then those without input, then the rest
    operations = sorted(served, key=lambda op: (op.path not in EXPENSIVE, _has_input(op), op.label))
    counts: dict[str, int] = {}
    started = time.perf_counter()
    cpu = time.process_time()

    def fuzz(operation: Any, mode: Any, budget: int) -> None:
        label = f"{operation.label} ({mode.value})"
        counts[label] = 0

        @settings(
            max_examples=max(budget, 1),
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            counts[label] += 1
            _check(case, _send(client, case))

        try:
            run()
        except Unsatisfiable:
            # nothing in this operation can be made invalid (GET /models has no input)
            assert mode == GenerationMode.NEGATIVE, label

    for i, operation in enumerate(operations):
        if operation.path in EXPENSIVE:
            budget = EXPENSIVE[operation.path]
        else:
            left = CASES_AT_LEAST + 50 - sum(counts.values())
            budget = -(-max(left, 0) // (len(operations) - i))
        fuzz(operation, GenerationMode.POSITIVE, -(-budget // 2))
        fuzz(operation, GenerationMode.NEGATIVE, budget // 2)
    total = sum(counts.values())
    print(
        f"\nschemathesis: {total} cases over {len(operations)} operations in "
        f"{time.perf_counter() - started:.1f} s ({time.process_time() - cpu:.1f} s CPU)"
    )
    for label, n in sorted(counts.items()):
        print(f"  {n:5d}  {label}")
    assert total >= CASES_AT_LEAST, counts
