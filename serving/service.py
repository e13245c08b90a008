"""The FlushRisk HTTP service (BentoML 1.4): the promoted champion behind a small JSON API.

Run it with ``flushrisk serve`` (or ``bentoml serve serving.service:FlushRiskService``).

Endpoints
    POST /predict        one prediction from raw ``bars`` or precomputed ``features``
    POST /predict_batch  ``{"items": [...]}``: many predictions, answered in order
    GET  /model          the model card: lineage, training range, features, thresholds, metrics
    GET  /livez /readyz  BentoML's probes (ready once the model is loaded)
    GET  /metrics        Prometheus, with ``flushrisk_predicted_probability`` (a histogram)

Which model: the BentoML model named by ``FLUSHRISK_SERVE_MODEL`` (default ``flushrisk-btc``,
latest version), which ``flushrisk promote`` exports. The service loads the native booster
files with :class:`models.FlushModel` and never imports mlflow: start-up stays at a couple of
seconds and memory at what LightGBM needs.

Client mistakes are 4xx, never 500. Request bodies are parsed by pydantic
(:mod:`serving.schemas`); BentoML 1.4 answers a ``pydantic.ValidationError`` raised while
parsing with 400 and the error list, and :class:`RequestGuard` rewrites that answer so its
``error`` line names the fields (``bars.3.high: Input should be greater than 0``). Problems only
the model can see (a window shorter than the minimum, bars at another bar size, another symbol)
raise :class:`serving.predictor.RequestError`, which the API methods return as the same 400
shape. The guard also answers 401 (API key), 413 (body too large) and 415 (not JSON) before
BentoML reads the body.
"""

from __future__ import annotations

import functools
import gc
import hmac
import json
import logging
from typing import Any

import bentoml
from bentoml._internal.context import server_context
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from features.errors import ModelNotFoundError
from features.settings import get_settings
from serving import hot_path
from serving.champions import CorruptModelError
from serving.loader import Reloader
from serving.pages import PUBLIC_PREFIXES
from serving.predictor import Predictor, RequestError
from serving.schemas import (
    MAX_BARS,
    MAX_BATCH,
    PredictBatchRequest,
    PredictBatchResponse,
    PredictRequest,
    PredictResponse,
)
from serving.security import (
    SESSION_SECONDS,
    authorised,
    given_key,
    over_tls,
    secret_bytes,
    session_cookie,
    set_cookie_header,
    with_security_headers,
)
from serving.state import STATE
from serving.worker import die_with_parent, refuse_to_start

logger = logging.getLogger("flushrisk.serving")

SERVICE_NAME = "flushrisk"
API_PATHS = frozenset({"/predict", "/predict_batch"})
DOC_PATHS = frozenset({"/docs.json"})  # /schema.json is BentoML's, read by its clients
METRICS_PATH = "/metrics"
SESSION_PATHS = frozenset({"/login", "/logout"})
# Probes and the API docs stay open when an API key is set: orchestrators poll them without
# credentials, and they reveal nothing about predictions. /metrics does (the radar's
# probabilities): it takes the API key or the metrics token (serving.security).
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/docs.json", "/schema.json", "/"})
# The pages' HTML shells and static files carry no data (serving.pages.PUBLIC_PREFIXES): they
# load without the key, and the JSON they read stays behind it.
OPEN_PREFIXES = ("/static_content", "/assets", *PUBLIC_PREFIXES)
# A request of MAX_BARS fully populated bars is about 2 MB of JSON; a batch may carry
# several. Anything larger is refused before it is read into memory.
MAX_BODY_BYTES = max(32 * 1024 * 1024, MAX_BARS * 1024 * 8)

PROBABILITY = bentoml.metrics.Histogram(
    name="flushrisk_predicted_probability",
    documentation="Calibrated long-squeeze probabilities returned by /predict and /predict_batch",
    labelnames=["symbol"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0),
)
WARNINGS = bentoml.metrics.Counter(
    name="flushrisk_prediction_warnings",
    documentation="Warnings attached to predictions, by code",
    labelnames=["code"],
)


