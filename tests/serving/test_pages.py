"""The pages as the service serves them: shells, vendored JavaScript, and the API key rules.

What a browser does with them is tested in test_browser.py (real Chromium); these checks run
everywhere in milliseconds.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from serving.pages import STATIC_DIR

PAGES = ["/", "/symbol/BTC", "/backtest/BTC"]


@pytest.fixture(scope="module")
def anonymous(asgi_app: Any, client: Any) -> Any:
    """A client WITHOUT the API key (the service was started with one)."""
    from starlette.testclient import TestClient

    return TestClient(asgi_app)


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_served_by_the_service_itself_without_the_key(anonymous: Any, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    # every script and stylesheet the page loads is served by the service (no CDN)
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert assets, "the page loads its scripts"
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset} is not served by the service"
        fetched = anonymous.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 100, asset


def test_the_radar_replaces_bentoml_s_index_page(anonymous: Any) -> None:
    assert "FlushRisk radar" in anonymous.get("/").text


def test_the_data_the_pages_read_stays_behind_the_key(anonymous: Any, client: Any) -> None:
    # /model is JSON the pages could read; without the key it is refused, with it it answers
    assert anonymous.get("/model").status_code == 401
    assert client.get("/model").status_code == 200


def test_static_files_cannot_escape_the_static_directory(anonymous: Any) -> None:
    for path in ["/static/../pages.py", "/static/%2e%2e/pages.py", "/static/vendor/../../service.py"]:
        response = anonymous.get(path)
        assert response.status_code in (401, 404), path
        assert "import" not in response.text, path


def test_the_vendored_chart_library_ships_with_its_licence_and_origin() -> None:
    vendor = STATIC_DIR / "vendor"
    assert (vendor / "uPlot.iife.min.js").stat().st_size > 20_000
    assert "MIT" in (vendor / "uPlot.LICENSE").read_text()
    assert "npm pack uplot" in (vendor / "README.md").read_text()


def test_the_static_files_are_package_data() -> None:
    """pyproject ships every file the pages load (an installed wheel serves the same pages)."""
    import tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["serving"]
    serving = root / "serving"
    needed = [p for p in (serving / "static").rglob("*") if p.is_file()]
    needed += list((serving / "templates").glob("*.html"))
    for path in needed:
        rel = path.relative_to(serving).as_posix()
        assert any(fnmatch(rel, pattern) for pattern in patterns), f"{rel} is not package data"
