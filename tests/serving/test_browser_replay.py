# ruff: noqa: F811  (pytest fixtures imported from tests.serving.browser)
"""The pages in Chromium against the real service, fed by the real radar in replay.

``flushrisk watch --replay``'s pipeline (serving.radar.run_replay) stores, scores and publishes
simulated bars for six symbols with the test champion; the service (the same ASGI app
``flushrisk serve`` runs) answers /risk from that, and the pages show it. A further replayed bar
must appear on the open page without a reload. test_browser.py covers the rest of the page
behaviour (400-symbol scale, stale feeds, filters, the API-key form) on a contract stand-in.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.serving import browser as chrome
from tests.serving.browser import browser, page, shots  # noqa: F401 (fixtures)
from tests.serving.conftest import API_KEY
from tests.serving.radar_fixture import serve_data_dir
from training.cli.watch import replay_mode

pytestmark = pytest.mark.slow

SYMBOLS = ["BTC", "ETH", "SOL", "XRP", "DOGE", "BNB"]
BAR = "1h"
FIRST_BARS = 36
# the service runs with FLUSHRISK_API_KEY set: the browser sends the key like any client
HEADERS = {"X-API-Key": API_KEY}


class Replay:
    """The radar replaying simulated markets into a data directory, one step at a time."""

    def __init__(self, root: Path, predictor: Any) -> None:
        from features.sources.live.replay import ReplayPlan, ReplaySource

        self.root = root
        self.predictor = predictor
        self.source = ReplaySource(
            ReplayPlan(symbols=SYMBOLS, bar=BAR, warm_days=31, days=3, seed=8, preset="crash-prone")
        )

    def run(self, bars: int) -> pd.Timestamp:
        """Replay ``bars`` more bar closes (resuming after the stored ones); the last bar time."""
        from serving.radar import Radar, RadarClock, run_replay

        seen: list[pd.Timestamp] = []
        # simulated markets replayed, as `flushrisk watch --replay` without --source-dir runs them
        radar = Radar(
            self.root, BAR, {s: self.predictor for s in SYMBOLS}, clock=RadarClock(),
            mode=replay_mode(None),
        )
        try:
            run_replay(
                radar, self.source, speed=0, stop=threading.Event(), max_bars=bars,
                on_bar=lambda t, _: seen.append(t),
            )
        finally:
            radar.close(timeout=60)
        self.freshen()
        return seen[-1]

    def freshen(self) -> None:
        """Date the snapshot now, as a watcher running in real time would (speed 1)."""
        from serving.radar import snapshot_path

        path = snapshot_path(self.root)
        snap = json.loads(path.read_text())
        snap.update(written_at=time.time(), speed=1.0)
        path.write_text(json.dumps(snap))


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory, predictor: Any) -> Replay:
    replay = Replay(tmp_path_factory.mktemp("replay"), predictor)
    replay.run(FIRST_BARS)
    return replay


@pytest.fixture(scope="module")
def service(asgi_app: Any, client: Any, replay: Replay) -> Iterator[str]:
    """The service's ASGI app over HTTP on loopback, reading the replay's data directory.

    ``client`` has run the app's lifespan once for the session (the model is loaded into
    serving.state), so the HTTP server here runs without a second start-up.
    """
    with serve_data_dir(asgi_app, replay.root) as url:
        yield url


def _same_time(a: str, b: pd.Timestamp) -> bool:
    return pd.Timestamp(a) == b


def test_radar_shows_every_replayed_symbol_and_the_next_bar_without_reload(
    service: str, replay: Replay, page: Any, shots: Path
) -> None:
    p, log = page
    p.goto(f"{service}/?refresh=1")
    p.wait_for_selector("body[data-rendered='1']", timeout=20_000)
    listed = p.eval_on_selector_all("#rows tr", "rows => rows.map(r => r.dataset.symbol)")
    assert sorted(listed) == sorted(SYMBOLS)
    lengths = p.eval_on_selector_all("#rows td.spark path", "ps => ps.map(p => p.getTotalLength())")
    assert len(lengths) == len(SYMBOLS) and min(lengths) > 20
    drivers = p.eval_on_selector_all("#rows td.driver", "cells => cells.map(c => c.textContent)")
    assert all(text and text != "–" for text in drivers), drivers

    p.evaluate("window.__sameDocument = true")
    new_bar = replay.run(1)
    p.wait_for_function(
        "t => [...document.querySelectorAll('#rows tr')].every("
        "r => Date.parse(r.dataset.asOf) === Date.parse(t))",
        arg=new_bar.isoformat(),
        timeout=20_000,
    )
    assert p.evaluate("window.__sameDocument") is True, "the page updated without reloading"
    # simulated data never passes for live: the mark, and the replay's end, are on the page
    assert p.inner_text("#mode-mark") == "SIMULATED"
    banner = p.inner_text("#mode-banner")
    assert banner.startswith("SIMULATED: these scores come from simulated market data")
    assert "The replay ended at" in banner and "its clock stopped there" in banner
    p.wait_for_timeout(1300)  # let the changed rows' flash fade before the picture
    p.screenshot(path=str(shots / "radar.png"))
    assert log.errors == []


def test_symbol_page_draws_the_replayed_market(service: str, page: Any, shots: Path) -> None:
    p, log = page
    p.goto(f"{service}/symbol/BTC")
    p.wait_for_selector("#charts [data-chart=probability] canvas", timeout=20_000)
    charts = p.eval_on_selector_all("#charts [data-chart]", "els => els.map(e => e.dataset.chart)")
    assert charts[:2] == ["price", "probability"]
    colours = {"price": "#e6edf3", "probability": "#f0e442"}
    for name, colour in colours.items():
        drawn = p.evaluate(chrome.COUNT_COLOUR_PIXELS, [f"[data-chart={name}]", chrome.rgb(colour), 40])
        assert drawn > 100, f"the {name} chart drew {drawn} pixels of its series"
    # the drivers in words: the radar's own at the alert level, else this bar's asked on demand
    # (/scores/{symbol}?drivers=1; here the service serves the model under another tag than the
    # radar's, so the page says why there are none): never an unexplained "no driver"
    p.wait_for_function(
        "() => { const li = document.querySelector('#drivers li');"
        " return li && (li.querySelector('.c') || /alert level/.test(li.textContent)"
        " && !/computing/.test(li.textContent)); }",
        timeout=20_000,
    )
    assert p.inner_text("#mode-mark") == "SIMULATED"
    asof = p.inner_text("#asof")  # which bar was scored, and the hour its probability covers
    assert asof.startswith("scored bar: 1h bar opening ") and " covers " in asof, asof
    meaning = p.inner_text("#meaning")
    assert "About" in meaning and "Base rate" in meaning, meaning
    p.screenshot(path=str(shots / "symbol.png"), full_page=True)
    p.goto(f"{service}/backtest/BTC")
    p.wait_for_selector("body[data-points]", timeout=20_000)
    assert int(p.evaluate("document.body.dataset.points")) >= FIRST_BARS
    _backtest_says_what_was_measured(p, service)
    p.screenshot(path=str(shots / "backtest.png"))
    assert log.errors == []


# the in-sample shading: rgba(139,152,165,0.16) on the transparent canvas
COUNT_SHADE_PIXELS = """(selector) => {
  const c = document.querySelector(selector + ' canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] >= 30 && d[i + 3] <= 55 && Math.abs(d[i] - 139) <= 14 && Math.abs(d[i + 1] - 152) <= 14
        && Math.abs(d[i + 2] - 165) <= 14) n++;
  }
  return n;
}"""


def _backtest_says_what_was_measured(p: Any, service: str) -> None:
    """The backtest page against its own API answer: warned within the horizon, whole cascade
    sizes, in-sample shading from the model's trained_until, a price line, the SIMULATED mark."""
    import requests

    api = requests.get(f"{service}/scores/BTC", headers=HEADERS, timeout=30).json()
    record, events = api["backtest"], api["events"]
    assert record is not None and record["horizon_hours"] == 1.0 and record["served_model"]
    assert record["in_sample_bars"] > 0, "the test model was trained on the replayed days"
    assert p.evaluate("document.body.dataset.priceLine") == "1"
    drawn = p.evaluate(chrome.COUNT_COLOUR_PIXELS, ["#chart", chrome.rgb("#e6edf3"), 40])
    assert drawn > 100, "the price line is drawn"
    note = p.inner_text("#events-note")
    if record["in_sample_bars"]:
        assert p.evaluate("document.body.dataset.inSample") == "1"
        shade = p.evaluate(COUNT_SHADE_PIXELS, "#chart")
        assert shade > 1000, "the in-sample part of the chart is shaded"
        assert "Out of sample only" in note
    if not record["out_of_sample_bars"]:  # the test model was trained on these very days
        assert "Every scored bar lies in the model's training data" in note
    elif record["alert_threshold"] is not None:
        assert f"Warned before {record['warned']} of {record['events']} flushes" in note
        assert "within the 1 h horizon before the flush's first bar" in note
        assert f"False alarms: {record['false_alarms']} alert bars" in note
    rows = p.eval_on_selector_all(
        "#events tbody tr", "rows => rows.map(r => [r.querySelector('.size').innerText,"
        " r.querySelector('.warned').innerText])"
    )
    assert len(rows) == len(events)
    for (size, warned), event in zip(rows, events, strict=True):
        assert "peak" in size, size  # the cascade's whole size, with its peak bar
        if event["in_sample"]:
            assert warned == "in-sample"
        elif event["warned"]:
            assert warned.endswith("h ahead") and not warned.startswith("0.0")
    assert p.inner_text("#mode-mark") == "SIMULATED"
