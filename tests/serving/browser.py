"""Debian's Chromium driven by Playwright, for the page tests and benchmarks/bench_web.py.

Playwright's own browser downloads are not used: the system Chromium (``apt-get install -y
chromium``) is launched with flags that keep it off the network. Without it the browser tests
skip and say how to enable them; under CI (``CI=true``, where .ci/run installs it) a missing
browser is a failure, never a silent skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("FLUSHRISK_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOW_TO_ENABLE = (
    f"the browser tests need Debian's Chromium at {CHROMIUM} and Playwright for Python: "
    "`sudo apt-get install -y chromium` and `pip install -e '.[test]'` (CI installs both)"
)


def missing() -> str | None:
    """Why the browser cannot run here, or None when it can."""
    if not CHROMIUM.exists():
        return HOW_TO_ENABLE
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return HOW_TO_ENABLE
    return None


def require_browser() -> None:
    """Skip (or, under CI, fail) when Chromium or Playwright is absent."""
    import pytest

    reason = missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the browser tests, but {reason}")
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless system Chromium (a Playwright Browser), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class ConsoleLog:
    """Collects console errors and uncaught page exceptions of one page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console.error: {message.text} ({message.location})")


# JavaScript: per chart, the number of canvas pixels within `tol` of the series colour.
COUNT_COLOUR_PIXELS = """([selector, rgb, tol]) => {
  const c = document.querySelector(selector + ' canvas');
  if (!c || !c.width || !c.height) return -1;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 200 && Math.abs(d[i] - rgb[0]) <= tol && Math.abs(d[i + 1] - rgb[1]) <= tol
        && Math.abs(d[i + 2] - rgb[2]) <= tol) n++;
  }
  return n;
}"""


def rgb(hex_colour: str) -> list[int]:
    h = hex_colour.lstrip("#")
    return [int(h[i : i + 2], 16) for i in (0, 2, 4)]


# -- pytest fixtures shared by the browser tests (import them into a test module) ---------------
SHOT_SIZE = {"width": 1440, "height": 900}


def _fixtures() -> tuple[Any, Any, Any]:
    import pytest

    @pytest.fixture(scope="module")
    def browser() -> Iterator[Any]:
        """Chromium for the module (skips, or fails under CI, when it is absent)."""
        require_browser()
        with chromium() as b:
            yield b

    @pytest.fixture(scope="module")
    def shots(tmp_path_factory: Any) -> Path:
        """Where screenshots go: $FLUSHRISK_SCREENSHOTS_DIR (docs/screenshots), else a temp dir."""
        target = os.environ.get("FLUSHRISK_SCREENSHOTS_DIR")
        path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
        path.mkdir(parents=True, exist_ok=True)
        return path

    @pytest.fixture
    def page(browser: Any, request: Any) -> Iterator[tuple[Any, ConsoleLog]]:
        """A fresh page (own context) with its console log; a module's ``HEADERS`` are sent."""
        headers = getattr(request.module, "HEADERS", None)
        context = browser.new_context(
            viewport=SHOT_SIZE, device_scale_factor=1, extra_http_headers=headers
        )
        p = context.new_page()
        log = ConsoleLog(p)
        yield p, log
        context.close()

    return browser, shots, page


browser, shots, page = _fixtures()