def _release_request_timers() -> None:
    """Cancel BentoML's per-request timeout timer when the request is answered.

    BentoML 1.4's ``TimeoutMiddleware`` schedules ``loop.call_later(timeout, ...)`` for every
    request and never cancels it, so each answered request's context (its OpenTelemetry span,
    scope, ...) stays referenced by the event loop until the timeout has passed: at a few
    hundred requests/s and the 60 s timeout the worker's RSS climbs by ~5 KB per request for a
    minute (measured with benchmarks/bench_serving.py). Same behaviour, plus ``cancel()``.
    """
    import asyncio

    from bentoml._internal.server.http import traffic
    from starlette.responses import JSONResponse as _JSONResponse

    middleware = traffic.TimeoutMiddleware
    if getattr(middleware, "_flushrisk_releases_timers", False) or not hasattr(
        middleware, "_set_timer_out"
    ):
        return

    async def __call__(self: Any, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def _send(message: Any) -> None:
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        fut = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
        try:
            await waiter
        except TimeoutError:
            if fut.cancel():
                message = {"error": f"Not able to process the request in {self.timeout} seconds"}
                await _JSONResponse(message, status_code=504)(scope, receive, send)
        else:
            await fut
        finally:
            timer.cancel()

    middleware.__call__ = __call__  # type: ignore[method-assign]
    middleware._flushrisk_releases_timers = True  # type: ignore[attr-defined]


_release_request_timers()


OTHER_PATHS = "other"
_ORIGINAL_PATH = "flushrisk.path"


def route_label(scope: dict[str, Any]) -> str:
    """The route template a request matched (``/risk/{symbol}``), or "other" for unknown paths.

    Prometheus labels must come from a bounded set: a label per distinct URL let any client,
    even unauthenticated, grow the worker's memory and /metrics without bound (20,000 random
    paths: 322 MB -> 1.16 GB).
    """
    path = scope.get("path", "")
    if path in _FIXED_ROUTES:
        return path
    if path.startswith(OPEN_PREFIXES[:2]):  # BentoML's docs UI assets
        return OPEN_PREFIXES[0] if path.startswith(OPEN_PREFIXES[0]) else OPEN_PREFIXES[1]
    for route in routes_app.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", OTHER_PATHS)) or "/"
    return OTHER_PATHS


def _label_metrics_by_route() -> None:
    """Make BentoML's HTTP metrics middleware label requests by route template, not by path.

    The middleware reads ``scope["path"]`` for its ``endpoint`` label and hands the same scope
    on; it is given a copy with the template as path, and the original path is put back for
    the application behind it.
    """
    from bentoml._internal.server.http import instruments

    for name in ("HTTPTrafficMetricsMiddleware", "RunnerTrafficMetricsMiddleware"):
        middleware = getattr(instruments, name, None)
        if middleware is None or getattr(middleware, "_flushrisk_route_labels", False):
            continue
        middleware.__call__ = _relabelling(middleware.__call__)  # type: ignore[method-assign]
        middleware._flushrisk_route_labels = True  # type: ignore[attr-defined]


def _relabelling(original: Any) -> Any:
    async def __call__(self: Any, scope: Any, receive: Any, send: Any) -> None:
        if not scope["type"].startswith("http"):
            return await original(self, scope, receive, send)
        if not getattr(self, "_flushrisk_restores", False):
            self.app = _RestorePath(self.app)
            self._flushrisk_restores = True
        label = route_label(scope)
        if label == scope["path"]:
            return await original(self, scope, receive, send)
        relabelled = {**scope, "path": label, _ORIGINAL_PATH: scope["path"]}
        return await original(self, relabelled, receive, send)

    return __call__


class _RestorePath:
    """Puts the real path back into the scope after the metrics middleware labelled it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if _ORIGINAL_PATH in scope:
            path = scope[_ORIGINAL_PATH]
            scope = {k: v for k, v in scope.items() if k != _ORIGINAL_PATH}
            scope["path"] = path
        await self.app(scope, receive, send)


_label_metrics_by_route()


def error_body(loc: tuple[Any, ...], message: str, kind: str = "value_error") -> dict[str, Any]:
    """The one error shape of the API: a readable line plus pydantic-style details."""
    where = ".".join(str(part) for part in loc) or "body"
    return {
        "error": f"{where}: {message}",
        "detail": [{"loc": list(loc), "msg": message, "type": kind}],
    }


def request_error(err: RequestError) -> JSONResponse:
    return JSONResponse(error_body(err.loc, err.message), status_code=400)


class _QuietClientErrors(logging.Filter):
    """Drop BentoML's traceback log for request bodies that failed validation (a 400)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pydantic import ValidationError

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ValidationError)


