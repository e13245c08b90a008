"""Alerts: hysteresis, cooldown, formats, retries, logged to the store; a loopback receiver."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from features.errors import DataError
from serving.alerts import AlertManager, AlertRules, Webhook, read_alerts

T0 = pd.Timestamp("2025-03-01", tz="UTC")
DRIVERS = [{"feature": "funding_z_7d", "text": "funding is 2.3 standard deviations above its 7-day mean"}]


class Receiver:
    """A loopback HTTP server recording POSTed JSON; fails the first ``fail`` requests, or
    answers every POST with a 307 to ``redirect``, or (``hang``) answers nothing until released."""

    def __init__(self, fail: int = 0, redirect: str | None = None, hang: bool = False) -> None:
        self.bodies: list[tuple[str, dict]] = []
        self.fail = fail
        self.redirect = redirect
        self.release = threading.Event()
        if not hang:
            self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.release.wait(30)
                if receiver.redirect is not None:
                    self.send_response(307)
                    self.send_header("Location", receiver.redirect)
                elif receiver.fail > 0:
                    receiver.fail -= 1
                    self.send_response(503)
                else:
                    receiver.bodies.append((self.path, body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _feed(manager, levels, start=T0, step=None):
    step = step or pd.Timedelta(minutes=5)
    fired = []
    for k, level in enumerate(levels):
        p = {"low": 0.01, "elevated": 0.04, "high": 0.1, "extreme": 0.3}[level]
        alert = manager.observe("BTC", start + k * step, p, level, "long liquidations >= 0.30% of OI within 1h", DRIVERS)
        fired.append(alert is not None and alert.kind == "alert")
    return fired


def test_hysteresis_fires_once_until_back_below_elevated(tmp_path, receiver):
    manager = AlertManager.from_urls([receiver.url + "/hook"], tmp_path, rules=AlertRules(cooldown=pd.Timedelta(0)))
    fired = _feed(manager, ["low", "high", "elevated", "high", "extreme", "high", "low", "high"])
    assert fired == [False, True, False, False, False, False, False, True]
    assert manager.flush(10)
    kinds = [body["type"] for _, body in receiver.bodies]
    assert kinds == ["flushrisk.alert", "flushrisk.resolved", "flushrisk.alert"]
    path, body = receiver.bodies[0]
    assert path == "/hook" and body["symbol"] == "BTC" and body["level"] == "high"
    assert body["probability"] == 0.1 and body["drivers"] == [DRIVERS[0]["text"]]
    assert body["link"].endswith("/symbol/BTC")
    logged = read_alerts(tmp_path, "BTC")
    assert [a["time"] for a in logged] == [(T0 + k * pd.Timedelta(minutes=5)).isoformat() for k in (1, 2, 7)]
    assert [a["kind"] for a in logged] == ["alert", "resolved", "alert"]


def test_cooldown_holds_back_a_rearmed_symbol(tmp_path, receiver):
    rules = AlertRules(cooldown=pd.Timedelta(hours=1))
    manager = AlertManager.from_urls([receiver.url], tmp_path, rules=rules)
    # fire, re-arm, try again within the hour (held back), then after the hour (fires)
    fired = _feed(manager, ["high", "low", "high", "low"] + ["low"] * 10 + ["high"])
    assert fired[0] and not fired[2] and fired[-1]
    assert sum(fired) == 2
    assert manager.flush(10)
    assert [b["type"] for _, b in receiver.bodies].count("flushrisk.alert") == 2


def test_failed_delivery_is_retried_and_never_raises(tmp_path):
    flaky = Receiver(fail=2)
    try:
        manager = AlertManager.from_urls([flaky.url], tmp_path, backoff_s=0.01)
        _feed(manager, ["high"])
        assert manager.flush(10)
        assert len(flaky.bodies) == 1 and manager.delivered == 1
    finally:
        flaky.close()
    dead = AlertManager.from_urls(["http://127.0.0.1:9"], tmp_path / "b", backoff_s=0.01, retries=2)
    assert _feed(dead, ["high"]) == [True]  # deciding and logging never wait for delivery
    assert dead.flush(10) and dead.failed == 1
    assert len(read_alerts(tmp_path, "BTC")) == 1 and len(read_alerts(tmp_path / "b", "BTC")) == 1
    undelivered = (tmp_path / "b" / "_radar" / "alerts" / "undelivered.jsonl").read_text()
    assert '"reason":"delivery failed"' in undelivered and '"symbol":"BTC"' in undelivered


def test_formats(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("FLUSHRISK_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("FLUSHRISK_TELEGRAM_CHAT", "42")
    specs = [f"slack:{receiver.url}/slack", f"discord:{receiver.url}/discord", f"telegram:{receiver.url}"]
    manager = AlertManager.from_urls(specs, tmp_path)
    _feed(manager, ["extreme"])
    assert manager.flush(10)
    by_path = dict(receiver.bodies)
    assert "BTC is at EXTREME flush risk" in by_path["/slack"]["text"]
    assert "funding is 2.3" in by_path["/discord"]["content"]
    assert by_path["/bot123:abc/sendMessage"]["chat_id"] == "42"


def test_bad_webhook_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="expected an http"):
        Webhook.parse("slack:hooks.example")


@pytest.mark.parametrize(
    ("env", "link"),
    [
        ({}, "http://127.0.0.1:3000/symbol/BTC"),
        ({"FLUSHRISK_SERVE_PORT": "3456"}, "http://127.0.0.1:3456/symbol/BTC"),
        ({"FLUSHRISK_SERVE_HOST": "0.0.0.0", "FLUSHRISK_SERVE_PORT": "8080"}, "http://127.0.0.1:8080/symbol/BTC"),
        ({"FLUSHRISK_PAGE_URL": "https://radar.example.com/"}, "https://radar.example.com/symbol/BTC"),
    ],
)
def test_the_alert_link_opens_the_symbol_page_of_the_service_flushrisk_serve_starts(
    tmp_path, receiver, monkeypatch, env, link
):
    from training.cli.serve import serve_address, serve_command

    for name in ("FLUSHRISK_SERVE_PORT", "FLUSHRISK_SERVE_HOST", "FLUSHRISK_PAGE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # `flushrisk serve` with no --port/--host binds what the same settings say ...
    port, host, _ = serve_address(None, None)
    command = serve_command(port, host)
    served = command[command.index("--port") + 1]
    if "FLUSHRISK_PAGE_URL" not in env:
        assert link.startswith(f"http://127.0.0.1:{served}/"), (command, link)
    # ... and `flushrisk watch` without --page-url links its alerts there
    manager = AlertManager.from_urls([receiver.url], tmp_path)
    assert _feed(manager, ["high"]) == [True]
    assert manager.flush(10)
    assert receiver.bodies[0][1]["link"] == link
    # an explicit --page-url wins
    assert AlertManager.from_urls([], tmp_path / "x", page_url="http://radar:9000/").page_url == "http://radar:9000"
