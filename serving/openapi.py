"""The service's OpenAPI document, made true: what ``GET /docs.json`` serves.

BentoML 1.4 labels its document OpenAPI 3.0.2 but fills it with pydantic's JSON Schema 2020-12
(numeric ``exclusiveMinimum``, ``{"type": "null"}``), i.e. OpenAPI 3.1 keywords; it also drops
``null`` from optional fields (a 200 can carry ``as_of: null``), declares the 400 body's
``detail`` a string (it is a list of field errors), lets a request through the schema that the
API refuses (``{"symbol", "as_of"}``: neither bars nor features), and does not list the plain
routes (``/model``, ``/models``, ``/admin/reload``, the radar's JSON, the pages and probes:
:mod:`serving.openapi_radar`), and calls the project "FlushRiskService" version "None". This
module starts from BentoML's document and fixes each of these, so clients and schemathesis can
trust it.

The service class is passed in (``openapi_document(FlushRiskService)``): the service serves this
document, so this module must not import the service back.
"""

from __future__ import annotations

import copy
import warnings
from functools import cache
from typing import Any

from features.pipeline import FEATURES
from serving import openapi_radar

OPENAPI_VERSION = "3.1.0"
_REQUEST_SCHEMAS = ("PredictRequestIODescriptor", "PredictRequest")
_NEVER_NULL = {"bars", "features"}

_ERROR_DETAIL = {
    "type": "array",
    "title": "Field errors",
    "items": {
        "type": "object",
        "properties": {
            "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
    },
}
_ERROR = {
    "type": "object",
    "title": "Error",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong, and where, in one line"},
        "detail": _ERROR_DETAIL,
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_ERRORS = {
    "401": _json(_ERROR_REF, "missing or wrong API key"),
    "413": _json(_ERROR_REF, "request body too large"),
    "415": _json(_ERROR_REF, "body is not JSON"),
}
_OBJECT = {"type": "object"}
_EXTRA_PATHS: dict[str, Any] = {
    "/model": {
        "get": {
            "operationId": "model_card",
            "summary": "The model card of a symbol's champion (the only model if one)",
            "parameters": [
                {"name": "symbol", "in": "query", "required": False, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": _json(_OBJECT, "the model card"),
                "400": _json(_ERROR_REF, "several models are served: name a symbol"),
                "404": _json(_ERROR_REF, "no champion serves this symbol"),
                "503": _json(_ERROR_REF, "not loaded yet"),
                **_ERRORS,
            },
        }
    },
    "/models": {
        "get": {
            "operationId": "models",
            "summary": "The symbols served and the model answering each",
            "responses": {"200": _json(_OBJECT, "symbols and models"), **_ERRORS},
        }
    },
    "/admin/reload": {
        "post": {
            "operationId": "reload",
            "summary": "Re-read the champions now (promote also triggers this by itself)",
            "responses": {
                "200": _json(_OBJECT, "what is served after the reload"),
                "503": _json(_ERROR_REF, "not started yet"),
                **_ERRORS,
            },
        }
    },
}


_LOGIN_BODY = {
    "type": "object",
    "required": ["key"],
    "properties": {"key": {"type": "string", "minLength": 1, "description": "the API key"}},
}
_SESSION_ROUTES: dict[str, Any] = {  # serving.security: how the pages log in
    "/login": {
        "post": {
            "operationId": "login",
            "summary": "Exchange the API key for an HttpOnly session cookie (what the pages do)",
            "security": [],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _LOGIN_BODY}},
            },
            "responses": {
                "200": _json(_OBJECT, "logged in: Set-Cookie flushrisk_key (HttpOnly, 12 h)"),
                "400": _json(_ERROR_REF, "no key in the body"),
                "401": _json(_ERROR_REF, "wrong API key"),
            },
        }
    },
    "/logout": {
        "post": {
            "operationId": "logout",
            "summary": "End the browser's session (clears the cookie)",
            "security": [],
            "responses": {"200": _json(_OBJECT, "logged out")},
        }
    },
}