class RequestGuard:
    """ASGI middleware: API key, body size, media type, and readable 400 messages.

    Pure ASGI (not BaseHTTPMiddleware) so it adds microseconds, not a task per request.
    """

    def __init__(
        self,
        app: Any,
        api_key: str | None = None,
        max_body: int = MAX_BODY_BYTES,
        metrics_token: str | None = None,
    ) -> None:
        self.app = app
        settings = get_settings()
        self.api_key = secret_bytes(api_key if api_key is not None else settings.api_key)
        self.metrics_token = secret_bytes(
            metrics_token if metrics_token is not None else settings.metrics_token
        )
        self.max_body = max_body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = with_security_headers(send)
        path = scope["path"]
        if not _CONTROL_CHARACTERS.isdisjoint(path):
            # no route has control characters; BentoML's router would answer in plain text
            await _answer(send, 404, {"error": "no such route (control characters in path)"})
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        if path in SESSION_PATHS:
            await self._session(path, scope, receive, send, headers)
            return
        if path == METRICS_PATH:
            if not self._may_scrape(headers):
                await _answer(send, 401, {"error": _METRICS_401})
                return
        elif self.api_key is not None and not _is_open(path) and not self._authorised(headers):
            await _answer(send, 401, {"error": _KEY_401})
            return
        if path in DOC_PATHS and scope["method"] == "GET":
            from serving.openapi import openapi_document

            await _answer(send, 200, openapi_document(FlushRiskService))
            return
        if path not in API_PATHS or scope["method"] != "POST":
            await self.app(scope, receive, _json_refusals(send, scope))
            return
        media = headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower()
        if media not in (b"application/json", b""):
            await _answer(
                send,
                415,
                {
                    "error": f"Content-Type must be application/json, not {media.decode(errors='replace')!r}"
                },
            )
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_body:
                await _answer(send, 413, _too_large(int(declared), self.max_body))
                return
            # The HTTP server delivers no more than the declared length: no need to hold a
            # copy of the body (a 720-bar request is ~0.5 MB) to enforce the limit.
            await self.app(scope, receive, _readable_400(send))
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await _answer(send, 413, _too_large(len(body), self.max_body))
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), _readable_400(send))

    def _authorised(self, headers: dict[bytes, bytes]) -> bool:
        """The API key, from a header or a login session (:func:`serving.security.authorised`)."""
        return authorised(headers, self.api_key or b"")

    def _may_scrape(self, headers: dict[bytes, bytes]) -> bool:
        """/metrics: open only when neither the key nor a metrics token is configured."""
        if self.api_key is None and self.metrics_token is None:
            return True
        given = given_key(headers)
        token = self.metrics_token
        if given is not None and token is not None and hmac.compare_digest(given, token):
            return True
        return self.api_key is not None and self._authorised(headers)

    async def _session(
        self, path: str, scope: Any, receive: Any, send: Any, headers: dict[bytes, bytes]
    ) -> None:
        """POST /login {"key": KEY}: the HttpOnly session cookie; POST /logout clears it."""
        if scope["method"] != "POST":
            await _answer(send, 405, {"error": f"{path}: use POST"}, [(b"allow", b"POST")])
            return
        secure = over_tls(scope, headers)
        if path == "/logout":
            await _answer(send, 200, {"ok": True}, [set_cookie_header(b"", secure)])
            return
        body = await _read_small(receive, 4096)
        try:
            given = json.loads(body)["key"] if body else None
        except (ValueError, TypeError, KeyError):
            given = None
        if not isinstance(given, str) or not given:
            await _answer(send, 400, error_body(("body", "key"), 'send {"key": "API key"}'))
            return
        if self.api_key is None:
            await _answer(send, 200, {"ok": True, "key_required": False})
            return
        if not hmac.compare_digest(given.encode(), self.api_key):
            await _answer(send, 401, {"error": "wrong API key"})
            return
        cookie_header = set_cookie_header(session_cookie(self.api_key), secure)
        await _answer(
            send, 200, {"ok": True, "expires_in": SESSION_SECONDS}, [cookie_header]
        )


