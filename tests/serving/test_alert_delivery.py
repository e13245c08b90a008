"""Alerts a trader can act on and trust: what every message says (live, replayed or simulated,
bar time, price, window, level crossed, resolved), delivery per channel (a hanging receiver
never delays another; redirects never leave the configured host), a bounded flush on exit that
records what was not delivered, and state that survives a restart (no bar alerts twice)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from serving.alerts import AlertManager, AlertRules, distinct_reasons, read_alerts
from tests.serving.test_alerts import Receiver

T0 = pd.Timestamp("2025-03-01 10:00", tz="UTC")
LABEL = "long liquidations >= $1.75M within 1h"
THRESHOLDS = {"elevated": 0.04, "high": 0.08, "extreme": 0.2}
DRIVERS = [
    {"feature": "dist_low_24h", "text": "price 1.2 % above its 24 h low"},
    {"feature": "dist_low_7d", "text": "price 1.2 % above its 7-day low"},
    {"feature": "funding_z_7d", "text": "funding 2.3 standard deviations above its 7-day mean"},
]
P = {"low": 0.01, "elevated": 0.05, "high": 0.1, "extreme": 0.3}


def _observe(manager: AlertManager, k: int, level: str):
    return manager.observe(
        "BTC", T0 + k * pd.Timedelta(hours=1), P[level], level, LABEL, DRIVERS, "m:1",
        price=84210.5 + k, bar="1h", horizon="1h", thresholds=THRESHOLDS,
    )


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_every_text_says_replay_bar_time_price_window_level_and_each_reason_once(tmp_path, receiver):
    manager = AlertManager.from_urls(
        [f"slack:{receiver.url}/slack", receiver.url + "/json"], tmp_path, mode="replay",
        rules=AlertRules(cooldown=pd.Timedelta(0)),
    )
    alert = _observe(manager, 0, "high")
    resolved = _observe(manager, 1, "elevated")
    assert manager.flush(10)
    text = alert.text()
    assert text.startswith("[REPLAY] FlushRisk: BTC is at HIGH flush risk: 10.0% probability of " + LABEL)
    assert "bar 2025-03-01 10:00 UTC, price 84,210.50" in text
    assert "in 2025-03-01 11:00 UTC .. 2025-03-01 12:00 UTC" in text  # the window covered
    assert "crossed the high level (from 8.0%)" in text
    # the 24 h and 7-day lows at the same distance are one reason, not two
    assert text.count("1.2 % above") == 1 and "its 24 h low and its 7-day low" in text
    assert resolved.kind == "resolved" and resolved.resolves == alert.time
    assert resolved.text().startswith("[REPLAY] FlushRisk: BTC resolved: left the high level")
    assert "now ELEVATED at 5.0%" in resolved.text() and "price 84,211.50" in resolved.text()
    slack = [b["text"] for path, b in receiver.bodies if path == "/slack"]
    assert slack == [text, resolved.text()]
    body = next(b for path, b in receiver.bodies if path == "/json")
    assert body["tag"] == "REPLAY" and body["mode"] == "replay" and body["price"] == 84210.5
    assert body["time"] == T0.isoformat() and body["crossed"] == "high" and body["threshold"] == 0.08
    assert body["from"] == "2025-03-01T11:00:00+00:00" and body["until"] == "2025-03-01T12:00:00+00:00"
    assert body["horizon"] == "1h" and body["label"] == LABEL
    assert len(body["drivers"]) == 2


def test_live_alerts_carry_no_tag_and_simulated_ones_say_so(tmp_path):
    live = AlertManager.from_urls([], tmp_path / "live")
    assert _observe(live, 0, "extreme").text().startswith("FlushRisk: BTC")
    simulated = AlertManager.from_urls([], tmp_path / "sim", mode="simulated")
    assert _observe(simulated, 0, "extreme").text().startswith("[SIMULATED] FlushRisk: BTC")


def test_distinct_reasons_merges_levels_at_one_distance_and_keeps_the_rest():
    texts = [d["text"] for d in DRIVERS] + ["price 0.40 % below the previous day's low"]
    assert distinct_reasons(texts + texts[:1]) == [
        "price 1.2 % above its 24 h low and its 7-day low",
        DRIVERS[2]["text"],
        "price 0.40 % below the previous day's low",
    ]


def test_a_hanging_webhook_never_delays_another_and_exit_records_what_was_not_sent(tmp_path, receiver):
    hanging = Receiver(hang=True)
    try:
        manager = AlertManager.from_urls(
            [hanging.url + "/hook", receiver.url + "/ok"], tmp_path, timeout_s=30,
            rules=AlertRules(cooldown=pd.Timedelta(0)),
        )
        for k in range(6):
            _observe(manager, 2 * k, "high")
            _observe(manager, 2 * k + 1, "low")
        healthy = manager.channels[1]
        # the healthy receiver gets all 12 messages while the other is still stuck on its first
        assert healthy.wait(None)
        assert len(receiver.bodies) == 12
        assert len(manager.channels[0].pending) == 12
        left = manager.close(timeout=0.2)
        assert left == 12
        lines = (tmp_path / "_radar" / "alerts" / "undelivered.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        assert len(records) == 12 and {r["host"] for r in records} == {hanging.url.split("/")[2]}
        assert all("not delivered within 0.2 s" in r["reason"] for r in records)
    finally:
        hanging.close()


def test_redirects_are_followed_on_the_configured_host_only(tmp_path, receiver):
    elsewhere = Receiver(redirect=receiver.url + "/stolen")  # another port: another host
    same_host = Receiver(redirect="/hook")  # a loop on its own host: given up after a few hops
    try:
        manager = AlertManager.from_urls(
            [elsewhere.url + "/hook", same_host.url + "/hook"], tmp_path, backoff_s=0.01,
            retries=2,
        )
        _observe(manager, 0, "high")
        assert manager.flush(10)
        assert receiver.bodies == [], "the alert never reached a host nobody configured"
        assert manager.failed == 2 and manager.delivered == 0
        undelivered = (tmp_path / "_radar" / "alerts" / "undelivered.jsonl").read_text()
        assert undelivered.count('"reason":"delivery failed"') == 2
    finally:
        elsewhere.close()
        same_host.close()


def test_a_same_host_redirect_is_followed(tmp_path, receiver):
    manager = AlertManager.from_urls([receiver.url + "/old"], tmp_path)
    original = manager.channels[0].session.post
    calls = []

    def post(url, **kwargs):
        calls.append(url)
        if url.endswith("/old"):
            response = original(url.replace("/old", "/new"), **kwargs)
            response.status_code, response.headers["Location"] = 308, "/new"
            return response
        return original(url, **kwargs)

    manager.channels[0].session.post = post
    _observe(manager, 0, "high")
    assert manager.flush(10)
    assert calls == [receiver.url + "/old", receiver.url + "/new"]
    assert [path for path, _ in receiver.bodies] == ["/new", "/new"]
    assert manager.delivered == 1


def test_a_restart_in_the_middle_of_alerting_never_alerts_the_same_bar_twice(tmp_path, receiver):
    first = AlertManager.from_urls([receiver.url], tmp_path)
    assert _observe(first, 0, "high").kind == "alert"
    assert first.flush(10)
    # the watcher dies here; its successor scores bar 0 again, then goes on
    second = AlertManager.from_urls([receiver.url], tmp_path)
    assert _observe(second, 0, "high") is None, "the same bar does not alert twice"
    assert _observe(second, 1, "extreme") is None, "still in the same alert (not re-armed)"
    resolved = _observe(second, 2, "low")
    assert resolved is not None and resolved.kind == "resolved" and resolved.resolves == T0.isoformat()
    assert second.flush(10)
    kinds = [body["type"] for _, body in receiver.bodies]
    assert kinds == ["flushrisk.alert", "flushrisk.resolved"]
    assert [a["kind"] for a in read_alerts(tmp_path, "BTC")] == ["alert", "resolved"]
