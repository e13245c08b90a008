"""Alerts: tell a trader when a symbol enters the alert level, once, in words.

Rules, per symbol:

* **fire** when the risk level reaches the alert level (``high`` by default, or ``extreme``)
  while the symbol is *armed*;
* **re-arm** only after the level has fallen back to ``low`` (below ``elevated``): a
  probability wobbling around the threshold does not fire again and again (hysteresis);
* **cooldown**: after an alert, no other alert for the symbol for ``cooldown`` of radar time,
  even if it re-armed meanwhile.

Each alert carries the probability, the level, what the probability is about, the top drivers
in plain words (the drivers' ``text``) and a link to the symbol's page. It is appended to the
store (``<data_dir>/_radar/alerts/<SYMBOL>.jsonl``, which ``/risk/{symbol}`` shows) and sent to
every webhook by a delivery thread: a failed delivery is retried with backoff and logged, and
never blocks or stops the watcher.

Webhook formats: ``URL`` (generic JSON: the alert itself), ``slack:URL``, ``discord:URL``, and
``telegram:`` (the Bot API; token and chat id from ``FLUSHRISK_TELEGRAM_TOKEN`` and
``FLUSHRISK_TELEGRAM_CHAT``; ``telegram:URL`` overrides the API base URL, for tests).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from filelock import FileLock

from features.errors import DataError
from features.store import normalize_symbol

logger = logging.getLogger("flushrisk.alerts")

LEVEL_ORDER = {"low": 0, "elevated": 1, "high": 2, "extreme": 3}
ALERTS_DIR = ("_radar", "alerts")
FORMATS = ("json", "slack", "discord", "telegram")
TELEGRAM_API = "https://api.telegram.org"


@dataclass
class Alert:
    symbol: str
    time: str  # bar open time of the score
    probability: float
    level: str
    label: str
    drivers: list[str]
    link: str
    model: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "time": self.time,
            "probability": self.probability,
            "level": self.level,
            "label": self.label,
            "drivers": self.drivers,
            "link": self.link,
            "model": self.model,
        }

    def text(self) -> str:
        reasons = "; ".join(self.drivers[:3]) or "no single driver stands out"
        return (
            f"FlushRisk: {self.symbol} is at {self.level.upper()} flush risk: "
            f"{self.probability:.1%} probability of {self.label or 'a large long squeeze'}. "
            f"Why: {reasons}. {self.link}"
        )


@dataclass
class Webhook:
    kind: str
    url: str

    @classmethod
    def parse(cls, spec: str) -> Webhook:
        """'URL', 'slack:URL', 'discord:URL', 'telegram:' or 'telegram:API_BASE'."""
        head, _, rest = spec.partition(":")
        if head in ("slack", "discord", "telegram") and not rest.startswith("//"):
            kind, url = head, rest
        else:
            kind, url = "json", spec
        if kind == "telegram":
            url = url or os.environ.get("FLUSHRISK_TELEGRAM_API", TELEGRAM_API)
        if not url.startswith(("http://", "https://")):
            raise DataError(
                f"--alert-webhook {spec!r}: expected an http(s) URL, e.g. slack:https://hooks.slack.com/..."
            )
        return cls(kind, url)

    def request(self, alert: Alert) -> tuple[str, dict[str, Any]]:
        """(URL, JSON body) of the POST for this format."""
        if self.kind == "slack":
            return self.url, {"text": alert.text()}
        if self.kind == "discord":
            return self.url, {"content": alert.text()[:2000]}
        if self.kind == "telegram":
            token = os.environ.get("FLUSHRISK_TELEGRAM_TOKEN")
            chat = os.environ.get("FLUSHRISK_TELEGRAM_CHAT")
            if not token or not chat:
                raise DataError(
                    "telegram alerts need FLUSHRISK_TELEGRAM_TOKEN (the bot token) and "
                    "FLUSHRISK_TELEGRAM_CHAT (the chat id) in the environment"
                )
            return f"{self.url.rstrip('/')}/bot{token}/sendMessage", {
                "chat_id": chat,
                "text": alert.text(),
            }
        return self.url, {"type": "flushrisk.alert", **alert.as_dict()}


@dataclass
class _SymbolState:
    armed: bool = True
    last_fired: pd.Timestamp | None = None


@dataclass
class AlertRules:
    level: str = "high"
    rearm_below: str = "elevated"
    cooldown: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(hours=1))


class AlertManager:
    """Decides when to alert (hysteresis, cooldown), logs every alert, delivers them."""

    def __init__(
        self,
        webhooks: Iterable[Webhook],
        data_dir: Path | str,
        page_url: str = "http://127.0.0.1:3000",
        rules: AlertRules | None = None,
        retries: int = 4,
        backoff_s: float = 1.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.webhooks = list(webhooks)
        self.data_dir = Path(data_dir)
        self.page_url = page_url.rstrip("/")
        self.rules = rules or AlertRules()
        if self.rules.level not in LEVEL_ORDER or self.rules.rearm_below not in LEVEL_ORDER:
            raise DataError(f"alert levels must be among {list(LEVEL_ORDER)}")
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.state: dict[str, _SymbolState] = {}
        self.delivered = 0
        self.failed = 0
        self.outbox: queue.Queue = queue.Queue()
        self.pending = 0
        self.idle = threading.Condition()
        self.session = requests.Session()
        self.thread = threading.Thread(
            target=self._deliver_loop, name="alert-delivery", daemon=True
        )
        self.thread.start()

    @classmethod
    def from_urls(cls, specs: Iterable[str], data_dir: Path | str, **kwargs: Any) -> AlertManager:
        return cls([Webhook.parse(s) for s in specs], data_dir, **kwargs)

    # -- deciding ------------------------------------------------------------------------
    def on_scored(self, scored: Iterable[Any]) -> list[Alert]:
        """Feed the radar's new scores (ScoredBar); returns the alerts fired."""
        fired = []
        for s in scored:
            alert = self.observe(
                s.symbol, s.time, s.probability, s.risk_level, s.label, s.drivers, s.model
            )
            if alert is not None:
                fired.append(alert)
        return fired

    def observe(
        self,
        symbol: str,
        time_: pd.Timestamp,
        probability: float,
        level: str,
        label: str = "",
        drivers: list[dict[str, Any]] | None = None,
        model: str = "",
    ) -> Alert | None:
        state = self.state.setdefault(symbol, _SymbolState())
        rank = LEVEL_ORDER.get(level, 0)
        if rank < LEVEL_ORDER[self.rules.rearm_below]:
            state.armed = True
        if rank < LEVEL_ORDER[self.rules.level] or not state.armed:
            return None
        if state.last_fired is not None and time_ - state.last_fired < self.rules.cooldown:
            return None
        state.armed = False
        state.last_fired = time_
        alert = Alert(
            symbol=symbol,
            time=pd.Timestamp(time_).isoformat(),
            probability=float(probability),
            level=level,
            label=label,
            drivers=[d.get("text") or d.get("feature", "") for d in (drivers or [])][:3],
            link=f"{self.page_url}/symbol/{symbol}",
            model=model,
        )
        self._log(alert)
        for hook in self.webhooks:
            with self.idle:
                self.pending += 1
            self.outbox.put((hook, alert))
        return alert

    # -- logging -------------------------------------------------------------------------
    def _log(self, alert: Alert) -> None:
        path = alerts_path(self.data_dir, alert.symbol)
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(alert.as_dict(), separators=(",", ":")) + "\n"
        with FileLock(str(path) + ".lock"), path.open("a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        logger.warning("ALERT %s", alert.text())

    # -- delivering ----------------------------------------------------------------------
    def _deliver_loop(self) -> None:
        while True:
            hook, alert = self.outbox.get()
            try:
                self._deliver(hook, alert)
            finally:
                with self.idle:
                    self.pending -= 1
                    self.idle.notify_all()

    def _deliver(self, hook: Webhook, alert: Alert) -> bool:
        delay = self.backoff_s
        for attempt in range(1, self.retries + 1):
            try:
                url, body = hook.request(alert)
                response = self.session.post(url, json=body, timeout=self.timeout_s)
                if response.status_code < 300:
                    self.delivered += 1
                    return True
                problem = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    logger.error("alert to %s refused (%s): not retried", hook.kind, problem)
                    break
            except DataError as err:
                logger.error("alert to %s not sent: %s", hook.kind, err)
                break
            except requests.RequestException as err:
                problem = type(err).__name__
            logger.warning(
                "alert for %s to %s failed (%s), attempt %d/%d",
                alert.symbol,
                hook.kind,
                problem,
                attempt,
                self.retries,
            )
            if attempt < self.retries:
                time.sleep(delay)
                delay *= 2
        self.failed += 1
        return False

    def flush(self, timeout: float | None = None) -> bool:
        with self.idle:
            return self.idle.wait_for(lambda: self.pending == 0, timeout)

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)