_CONTROL_CHARACTERS = frozenset(map(chr, [*range(32), 127]))
"""What no route has in its path (one set test per request, not a pass per character)."""
_KEY_401 = (
    "missing or wrong API key: send it in the X-API-Key header or as 'Authorization: Bearer "
    "KEY'; the pages log in with POST /login"
)
_METRICS_401 = (
    "/metrics needs the API key or the metrics token (FLUSHRISK_METRICS_TOKEN) as "
    "'Authorization: Bearer TOKEN'"
)


async def _read_small(receive: Any, limit: int) -> bytes:
    """A short request body (a login), at most ``limit`` bytes (the rest is ignored)."""
    body = bytearray()
    while len(body) <= limit:
        message = await receive()
        body += message.get("body", b"")
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            break
    return bytes(body[:limit])


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _too_large(size: int, limit: int) -> dict[str, Any]:
    return {
        "error": f"request body of {size} bytes exceeds the limit of {limit} bytes; send at "
        f"most {MAX_BARS} bars per item and {MAX_BATCH} items per batch",
    }


async def _answer(
    send: Any,
    status: int,
    body: dict[str, Any],
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _readable_400(send: Any) -> Any:
    """Rewrite BentoML's '1 validation error for XIODescriptor' into 'field: message; ...'."""
    held: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] == 400:
            held["start"] = message
            return
        if "start" not in held:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        payload = _rewrite(b"".join(chunks))
        start = held["start"]
        start["headers"] = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        start["headers"].append((b"content-length", str(len(payload)).encode()))
        await send(start)
        await send({"type": "http.response.body", "body": payload})

    return wrapped


def _json_refusals(send: Any, scope: dict[str, Any]) -> Any:
    """BentoML's router answers an unknown route (404) or method (405) in plain text: give it
    the API's one error shape instead, ``{"error": "GET /nope: no such route"}`` (headers such
    as ``allow`` kept). Every other answer passes through untouched."""
    held: dict[str, Any] = {}

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] in (404, 405):
            media = dict(message.get("headers") or []).get(b"content-type", b"")
            if media.startswith(b"text/plain"):
                held["start"] = message
                return
        if "start" not in held:
            await send(message)
            return
        if message.get("more_body", False):
            return  # the plain text is dropped: the JSON below replaces it
        start = held.pop("start")
        what = "no such route" if start["status"] == 404 else "method not allowed"
        kept = [(k, v) for k, v in start["headers"]
                if k.lower() not in (b"content-length", b"content-type")]
        error = f"{scope.get('method', 'GET')} {str(scope.get('path', ''))[:100]}: {what}"
        await _answer(send, start["status"], {"error": error}, kept)

    return wrapped


def _rewrite(payload: bytes) -> bytes:
    try:
        body = json.loads(payload)
    except ValueError:
        return payload
    if not isinstance(body, dict) or not isinstance(body.get("detail"), list):
        return payload
    if not str(body.get("error", "")).split(" ")[0].isdigit():
        return payload  # already one of ours
    details = [
        {"loc": d.get("loc", []), "msg": _message(d), "type": d.get("type", "value_error")}
        for d in body["detail"]
        if isinstance(d, dict)
    ]
    lines = [f"{'.'.join(str(p) for p in d['loc']) or 'body'}: {d['msg']}" for d in details[:10]]
    more = f" (and {len(details) - 10} more)" if len(details) > 10 else ""
    return json.dumps(
        {"error": "; ".join(lines) + more, "detail": details}, separators=(",", ":")
    ).encode()


