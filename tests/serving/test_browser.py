# ruff: noqa: F811  (pytest fixtures imported from tests.serving.browser)
"""The pages in a real browser (Debian's Chromium through Playwright).

The pages are loaded from a server that answers the radar JSON API (contract 5) and serves the
real page routes; a new bar is appended while the page is open. The tests check what a trader
relies on: every watched symbol is listed, the charts draw, a new bar shows without a reload,
and the browser logs no error. Screenshots go to a temporary directory, or to
``$FLUSHRISK_SCREENSHOTS_DIR`` (``FLUSHRISK_SCREENSHOTS_DIR=docs/screenshots`` refreshes the
README's images).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.serving import browser as chrome
from tests.serving.browser import SHOT_SIZE, browser, page, shots  # noqa: F401 (fixtures)
from tests.serving.radar_fixture import (
    ALERT_RULE,
    UNDERWAY,
    VERDICT_LINES,
    FixtureRadar,
    fixture_app,
    serve_in_thread,
)
from tests.serving.server_process import free_port

pytestmark = pytest.mark.slow

SYMBOLS = 6
# series colours of the symbol page's charts (serving/static/symbol.js)
CHART_COLOURS = {
    "price": "#e6edf3",
    "probability": "#f0e442",
    "funding": "#56b4e9",
    "oi": "#cc79a7",
    "basis": "#009e73",
    "depth": "#e69f00",
}


@pytest.fixture(scope="module")
def radar() -> FixtureRadar:
    return FixtureRadar(n=SYMBOLS, days=30, bar_minutes=5, seed=3)


@pytest.fixture(scope="module")
def site(radar: FixtureRadar) -> Iterator[str]:
    """The stand-in behind the service's guard (no key): the pages run under its
    Content-Security-Policy, so a blocked script or style shows as a console error."""
    from serving.service import RequestGuard

    with serve_in_thread(RequestGuard(fixture_app(radar), api_key=""), free_port()) as url:
        yield url


def test_radar_lists_every_symbol_and_follows_new_bars_without_reload(
    site: str, radar: FixtureRadar, page: Any, shots: Path
) -> None:
    p, log = page
    p.goto(f"{site}/?refresh=1")
    p.wait_for_selector("body[data-rendered='1']", timeout=15_000)
    listed = p.eval_on_selector_all("#rows tr", "rows => rows.map(r => r.dataset.symbol)")
    assert sorted(listed) == sorted(radar.markets), "the table shows every watched symbol once"
    probabilities = p.eval_on_selector_all("#rows td.prob", "cells => cells.map(c => c.textContent)")
    assert all(text.endswith("%") for text in probabilities)
    # the sparklines are drawn: one SVG path per symbol, each with real length
    lengths = p.eval_on_selector_all(
        "#rows td.spark path", "paths => paths.map(p => p.getTotalLength())"
    )
    assert len(lengths) == SYMBOLS and min(lengths) > 50

    p.evaluate("window.__sameDocument = true")
    before = p.evaluate("document.body.dataset.asOf")
    new_bar = radar.append_bar()
    p.wait_for_function(
        "asOf => document.body.dataset.asOf !== asOf", arg=before, timeout=15_000
    )
    assert p.evaluate("window.__sameDocument") is True, "the page updated without reloading"
    assert p.evaluate("document.body.dataset.asOf") == new_bar.isoformat()
    titles = p.eval_on_selector_all("#rows td.age", "cells => cells.map(c => c.title)")
    assert all(new_bar.strftime("%Y-%m-%d %H:%M") in t for t in titles), titles
    # a symbol whose data is old says so on its row, and the stale filter finds exactly those
    stale = {d["symbol"] for d in radar.risk()["symbols"] if d["stale"]}
    assert stale, "the stand-in has a lagging feed"
    # a stale row's badge is grey and says "stale", never its coloured level
    badges = dict(p.eval_on_selector_all(
        "#rows tr", "rows => rows.map(r => [r.dataset.symbol, r.querySelector('.badge').className"
        " + '|' + r.querySelector('.badge').textContent])"
    ))
    for symbol, badge in badges.items():
        cls, text = badge.split("|")
        if symbol in stale:
            assert "stale" in cls.split() and text == "stale" and "lvl-" not in cls, badge
        else:
            assert "stale" not in cls.split() and text != "stale", badge
    flagged = p.eval_on_selector_all(
        "#rows tr:has(td.age.stale)", "rows => rows.map(r => r.dataset.symbol)"
    )
    assert set(flagged) == stale
    # a symbol whose squeeze is under way says so (its alert rule gives no new alert there)
    underway = p.eval_on_selector_all(
        "#rows tr:has(.underway)", "rows => rows.map(r => r.dataset.symbol)"
    )
    assert underway == [UNDERWAY]
    assert p.inner_text(f"#rows tr[data-symbol={UNDERWAY}] .underway") == "squeeze under way"
    p.check("#stale-only")
    shown = p.eval_on_selector_all("#rows tr:not(.hidden)", "rows => rows.map(r => r.dataset.symbol)")
    assert set(shown) == stale
    p.uncheck("#stale-only")

    # sorting and filtering work on the live table
    p.click("th[data-key=symbol]")
    ordered = p.eval_on_selector_all("#rows tr", "rows => rows.map(r => r.dataset.symbol)")
    assert ordered == sorted(ordered)
    p.fill("#filter", "ETH")
    shown = p.eval_on_selector_all("#rows tr:not(.hidden)", "rows => rows.map(r => r.dataset.symbol)")
    assert shown == ["ETH"]
    p.fill("#filter", "")
    p.click("th[data-key=probability]")
    p.screenshot(path=str(shots / "standin-radar.png"))
    assert log.errors == []


def assert_verdict_in_two_lines(p: Any) -> None:
    """The verdict's two lines (PR-AUC, then onsets at equal alert budget, each against the best
    baseline with its CI) are both shown, each on a line of its own."""
    lines = p.locator("#verdict .verdict-line")
    assert lines.count() == 2
    assert [lines.nth(k).inner_text() for k in (0, 1)] == list(VERDICT_LINES)
    assert all(lines.nth(k).is_visible() for k in (0, 1))
    first, second = (lines.nth(k).bounding_box() for k in (0, 1))
    assert second["y"] >= first["y"] + first["height"] - 1, "the second line starts below the first"
    assert "90% CI" in VERDICT_LINES[0] and "90% CI" in VERDICT_LINES[1]


def test_symbol_page_draws_time_aligned_charts_and_explains_the_number(
    site: str, radar: FixtureRadar, page: Any, shots: Path
) -> None:
    p, log = page
    p.goto(f"{site}/symbol/BTC?refresh=2")
    p.wait_for_selector("#charts [data-chart=probability] canvas", timeout=15_000)
    charts = p.eval_on_selector_all("#charts [data-chart]", "els => els.map(e => e.dataset.chart)")
    assert charts[:2] == ["price", "probability"]
    assert {"funding", "oi", "basis"} <= set(charts)
    for name in charts:
        drawn = p.evaluate(
            chrome.COUNT_COLOUR_PIXELS,
            [f"[data-chart={name}]", chrome.rgb(CHART_COLOURS[name]), 40],
        )
        assert drawn > 150, f"the {name} chart drew {drawn} pixels of its series"
    # every chart has labelled axes: a time axis and a value axis with a unit
    axes = dict(p.eval_on_selector_all(
        "#charts [data-chart]", "els => els.map(e => [e.dataset.chart, e.dataset.axes.split('|')])"
    ))
    assert all(labels[0] == "Time (UTC)" and len(labels) >= 2 for labels in axes.values()), axes
    assert axes["probability"][1] == "Probability, %"
    assert axes["price"][1:] == ["Price, USD", "Liquidations, USD per bar"]

    drivers = p.eval_on_selector_all("#drivers li", "els => els.map(e => e.textContent)")
    api = radar.risk_symbol("BTC", "24h")
    assert api is not None
    assert drivers[0].startswith(api["drivers"][0]["text"]), "the top driver, in plain words"
    meaning = p.inner_text("#meaning")
    assert "Base rate" in meaning and "best baseline" in meaning and "False alarms" in meaning
    # onsets and continuations apart, onsets beside the best baseline at equal alert budget
    assert p.inner_text("#onsets").startswith("2 of 7 new flushes")
    assert p.inner_text("#continuations").startswith("7 of 7 flushes that continued")
    assert "best baseline (funding z-score) 1/7" in p.inner_text("#onsets-vs-baseline")
    assert "9 of 14" not in meaning, "never onsets and continuations mixed in one figure"
    assert_verdict_in_two_lines(p)
    # drivers in the order of the points shown; the scored bar and the window it covers
    points = p.eval_on_selector_all("#drivers li .c", "els => els.map(e => e.textContent)")
    moved = [float(t.split()[1].rstrip("pts%")) for t in points]
    assert moved == sorted(moved, reverse=True), points
    asof = p.inner_text("#asof")
    assert asof.startswith("scored bar: ") and "(closed " in asof, asof
    assert p.query_selector("#mode-mark") is None, "live data carries no SIMULATED/REPLAY mark"
    assert "0.85 %" in meaning  # the base rate from the model block
    # the alert level with the model's rule: calm hours only
    assert "in calm hours only (no squeeze of its label in the last 6 h)" in p.inner_text("#alert-rule")
    assert p.inner_text("#alert-rule") == ALERT_RULE["text"], "the server's words, as the card has them"
    assert p.query_selector("#badge .underway") is None, "BTC's squeeze is not under way"
    assert p.eval_on_selector("#reliability canvas", "c => c.width") > 100

    updates = int(p.evaluate("document.body.dataset.updates"))
    new_bar = radar.append_bar()
    p.wait_for_function(
        "n => Number(document.body.dataset.updates) > n", arg=updates, timeout=15_000
    )
    assert p.evaluate("document.body.dataset.asOf") == new_bar.isoformat()

    p.click("#windows button[data-window='7d']")
    p.wait_for_function("() => location.search.includes('window=7d')")
    p.click("#windows button[data-window='24h']")
    p.wait_for_timeout(300)
    p.screenshot(path=str(shots / "standin-symbol.png"), full_page=True)
    assert log.errors == []


def test_backtest_page_marks_every_flush_and_scrolls_to_it(
    site: str, radar: FixtureRadar, page: Any, shots: Path
) -> None:
    p, log = page
    p.goto(f"{site}/backtest/BTC")
    p.wait_for_selector("body[data-events]", timeout=15_000)
    events = radar.scores("BTC")["events"]  # type: ignore[index]
    assert len(events) > 0
    rows = p.eval_on_selector_all("#events tbody tr", "rows => rows.length")
    assert rows == len(events)
    assert p.evaluate("Number(document.body.dataset.points)") == len(radar.markets["BTC"].times)
    drawn = p.evaluate(
        chrome.COUNT_COLOUR_PIXELS, ["#chart", chrome.rgb(CHART_COLOURS["probability"]), 40]
    )
    assert drawn > 500
    whole = p.inner_text("#range")
    p.click("#events tbody tr:nth-child(2)")
    zoomed = p.inner_text("#range")
    assert zoomed != whole
    # the zoomed range ("2026-11-09 18:15 UTC → 2026-11-11 00:15 UTC") holds the chosen flush;
    # compared as times, since a range across midnight need not print the flush's own date
    shown = [pd.Timestamp(part.strip().removesuffix(" UTC"), tz="UTC") for part in zoomed.split("→")]
    chosen = pd.Timestamp(events[1]["time"])
    chosen = chosen.tz_localize("UTC") if chosen.tzinfo is None else chosen.tz_convert("UTC")
    assert len(shown) == 2 and shown[0] <= chosen <= shown[1], (
        f"the chart shows the chosen flush ({events[1]['time']}): {zoomed}"
    )
    assert shown[1] - shown[0] < pd.Timedelta(days=3), f"the chart zoomed in: {zoomed}"
    # the record: warned within the horizon before each flush's first bar, out of sample only
    record = radar.scores("BTC")["backtest"]  # type: ignore[index]
    note = p.inner_text("#events-note")
    assert f"Warned before {record['warned']} of {record['events']} flushes" in note
    assert "within the 1 h horizon before the flush's first bar, never at or after it" in note
    assert f"False alarms: {record['false_alarms']} alert bars" in note and "Out of sample only" in note
    cells = p.eval_on_selector_all(
        "#events tbody tr", "rows => rows.map(r => [r.querySelector('.size').innerText,"
        " r.querySelector('.warned').innerText])"
    )
    for (size, warned), event in zip(cells, events, strict=True):
        assert size.startswith("$") and "peak $" in size  # the whole cascade, and its peak bar
        assert (warned == "in-sample") == event["in_sample"]
        if not event["in_sample"]:
            assert warned == (f"{event['lead_hours']:.1f} h ahead" if event["warned"] else "no")
    assert p.evaluate("document.body.dataset.inSample") == "1"
    assert p.evaluate("document.body.dataset.priceLine") == "1"
    assert_verdict_in_two_lines(p)
    p.click("#all")
    p.screenshot(path=str(shots / "standin-backtest.png"))
    assert log.errors == []


def test_pages_ask_for_the_api_key_and_use_it(browser: Any, radar: FixtureRadar) -> None:
    """With FLUSHRISK_API_KEY set, the pages show a key form and log in with POST /login: the
    server sets an HttpOnly, SameSite=Strict session cookie with a bounded lifetime, no script
    can read it, and a key with ':' and '@' keeps the page open across a reload."""
    import time

    from serving.security import SESSION_SECONDS
    from serving.service import RequestGuard

    key = "s3cret:key@host"
    app = RequestGuard(fixture_app(radar), api_key=key)
    with serve_in_thread(app, free_port()) as url:
        context = browser.new_context(viewport=SHOT_SIZE)
        try:
            p = context.new_page()
            log = chrome.ConsoleLog(p)
            p.goto(f"{url}/")
            p.wait_for_selector("dialog.keyform[open]", timeout=10_000)
            p.fill("dialog.keyform input", key)
            p.click("dialog.keyform button")
            p.wait_for_selector("body[data-rendered='1']", timeout=15_000)
            assert p.eval_on_selector_all("#rows tr", "rows => rows.length") == SYMBOLS
            cookie = next(c for c in context.cookies() if c["name"] == "flushrisk_key")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert key not in cookie["value"]  # a session, not the key
            assert time.time() < cookie["expires"] <= time.time() + SESSION_SECONDS + 60
            assert "flushrisk_key" not in p.evaluate("document.cookie")
            p.reload()  # the session holds: no key form again
            p.wait_for_selector("body[data-rendered='1']", timeout=15_000)
            assert p.query_selector("dialog.keyform[open]") is None
            # the browser's 401 on the first /risk is expected; nothing else may fail (a
            # script or style the Content-Security-Policy blocked would show here)
            assert all("401" in e for e in log.errors), log.errors
        finally:
            context.close()
