"""``flushrisk ui``: MLflow's own server, whose root lands on the FlushRisk experiment's runs.

MLflow 3's UI opens on its home page (quickstarts, GenAI overview) and has no setting for a
default page. So ``flushrisk ui`` runs ``mlflow server`` exactly as MLflow builds it, with one
change: uvicorn serves :data:`training.mlflow_ui_app.app`, MLflow's ASGI app behind
:class:`LandingRedirect`, which sends ``GET /`` to the runs list of the experiment. Every
other request (the API, the static files, any page of the UI) goes to MLflow untouched.

Run as ``python -m training.mlflow_ui server --backend-store-uri ... --port ...``: the
arguments are ``mlflow server``'s; the experiment id comes in ``FLUSHRISK_UI_EXPERIMENT_ID``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

EXPERIMENT_ENV = "FLUSHRISK_UI_EXPERIMENT_ID"
MLFLOW_APP = "mlflow.server.fastapi_app:app"
WRAPPED_APP = "training.mlflow_ui_app:app"

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def landing_path(experiment_id: str) -> str:
    """Where ``GET /`` goes: MLflow's index page on the experiment's runs list.

    The UI routes by the URL fragment, which a browser never sends; the query (ignored by the
    UI) makes the target a different URL than ``/``, so the redirect cannot loop.
    """
    return f"/?experiment={experiment_id}#/experiments/{experiment_id}/runs"


class LandingRedirect:
    """ASGI middleware: a bare ``GET /`` (no query) redirects to the runs list; the rest passes."""

    def __init__(self, app: ASGIApp, experiment_id: str) -> None:
        self.app = app
        self.location = landing_path(experiment_id).encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope.get("method") in ("GET", "HEAD")
            and scope.get("path") == "/"
            and not scope.get("query_string")
        ):
            await send({
                "type": "http.response.start",
                "status": 302,
                "headers": [(b"location", self.location), (b"content-length", b"0")],
            })
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


def _serve_wrapped_app() -> None:
    """Make ``mlflow server`` start uvicorn on the wrapped app instead of MLflow's own."""
    from mlflow import server

    build = server._build_uvicorn_command

    def build_with_landing(*args: Any, **kwargs: Any) -> list[str]:
        cmd = build(*args, **kwargs)
        if not cmd or cmd[-1] != MLFLOW_APP:  # an MLflow that builds its command differently
            raise SystemExit(
                f"flushrisk ui: this MLflow ({cmd[-1] if cmd else 'no command'}) does not start "
                f"{MLFLOW_APP}; run `mlflow server` directly and open the runs list by hand"
            )
        return [*cmd[:-1], WRAPPED_APP]

    server._build_uvicorn_command = build_with_landing


def main(argv: list[str] | None = None) -> None:
    """``mlflow server ARGS`` with the landing redirect (see the module docstring)."""
    _serve_wrapped_app()
    from mlflow.cli import cli

    cli.main(args=list(sys.argv[1:] if argv is None else argv), prog_name="flushrisk ui")


if __name__ == "__main__":
    main()