def _nullable(schema: dict[str, Any], name: str) -> None:
    """Let properties that default to null be null (BentoML drops pydantic's anyOf null)."""
    for prop, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict) or "default" not in sub or sub["default"] is not None:
            continue
        if name in _REQUEST_SCHEMAS and prop in _NEVER_NULL:
            continue
        kind = sub.get("type")
        if isinstance(kind, str):
            if kind != "null":
                sub["type"] = [kind, "null"]
        elif "$ref" in sub:
            sub["anyOf"] = [{"$ref": sub.pop("$ref")}, {"type": "null"}]


def _one_input(schema: dict[str, Any]) -> None:
    """Exactly one of bars / features; as_of only dates features; known feature names."""
    schema["oneOf"] = [{"required": ["bars"]}, {"required": ["features"]}]
    schema["not"] = {"required": ["bars", "as_of"]}
    props = schema["properties"]
    props.get("bars", {}).pop("default", None)
    props.get("features", {}).pop("default", None)
    if "features" in props:
        props["features"]["propertyNames"] = {"enum": list(FEATURES)}


def _walk(node: Any) -> None:
    """Apply :func:`_nullable` to every object schema of the document (inline ones too)."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            _nullable(node, str(node.get("title", "")))
            if node.get("title") in _REQUEST_SCHEMAS:
                _one_input(node)
        for value in node.values():
            _walk(value)
    elif isinstance(node, list):
        for value in node:
            _walk(value)


def project_info() -> dict[str, Any]:
    """The document's ``info``: the project's title, version (package metadata) and description."""
    from importlib import metadata

    try:
        version = metadata.version("flushrisk")
        summary = metadata.metadata("flushrisk").get("Summary") or ""
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        version, summary = "0+unknown", ""
    return {
        "title": "FlushRisk",
        "version": version,
        "description": (
            f"{summary} POST /predict answers with the calibrated probability, its risk level, "
            "the drivers in words and the model's lineage; GET /risk, /risk/{symbol} and "
            "/scores/{symbol} serve the live radar and scored history; /, /symbol/{symbol} and "
            "/backtest/{symbol} are the pages. With FLUSHRISK_API_KEY set, every route but the "
            "probes, /metrics, this document and the pages' shells needs the key (X-API-Key, "
            "Authorization: Bearer, or the flushrisk_key cookie)."
        ).strip(),
    }


@cache
def openapi_document(service: type) -> dict[str, Any]:
    """The corrected OpenAPI 3.1 document of the FlushRisk service (built once per class).

    ``service`` is the BentoML service class, ``serving.service.FlushRiskService``.
    """
    from _bentoml_sdk.service.openapi import generate_spec

    with warnings.catch_warnings():  # pydantic: the default None of bars has no JSON form
        warnings.simplefilter("ignore")
        generated = generate_spec(service, openapi_version=OPENAPI_VERSION).asdict()
    spec = copy.deepcopy(generated)
    spec["info"] = {**spec.get("info", {}), **project_info()}
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = _ERROR
    if "InvalidArgument" in schemas:
        schemas["InvalidArgument"]["properties"]["detail"] = _ERROR_DETAIL
    _walk(spec)
    for path in ("/predict", "/predict_batch"):
        operation = spec["paths"][path]["post"]
        operation["responses"]["400"] = _json(
            _ERROR_REF, "the request is invalid; 'error' names the field"
        )
        operation["responses"].update(_ERRORS)
    spec["paths"].update(copy.deepcopy(_EXTRA_PATHS))
    spec["paths"].update(copy.deepcopy(_SESSION_ROUTES))
    spec["paths"].update(copy.deepcopy(openapi_radar.PATHS))
    schemas.update(copy.deepcopy(openapi_radar.SCHEMAS))
    return spec


__all__ = ["OPENAPI_VERSION", "openapi_document", "project_info"]
