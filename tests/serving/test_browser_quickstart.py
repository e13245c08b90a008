# ruff: noqa: F811  (pytest fixtures imported from tests.serving.browser)
"""What a quickstart user sees: the symbol page, opened while the quickstart's radar replays the
simulated market, moves by itself (new scores, redrawn chart) without a reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.serving import browser as chrome
from tests.serving.browser import browser, page, shots  # noqa: F401 (fixtures)
from tests.serving.conftest import API_KEY
from tests.serving.radar_fixture import serve_data_dir

pytestmark = pytest.mark.slow
DAYS, SEED = 40, 7
HEADERS = {"X-API-Key": API_KEY}  # the service has a key: the browser sends it like any client


@pytest.fixture(scope="module")
def running_radar(tmp_path_factory: pytest.TempPathFactory, predictor: Any) -> Iterator[Any]:
    from features.scores import ScoreStore
    from training.cli.quickstart import simulate_step
    from training.cli.quickstart_radar import QuickstartRadar

    root = tmp_path_factory.mktemp("quickstart")
    simulate_step("BTC", DAYS, SEED, root)
    radar = QuickstartRadar(
        root, "BTC", predictor, DAYS, SEED, catch_up_days=1.0, bars_per_second=1.0, quiet=True
    )
    radar.prepare()
    radar.start()
    try:
        scores = ScoreStore(root)
        deadline = pd.Timestamp.now() + pd.Timedelta(seconds=30)
        while "1h" not in scores.bars("BTC") and pd.Timestamp.now() < deadline:
            radar.stop_event.wait(0.2)
        yield radar
    finally:
        assert radar.stop(timeout=60)


@pytest.fixture(scope="module")
def service(asgi_app: Any, client: Any, running_radar: Any) -> Iterator[str]:
    with serve_data_dir(asgi_app, running_radar.data_dir) as url:
        yield url


def test_symbol_page_moves_while_the_quickstart_radar_replays(
    service: str, page: Any, shots: Path
) -> None:
    p, log = page
    p.goto(f"{service}/symbol/BTC?refresh=2")
    p.wait_for_selector("#charts [data-chart=probability] canvas", timeout=20_000)
    p.wait_for_function("() => document.body.dataset.asOf", timeout=20_000)  # a function: no eval under the CSP
    first = p.evaluate("document.body.dataset.asOf")
    p.evaluate("window.__sameDocument = true")
    for _ in range(2):  # two further updates, each a later bar
        before = p.evaluate("document.body.dataset.asOf")
        p.wait_for_function(f"() => document.body.dataset.asOf !== {before!r}", timeout=15_000)
    later = p.evaluate("document.body.dataset.asOf")
    assert pd.Timestamp(later) > pd.Timestamp(first)
    assert p.evaluate("window.__sameDocument") is True  # updated in place, not reloaded
    drawn = p.evaluate(
        chrome.COUNT_COLOUR_PIXELS, ["[data-chart=probability]", chrome.rgb("#f0e442"), 40]
    )
    assert drawn > 20, f"the probability chart drew {drawn} pixels of its series"
    p.screenshot(path=str(shots / "quickstart_symbol.png"), full_page=True)
    assert log.errors == []
