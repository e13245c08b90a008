"""The trader's pages (/, /symbol/{symbol}, /backtest/{symbol}): routes mounted by the service.

The pages are static HTML shells plus JavaScript under ``serving/static`` (package data). Every
number they show comes from the same JSON API any client uses (``GET /risk``,
``GET /risk/{symbol}``, ``GET /scores/{symbol}``): the server has no page-only logic, so what a
trader sees on the page is exactly what a script would get.

Charts use uPlot, vendored from its npm package into ``serving/static/vendor`` (see the README
there): no CDN, no internet. The shells and the static files hold no data, so they are served
without the API key (``PUBLIC_PREFIXES``); the JSON they fetch stays behind it, and the pages
ask for the key (stored in the ``flushrisk_key`` cookie) when the API answers 401.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"
STATIC_PATH = "/static"
# Paths the API key does not cover: page shells and static assets carry no data.
PUBLIC_PREFIXES = (f"{STATIC_PATH}/", "/symbol/", "/backtest/")
# The shells change only with a deployment; revalidate on each load so an upgrade shows at once.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


@dataclass(frozen=True)
class _Page:
    title: str
    nav: tuple[tuple[str, str], ...]  # (label, element id) beside the radar link; JS sets the href
    script: str
    charts: bool  # loads the vendored chart library


_PAGES = {
    "radar": _Page("FlushRisk radar", (), "radar.js", charts=False),
    "symbol": _Page("FlushRisk · symbol", (("Backtest", "backtest-link"),), "symbol.js", charts=True),
    "backtest": _Page("FlushRisk · backtest", (("Symbol", "symbol-link"),), "backtest.js", charts=True),
}


@cache
def _shell(name: str) -> bytes:
    """A page's HTML: the shared layout around the page's <main> (package data, read once)."""
    page = _PAGES[name]
    layout = Template((TEMPLATE_DIR / "layout.html").read_text(encoding="utf-8"))
    vendor = f"{STATIC_PATH}/vendor"
    nav = '<a href="/">Radar</a>' + "".join(
        f'<a id="{anchor}" href="#">{label}</a>' for label, anchor in page.nav
    )
    scripts = [f"{vendor}/uPlot.iife.min.js", f"{STATIC_PATH}/charts.js"] if page.charts else []
    scripts.append(f"{STATIC_PATH}/{page.script}")
    html = layout.substitute(
        title=page.title,
        styles=f'<link rel="stylesheet" href="{vendor}/uPlot.min.css">\n' if page.charts else "",
        nav=nav,
        main=(TEMPLATE_DIR / f"{name}.html").read_text(encoding="utf-8"),
        scripts="".join(f'<script src="{src}"></script>\n' for src in scripts),
    )
    return html.encode()


def _page(name: str) -> Any:
    async def endpoint(_: Request) -> Response:
        return HTMLResponse(_shell(name), headers=_HEADERS)

    endpoint.__name__ = f"{name}_page"
    return endpoint


ROUTES: list[Any] = [
    Route("/", _page("radar"), methods=["GET"], name="radar_page"),
    Route("/symbol/{symbol}", _page("symbol"), methods=["GET"], name="symbol_page"),
    Route("/backtest/{symbol}", _page("backtest"), methods=["GET"], name="backtest_page"),
    Mount(STATIC_PATH, app=StaticFiles(directory=STATIC_DIR), name="static"),
]

__all__ = ["PUBLIC_PREFIXES", "ROUTES", "STATIC_DIR"]