def alerts_path(data_dir: Path | str, symbol: str) -> Path:
    return Path(data_dir).joinpath(*ALERTS_DIR, f"{normalize_symbol(symbol)}.jsonl")


def read_alerts(
    data_dir: Path | str, symbol: str, since: pd.Timestamp | None = None
) -> list[dict[str, Any]]:
    """The logged alerts of a symbol (oldest first), from ``since`` on."""
    path = alerts_path(data_dir, symbol)
    if not path.exists():
        return []
    out = []
    skipped = 0
    # errors="replace": one damaged byte costs that line, not the symbol's whole log
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        logged = _logged_alert(line)
        if logged is None:
            skipped += line.strip() != ""
        elif since is None or logged[1] >= since:
            out.append(logged[0])
    if skipped:
        logger.warning("%s: skipped %d unreadable line(s) of the alert log", path, skipped)
    return out


def _logged_alert(line: str) -> tuple[dict[str, Any], pd.Timestamp] | None:
    """One line of an alert log and its time, or None when it is not an alert (cut by a crash, damaged,
    or JSON of another shape): time (a UTC timestamp), probability (a number in [0, 1]) and
    level (a risk level) are checked, since /risk/{symbol} serves them."""
    try:
        alert = json.loads(line)
        if not isinstance(alert, dict) or alert.get("level") not in LEVEL_ORDER:
            return None
        probability = alert.get("probability")
        if isinstance(probability, bool) or not isinstance(probability, int | float):
            return None
        if not 0.0 <= probability <= 1.0:
            return None
        if not isinstance(alert.get("time"), str):
            return None
        time = pd.Timestamp(alert["time"])
        if pd.isna(time):
            return None
        time = time.tz_localize("UTC") if time.tzinfo is None else time.tz_convert("UTC")
    except (ValueError, TypeError, OverflowError):
        return None
    return alert, time


__all__ = ["Alert", "AlertManager", "AlertRules", "Webhook", "alerts_path", "read_alerts"]
