"""The liveness probe and the radar's polled GET routes, answered ahead of most of BentoML's stack.

Why: the service answers on one event loop, so a request waits for the CPU every request
before it spends there. Behind BentoML 1.4's middleware (an OpenTelemetry span, the request
timeout's task, the service context, two routers and a mounted Starlette app's own layers) a
``/livez`` that returns one byte cost about 0.46 ms of server CPU, and a prepared ``/risk``
answer about as much again; with 16 pages polling, ``/livez`` queued behind them past its 20 ms
target (issue 23). Here, GET ``/livez`` and ``/healthz`` and GET ``/risk``, ``/risk/{symbol}``,
``/scores/{symbol}`` skip those layers: the same handlers (:mod:`serving.radar_api`) make the
same answers (ETag and 304, gzip, 4xx/503 errors), with the same security headers
(:func:`serving.security.with_security_headers`) and the same API key rule
(:func:`serving.security.authorised`).

What still wraps them: BentoML's metrics middleware (``/metrics`` counts and times these routes
as before, labelled by route), Starlette's error middleware, and BentoML's access log with the
tracing in front of it when ``FLUSHRISK_ACCESS_LOG=true`` asks for a line per request. What they skip: a tracing span
each (no trace of a cached read), BentoML's request timeout (these answers are prepared or
bounded reads) and its request context (the handlers do not use it).

Anything else goes down the full stack unchanged, where the request guard answers it: another
method or path, a missing or wrong API key (the guard's 401), a path with control characters
(its 404), a service that defines ``__is_alive__`` (BentoML's /livez asks it), a proxy's
``root_path``, and a handler that fails before answering (the full stack answers and logs it as
it always did).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from features.settings import get_settings
from serving import radar_api
from serving.security import authorised, secret_bytes, with_security_headers

LIVENESS_PATHS = frozenset({"/livez", "/healthz"})
_ALIVE = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-length", b"1"), (b"content-type", b"text/plain; charset=utf-8")],
}
"""BentoML's liveness answer (a ``PlainTextResponse("\\n")``), made once."""
_ALIVE_BODY = {"type": "http.response.body", "body": b"\n"}
_BY_PREFIX = {"risk": radar_api.risk_symbol, "scores": radar_api.scores}
"""``/<prefix>/{symbol}`` routes (the symbol is one path segment, as Starlette matches it)."""


def _route(path: str) -> tuple[Any, dict[str, str]] | None:
    """The radar handler of a GET path and its path parameters, or None."""
    if path == "/risk":
        return radar_api.risk, {}
    prefix, sep, symbol = path[1:].partition("/")
    handler = _BY_PREFIX.get(prefix)
    if handler is None or not sep or not symbol or "/" in symbol:
        return None
    return handler, {"symbol": symbol}


def _plain_path(path: str) -> bool:
    """No control characters (the request guard answers those with its own 404)."""
    return path.isprintable()


class HotPath:
    """Raw ASGI middleware: the hot GET routes answered here, everything else passed on."""

    def __init__(self, app: Any, liveness: bool = True, api_key: str | None = None) -> None:
        self.app = app
        self.liveness = liveness
        self.api_key = secret_bytes(api_key if api_key is not None else get_settings().api_key)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in LIVENESS_PATHS and self.liveness:
            send = with_security_headers(send)
            await send(_ALIVE)
            await send(_ALIVE_BODY)
            return
        found = _route(path)
        if found is None or not _plain_path(path) or not self._may_read(scope):
            await self.app(scope, receive, send)
            return
        handler, params = found
        try:
            response = await handler(Request({**scope, "path_params": params}, receive))
        except Exception:  # noqa: BLE001 - the full stack answers and logs it, as it always did
            await self.app(scope, receive, send)
            return
        await response(scope, receive, with_security_headers(send))

    def _may_read(self, scope: Any) -> bool:
        if self.api_key is None:
            return True
        headers = {k.lower(): v for k, v in scope["headers"]}
        return authorised(headers, self.api_key)


def install(service: Any) -> None:
    """Put :class:`HotPath` in front of ``service``'s BentoML middleware, right behind the
    metrics middleware (first when metrics are off; behind the access log when it is on, so
    every request keeps its line, and then behind the tracing too). BentoML's public hook,
    ``add_asgi_middleware``, places a middleware behind its tracing, timeout and context
    layers, which are what the hot path skips; so its app factory's middleware list is
    extended instead (idempotent; other services' apps are left as they are)."""
    from _bentoml_impl.server.app import ServiceAppFactory
    from bentoml._internal.server.http import access, instruments
    from starlette.middleware import Middleware

    services = getattr(ServiceAppFactory, "_flushrisk_hot_path", None)
    if services is not None:
        if not any(s is service for s in services):
            services.append(service)
        return
    services = [service]
    original = ServiceAppFactory.middlewares.fget
    kept = tuple(  # what still sees every request: the metrics, and the access log when on
        getattr(module, name)
        for module, name in (
            (instruments, "RunnerTrafficMetricsMiddleware"),
            (instruments, "HTTPTrafficMetricsMiddleware"),
            (access, "AccessLogMiddleware"),
        )
        if hasattr(module, name)
    )

    def middlewares(self: Any) -> list[Any]:
        found = original(self)
        if not any(self.service is s for s in services):
            return found
        at = max((i + 1 for i, m in enumerate(found) if m.cls in kept), default=0)
        alive = not hasattr(self.service.inner, "__is_alive__")
        found.insert(at, Middleware(HotPath, liveness=alive))
        return found

    ServiceAppFactory.middlewares = property(middlewares)  # type: ignore[method-assign]
    ServiceAppFactory._flushrisk_hot_path = services  # type: ignore[attr-defined]


__all__ = ["LIVENESS_PATHS", "HotPath", "install"]