def _message(detail: dict[str, Any]) -> str:
    msg = str(detail.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


async def _model_card(request: Request) -> Response:
    """GET /model[?symbol=ETH]: the card of the symbol's champion (the only one if one)."""
    symbol = request.query_params.get("symbol")
    if not STATE.loaded:
        return JSONResponse({"error": "the model is not loaded yet"}, status_code=503)
    if symbol is None:
        distinct = {id(p): p for p in STATE.predictors.values()}
        if len(distinct) > 1:
            return JSONResponse(
                {
                    "error": "this service serves several models: ask GET /model?symbol=SYMBOL "
                    f"(symbols: {', '.join(STATE.symbols)}); GET /models lists them"
                },
                status_code=400,
            )
        predictor = next(iter(distinct.values()))
    else:
        try:
            predictor = _predictor_for(symbol)
        except RequestError as err:
            return JSONResponse(error_body(("query", "symbol"), err.message), status_code=404)
    return Response(predictor.card().model_dump_json(), media_type="application/json")


async def _models(_: Request) -> Response:
    """GET /models: every symbol served and the model that answers it."""
    rows = [
        {"symbol": symbol, **predictor.info.model_dump(include={"name", "version", "bentoml_tag"})}
        for symbol, predictor in sorted(STATE.predictors.items())
    ]
    return JSONResponse({"symbols": STATE.symbols, "models": rows})


async def _reload(_: Request) -> Response:
    """POST /admin/reload: re-read the champions now (behind the API key like every route)."""
    import asyncio

    reloader = RELOADER[0]
    if reloader is None:
        return JSONResponse({"error": "the service is not started yet"}, status_code=503)
    return JSONResponse(await asyncio.to_thread(reloader.reload))


RELOADER: list[Reloader | None] = [None]


def _web_routes() -> list[Any]:
    """Routes beside the BentoML API: model cards, reload, the radar API and the pages."""
    from serving.pages import ROUTES as PAGE_ROUTES
    from serving.radar_api import ROUTES as RADAR_ROUTES

    return [
        Route("/model", _model_card, methods=["GET"]),
        Route("/models", _models, methods=["GET"]),
        Route("/admin/reload", _reload, methods=["POST"]),
        *RADAR_ROUTES,
        *PAGE_ROUTES,
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and methods answer in the API's one error shape (JSON), not text/plain."""
    status = int(getattr(exc, "status_code", 404))
    what = "no such route" if status == 404 else str(getattr(exc, "detail", "refused")).lower()
    return JSONResponse(
        {"error": f"{request.method} {request.url.path[:100]}: {what}"},
        status_code=status,
        headers=getattr(exc, "headers", None),
    )


routes_app = Starlette(
    routes=_web_routes(), exception_handlers={StarletteHTTPException: _http_error}
)
_FIXED_ROUTES = frozenset({*API_PATHS, *DOC_PATHS, *OPEN_PATHS, METRICS_PATH, *SESSION_PATHS})


@bentoml.asgi_app(routes_app, path="/")
@bentoml.service(
    name=SERVICE_NAME,
    workers=1,
    traffic={"timeout": 60},
    metrics={"enabled": True},
    # One log line per request costs about 5 % of a small /predict's server CPU; /metrics
    # counts requests by route without it (FLUSHRISK_ACCESS_LOG=true turns it back on).
    logging={"access": {"enabled": get_settings().access_log}},
)
class FlushRiskService:
    """Calibrated probability of a large long squeeze in the next hour, and why."""

    def __init__(self) -> None:
        logging.getLogger("bentoml._internal.server.http_app").addFilter(_QuietClientErrors())
        worker = server_context.worker_index is not None  # a real worker, not an in-process app
        if worker:
            die_with_parent()
        self.reloader = Reloader()
        try:
            self.reloader.load_initial()
        except (ModelNotFoundError, CorruptModelError) as err:
            if worker:
                refuse_to_start(str(err))
            raise
        RELOADER[0] = self.reloader
        self.reloader.start()
        if worker:
            # Everything loaded so far lives as long as the worker: keep it out of the cyclic
            # collector's full passes, which otherwise add milliseconds to some requests.
            gc.freeze()

    @bentoml.api(input_spec=PredictRequest, route="/predict")
    async def predict(self, **fields: Any) -> PredictResponse:
        """One prediction from raw bars or precomputed features, by the symbol's champion."""
        request = PredictRequest.model_construct(**fields)
        try:
            response = _predictor_for(request.symbol).predict(request)
        except RequestError as err:
            return request_error(err)  # type: ignore[return-value]
        # The validated answer, serialised once, to bytes (model_dump_json's text would be
        # encoded again): BentoML passes a Response through as it is. The metrics are counted
        # once it is sent (off the client's latency, same numbers).
        return Response(  # type: ignore[return-value]
            PredictResponse.__pydantic_serializer__.to_json(response),
            media_type="application/json",
            background=BackgroundTask(_observe_after, [response]),
        )

    @bentoml.api(input_spec=PredictBatchRequest, route="/predict_batch")
    def predict_batch(self, **fields: Any) -> PredictBatchResponse:
        """Many predictions in one call; an invalid item fails the call, naming the item."""
        items: list[PredictRequest] = fields["items"]
        try:
            results = _predict_items(items)
        except RequestError as err:
            return request_error(err)  # type: ignore[return-value]
        _observe(results)
        return PredictBatchResponse(results=results)


def _predictor_for(symbol: str) -> Predictor:
    """The predictor serving ``symbol`` (a model that names no symbol answers any)."""
    predictor = STATE.get(symbol) or STATE.get("*")
    if predictor is None:
        served = ", ".join(STATE.symbols) or "none"
        raise RequestError(
            ("symbol",), f"no champion serves {symbol!r} here; symbols served: {served}"
        )
    return predictor


def _predict_items(items: list[PredictRequest]) -> list[PredictResponse]:
    """Each item by its symbol's predictor, one booster call per predictor, answers in order."""
    groups: dict[int, tuple[Predictor, list[int]]] = {}
    for i, item in enumerate(items):
        try:
            predictor = _predictor_for(item.symbol)
        except RequestError as err:
            raise err.prefixed("items", i) from None
        groups.setdefault(id(predictor), (predictor, []))[1].append(i)
    results: list[PredictResponse | None] = [None] * len(items)
    for predictor, positions in groups.values():
        try:
            answers = predictor.predict_many([items[i] for i in positions])
        except RequestError as err:
            # the location starts with items.<position within the group>: map it back
            if err.loc[:1] == ("items",) and isinstance(err.loc[1], int):
                raise RequestError(
                    ("items", positions[err.loc[1]], *err.loc[2:]), err.message
                ) from None
            raise
        for i, answer in zip(positions, answers, strict=True):
            results[i] = answer
    return [r for r in results if r is not None]


async def _observe_after(responses: list[PredictResponse]) -> None:
    """:func:`_observe` as a response's background task (async: no thread hop)."""
    _observe(responses)


def _observe(responses: list[PredictResponse]) -> None:
    for response in responses:
        _child(PROBABILITY, STATE.metric_label(response.symbol)).observe(response.probability)
        for warning in response.warnings:
            _child(WARNINGS, warning.code).inc()


@functools.cache
def _child(metric: Any, label: str) -> Any:
    """``metric.labels(label)``, found once per label: the labels are a bounded set (symbols
    served, warning codes), and the lookup costs about as much as the observation."""
    return metric.labels(label)


FlushRiskService.add_asgi_middleware(RequestGuard)
# /livez and the radar's polled GET routes skip the tracing, timeout and context layers
# (serving.hot_path): they answered behind 16 polling pages in 28 ms instead of 20.
hot_path.install(FlushRiskService)

__all__ = ["SERVICE_NAME", "FlushRiskService", "RequestGuard"]
