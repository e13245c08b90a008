"""Alerts: tell a trader when a symbol enters the alert level, once, in words, and when it leaves.

Rules, per symbol:

* **fire** when the risk level reaches the alert level while the symbol is *armed* and, for a
  model with a calm alert rule, no squeeze of its label is running. The alert level is the
  model's own (``alert_rule``: ``elevated`` for a model trained now, ``high`` for one saved
  before the rule); a configured ``AlertRules.level`` (e.g. ``extreme``) may only raise it.
  A model trained now alerts in calm hours only (no squeeze of its label ended in the 6 h
  before: :mod:`serving.alert_rule`), as its evaluation judged it: a trader is warned before a
  squeeze starts, not told again that one is under way. While one runs no alert fires and the
  symbol stays armed; its alert text says the hour was calm ("no squeeze in the last 6 h");
* **resolve**: once the level falls below the alert level again, one "resolved" message says so
  (with the probability, bar time and price then);
* **re-arm** only after the level has fallen back to ``low`` (below ``elevated``): a
  probability wobbling around the threshold does not fire again and again (hysteresis);
* **cooldown**: after an alert, no other alert for the symbol for ``cooldown`` of radar time,
  even if it re-armed meanwhile.

Each alert says whether its data are live, replayed or simulated (``[REPLAY]``/``[SIMULATED]``
first in every text), the bar that was scored (its open time, UTC) and its close price, the
window the probability covers (``from``/``until``, UTC) and the horizon, the label, the level
crossed and where it starts, the top drivers in plain words (a level named twice at the same
distance, such as the 24 h and 7-day low, is one reason) and a link to the symbol's page.

State. Whether each symbol is armed, its open alert and the last bar it judged are kept in
``<data_dir>/_radar/alerts/state.json`` (written atomically before anything is sent), so a
restarted watcher that scores the same bar again does not alert twice. Every alert and resolved
message is appended to ``<data_dir>/_radar/alerts/<SYMBOL>.jsonl`` (which ``/risk/{symbol}``
shows).

Delivery. Each webhook is a channel with its own queue and thread, so a hanging or failing
receiver never delays another. A failed delivery is retried with backoff and logged; redirects
are followed only to the configured host (a redirect elsewhere is refused, so an alert never
reaches a host nobody configured). On exit, pending alerts get at most ``FLUSH_BOUND_S``
seconds; whatever was not delivered is written to ``<data_dir>/_radar/alerts/undelivered.jsonl``
with the reason, and counted in the watcher's final line.

Webhook formats: ``URL`` (generic JSON: the alert itself), ``slack:URL``, ``discord:URL``, and
``telegram:`` (the Bot API; token and chat id from ``FLUSHRISK_TELEGRAM_TOKEN`` and
``FLUSHRISK_TELEGRAM_CHAT``; ``telegram:URL`` overrides the API base URL, for tests).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pandas as pd
import requests
from filelock import FileLock

from features.atomic import write_text_atomic
from features.bars import parse_bar
from features.errors import DataError
from features.settings import get_settings
from features.store import normalize_symbol
from serving.alert_rule import LEVEL_ORDER, calm_text

logger = logging.getLogger("flushrisk.alerts")

ALERTS_DIR = ("_radar", "alerts")
STATE_FILE = "state.json"
UNDELIVERED_FILE = "undelivered.jsonl"
FORMATS = ("json", "slack", "discord", "telegram")
TELEGRAM_API = "https://api.telegram.org"
FLUSH_BOUND_S = 15.0
"""At most this many seconds are spent on pending alerts when the watcher stops."""
MAX_REDIRECTS = 3
MODE_TAGS = {"live": "", "replay": "[REPLAY] ", "simulated": "[SIMULATED] "}
"""The tag every text starts with: a replayed or simulated score never passes for a live one."""
_DISTANCE = re.compile(r"^(?P<head>.*? % (?:above|below)) (?P<level>.+)$")


def distinct_reasons(texts: Iterable[str]) -> list[str]:
    """Driver texts with repeats merged: two levels at the same distance ("1.2 % above its
    24 h low" and "1.2 % above its 7-day low") are one reason naming both levels."""
    out: list[str] = []
    heads: dict[str, int] = {}
    seen: set[str] = set()
    for text in texts:
        if not text or text in seen:
            continue
        seen.add(text)
        match = _DISTANCE.match(text)
        if match is None:
            out.append(text)
            continue
        head = match["head"]
        if head in heads:
            out[heads[head]] += f" and {match['level']}"
            continue
        heads[head] = len(out)
        out.append(text)
    return out


def _utc(ts: str | pd.Timestamp | None) -> str:
    return "?" if not ts else pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M UTC")


def _price(value: float | None) -> str:
    if value is None:
        return "price unknown"
    return f"price {value:,.2f}" if abs(value) >= 1 else f"price {value:.6g}"


@dataclass
class Alert:
    symbol: str
    time: str  # open time of the bar that was scored (UTC)
    probability: float
    level: str
    label: str
    drivers: list[str]
    link: str
    model: str = ""
    kind: str = "alert"  # "alert", or "resolved" when the level was left
    mode: str = "live"  # "live", "replay" or "simulated": where the data came from
    price: float | None = None  # close of the scored bar
    bar: str = ""
    horizon: str = ""  # how far ahead the probability looks, e.g. "1h"
    window_from: str | None = None  # the window the probability covers (UTC)
    window_until: str | None = None
    crossed: str = ""  # the level crossed (alert) or left (resolved)
    threshold: float | None = None  # the probability where that level starts
    resolves: str | None = None  # resolved: the bar time of the alert it ends
    calm_hours: float | None = None  # an onset alert: no squeeze of the label in these hours before

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["from"] = body.pop("window_from")
        body["until"] = body.pop("window_until")
        body["tag"] = MODE_TAGS.get(self.mode, "").strip(" []") or None
        return body

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Alert:
        names = set(cls.__dataclass_fields__)
        data = {k: v for k, v in body.items() if k in names}
        data["window_from"], data["window_until"] = body.get("from"), body.get("until")
        return cls(**data)

    def text(self) -> str:
        tag = MODE_TAGS.get(self.mode, "")
        scored = f"bar {_utc(self.time)}, {_price(self.price)}"
        level = (
            f"{self.crossed} level (from {self.threshold:.1%})"
            if self.threshold is not None
            else f"{self.crossed} level"
        )
        about = self.label or "a large long squeeze"
        if self.kind == "resolved":
            return (
                f"{tag}FlushRisk: {self.symbol} resolved: left the {level}, now "
                f"{self.level.upper()} at {self.probability:.1%} probability of {about} "
                f"({scored}). The alert of {_utc(self.resolves)} is over. {self.link}"
            )
        window = (
            f" in {_utc(self.window_from)} .. {_utc(self.window_until)}"
            if self.window_from and self.window_until
            else f" within {self.horizon}" if self.horizon else ""
        )
        reasons = "; ".join(self.drivers[:3]) or "no single driver stands out"
        calm = f"; {calm_text(self.calm_hours)}" if self.calm_hours is not None else ""
        return (
            f"{tag}FlushRisk: {self.symbol} is at {self.level.upper()} flush risk: "
            f"{self.probability:.1%} probability of {about}{window} "
            f"({scored}; crossed the {level}{calm}). Why: {reasons}. {self.link}"
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

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

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
        return self.url, {"type": f"flushrisk.{alert.kind}", "text": alert.text(), **alert.as_dict()}


@dataclass
class _SymbolState:
    armed: bool = True
    last_fired: str | None = None  # bar time of the last alert
    active: str | None = None  # bar time of the alert not yet resolved
    active_level: str | None = None
    seen: str | None = None  # the last bar judged: a bar at or before it is not judged again


@dataclass
class AlertRules:
    level: str | None = None
    """None: the model's own alert level; a level here only raises it (e.g. ``extreme``)."""
    rearm_below: str = "elevated"
    cooldown: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(hours=1))


class _Stopped(Exception):
    """Delivery gave up because the manager is closing."""


class Channel:
    """One webhook's queue and delivery thread: a slow receiver only delays itself."""

    def __init__(self, hook: Webhook, manager: AlertManager) -> None:
        self.hook = hook
        self.manager = manager
        self.queue: queue.Queue = queue.Queue()
        self.pending: list[Alert] = []  # queued or being sent, oldest first
        self.lock = threading.Condition()
        self.session = requests.Session()
        self.thread = threading.Thread(
            target=self._loop, name=f"alerts-{hook.kind}-{hook.host}", daemon=True
        )
        self.thread.start()

    def put(self, alert: Alert) -> None:
        with self.lock:
            self.pending.append(alert)
        self.queue.put(alert)

    def _loop(self) -> None:
        while True:
            alert = self.queue.get()
            if alert is None:
                return
            try:
                self.manager._deliver(self, alert)
            except _Stopped:
                return  # still pending: close() records it as not delivered
            except Exception as err:  # noqa: BLE001 - one bad alert never stops a channel
                logger.error("alert to %s failed: %s", self.hook.kind, err)
            with self.lock:
                if alert in self.pending:
                    self.pending.remove(alert)
                self.lock.notify_all()

    def wait(self, deadline: float | None) -> bool:
        with self.lock:
            while self.pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self.lock.wait(left)
            return True


class AlertManager:
    """Decides when to alert (hysteresis, cooldown, persisted state), logs, delivers per channel."""

    def __init__(
        self,
        webhooks: Iterable[Webhook],
        data_dir: Path | str,
        page_url: str | None = None,
        rules: AlertRules | None = None,
        retries: int = 4,
        backoff_s: float = 1.0,
        timeout_s: float = 5.0,
        mode: str = "live",
    ) -> None:
        self.data_dir = Path(data_dir)
        # the served pages: where `flushrisk serve` listens by the same settings, unless given
        self.page_url = (page_url or get_settings().service_url).rstrip("/")
        self.rules = rules or AlertRules()
        if (self.rules.level is not None and self.rules.level not in LEVEL_ORDER) or (
            self.rules.rearm_below not in LEVEL_ORDER
        ):
            raise DataError(f"alert levels must be among {list(LEVEL_ORDER)}")
        if mode not in MODE_TAGS:
            raise DataError(f"alert mode must be one of {list(MODE_TAGS)}, not {mode!r}")
        self.mode = mode
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.delivered = 0
        self.failed = 0
        self.undelivered = 0
        self.stopping = threading.Event()
        self.state_path = self.data_dir.joinpath(*ALERTS_DIR, STATE_FILE)
        self.state: dict[str, _SymbolState] = self._load_state()
        self.channels = [Channel(hook, self) for hook in webhooks]

    @property
    def webhooks(self) -> list[Webhook]:
        return [c.hook for c in self.channels]

    @classmethod
    def from_urls(cls, specs: Iterable[str], data_dir: Path | str, **kwargs: Any) -> AlertManager:
        return cls([Webhook.parse(s) for s in specs], data_dir, **kwargs)

    # -- state ---------------------------------------------------------------------------
    def _load_state(self) -> dict[str, _SymbolState]:
        try:
            body = json.loads(self.state_path.read_text())
            return {s: _SymbolState(**v) for s, v in body.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError) as err:
            logger.warning("alert state %s unreadable (%s): starting armed", self.state_path, err)
            return {}

    def _save_state(self) -> None:
        body = {s: asdict(v) for s, v in self.state.items()}
        write_text_atomic(self.state_path, json.dumps(body, separators=(",", ":")))

    # -- deciding ------------------------------------------------------------------------
    def on_scored(self, scored: Iterable[Any]) -> list[Alert]:
        """Feed the radar's new scores (ScoredBar); returns the alerts and resolved messages."""
        fired = []
        for s in scored:
            alert = self.observe(
                s.symbol,
                s.time,
                s.probability,
                s.risk_level,
                s.label,
                s.drivers,
                s.model,
                price=getattr(s, "price", None),
                bar=getattr(s, "bar", ""),
                horizon=getattr(s, "horizon", ""),
                thresholds=getattr(s, "thresholds", None),
                alert_level=getattr(s, "alert_level", "high"),
                calm_hours=getattr(s, "calm_hours", None),
                running=getattr(s, "squeeze_running", None),
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
        price: float | None = None,
        bar: str = "",
        horizon: str = "",
        thresholds: dict[str, float] | None = None,
        alert_level: str = "high",
        calm_hours: float | None = None,
        running: bool | None = None,
    ) -> Alert | None:
        """Judge one scored bar; returns the alert or resolved message it gives, if any.

        ``alert_level`` and ``calm_hours`` are the scoring model's alert rule; ``running``
        whether a squeeze of its label is running at this bar (None: not known, the level
        alone decides, and the text claims no calm).
        """
        state = self.state.setdefault(symbol, _SymbolState())
        alert_at = self.alert_level(alert_level)
        t = pd.Timestamp(time_)
        if state.seen is not None and t <= pd.Timestamp(state.seen):
            return None  # judged before (a restarted watcher scoring the bar again)
        before = asdict(state)
        state.seen = t.isoformat()
        rank = LEVEL_ORDER.get(level, 0)
        alert = None
        if state.active is not None and rank < LEVEL_ORDER[state.active_level or alert_at]:
            alert = self._make(
                "resolved", symbol, t, probability, level, label, [], model, price, bar,
                horizon, state.active_level or alert_at, thresholds,
            )
            alert.resolves, state.active, state.active_level = state.active, None, None
        if rank < LEVEL_ORDER[self.rules.rearm_below]:
            state.armed = True
        cooling = state.last_fired is not None and (
            t <= pd.Timestamp(state.last_fired)
            or t - pd.Timestamp(state.last_fired) < self.rules.cooldown
        )
        calm_rule = calm_hours is not None
        if rank >= LEVEL_ORDER[alert_at] and state.armed and not cooling and not (
            calm_rule and running
        ):  # a running squeeze is no onset: no alert, still armed for the next calm hour
            state.armed = False
            state.last_fired = state.active = t.isoformat()
            state.active_level = alert_at
            reasons = distinct_reasons(d.get("text") or d.get("feature", "") for d in drivers or [])
            alert = self._make(
                "alert", symbol, t, probability, level, label, reasons[:3], model, price, bar,
                horizon, alert_at, thresholds,
            )
            if calm_rule and running is False:
                alert.calm_hours = float(calm_hours)
        changed = {k: v for k, v in asdict(state).items() if k != "seen"} != {
            k: v for k, v in before.items() if k != "seen"
        }
        if changed:  # persisted before anything is sent: a restart never repeats it
            self._save_state()
        if alert is not None:
            self._log(alert)
            for channel in self.channels:
                channel.put(alert)
        return alert

    def alert_level(self, model_level: str) -> str:
        """The level alerts fire from: the model's, or the configured one when higher."""
        level = model_level if model_level in LEVEL_ORDER else "high"
        configured = self.rules.level
        if configured is not None and LEVEL_ORDER[configured] > LEVEL_ORDER[level]:
            return configured
        return level

    def _make(
        self,
        kind: str,
        symbol: str,
        t: pd.Timestamp,
        probability: float,
        level: str,
        label: str,
        reasons: list[str],
        model: str,
        price: float | None,
        bar: str,
        horizon: str,
        crossed: str,
        thresholds: dict[str, float] | None,
    ) -> Alert:
        window_from = window_until = None
        if bar and horizon:
            start = t + parse_bar(bar)
            window_from, window_until = start.isoformat(), (start + pd.Timedelta(horizon)).isoformat()
        threshold = (thresholds or {}).get(crossed)
        return Alert(
            symbol=symbol,
            time=t.isoformat(),
            probability=float(probability),
            level=level,
            label=label,
            drivers=reasons,
            link=f"{self.page_url}/symbol/{symbol}",
            model=model,
            kind=kind,
            mode=self.mode,
            price=None if price is None else float(price),
            bar=bar,
            horizon=horizon,
            window_from=window_from,
            window_until=window_until,
            crossed=crossed,
            threshold=None if threshold is None else float(threshold),
        )

    # -- logging -------------------------------------------------------------------------
    def _log(self, alert: Alert) -> None:
        path = alerts_path(self.data_dir, alert.symbol)
        _append(path, alert.as_dict())
        logger.warning("ALERT %s", alert.text())

    # -- delivering ----------------------------------------------------------------------
    def _post(self, channel: Channel, url: str, body: dict[str, Any]) -> requests.Response:
        """POST, following redirects only on the configured host (never elsewhere)."""
        for _ in range(MAX_REDIRECTS + 1):
            response = channel.session.post(
                url, json=body, timeout=(min(3.05, self.timeout_s), self.timeout_s),
                allow_redirects=False,
            )
            if not response.is_redirect:
                return response
            target = urljoin(url, response.headers.get("Location", ""))
            if urlsplit(target).netloc != channel.hook.host:
                raise _OffHost(urlsplit(target).netloc or target)
            url = target
        raise _OffHost("too many redirects")

    def _deliver(self, channel: Channel, alert: Alert) -> bool:
        hook = channel.hook
        delay = self.backoff_s
        for attempt in range(1, self.retries + 1):
            try:
                url, body = hook.request(alert)
                response = self._post(channel, url, body)
                if response.status_code < 300:
                    self.delivered += 1
                    return True
                problem = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    logger.error("alert to %s refused (%s): not retried", hook.kind, problem)
                    break
            except _OffHost as err:
                logger.error(
                    "alert to %s not sent: the receiver redirected to another host (%s); "
                    "redirects are followed only on %s",
                    hook.kind, err, hook.host,
                )
                break
            except DataError as err:
                logger.error("alert to %s not sent: %s", hook.kind, err)
                break
            except requests.RequestException as err:
                problem = type(err).__name__
            logger.warning(
                "alert for %s to %s (%s) failed (%s), attempt %d/%d",
                alert.symbol, hook.kind, hook.host, problem, attempt, self.retries,
            )
            if attempt < self.retries and self.stopping.wait(delay):
                raise _Stopped
            delay *= 2
        self.failed += 1
        self._record_undelivered(channel, [alert], "delivery failed")
        return False

    def _record_undelivered(self, channel: Channel, alerts: list[Alert], reason: str) -> None:
        path = self.data_dir.joinpath(*ALERTS_DIR, UNDELIVERED_FILE)
        for alert in alerts:
            self.undelivered += 1
            _append(
                path,
                {"channel": channel.hook.kind, "host": channel.hook.host, "reason": reason,
                 "alert": alert.as_dict()},
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every channel has sent (or given up on) what it holds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        return all(channel.wait(deadline) for channel in self.channels)

    def close(self, timeout: float = FLUSH_BOUND_S) -> int:
        """Deliver what is pending within ``timeout`` seconds, then stop; what was not
        delivered by then is recorded in undelivered.jsonl. Returns how many were not."""
        self.flush(timeout)
        self.stopping.set()
        left = 0
        for channel in self.channels:
            with channel.lock:
                pending = list(channel.pending)
                channel.pending.clear()
            if pending:
                left += len(pending)
                self._record_undelivered(
                    channel, pending, f"not delivered within {timeout:g} s of stopping"
                )
            channel.queue.put(None)
        if left:
            logger.error(
                "%d alert message(s) not delivered before exit: recorded in %s",
                left, self.data_dir.joinpath(*ALERTS_DIR, UNDELIVERED_FILE),
            )
        return left


class _OffHost(Exception):
    """A receiver redirected off the configured host."""


def _append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, separators=(",", ":")) + "\n"
    with FileLock(str(path) + ".lock"), path.open("a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


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


__all__ = [
    "Alert",
    "AlertManager",
    "AlertRules",
    "Webhook",
    "alerts_path",
    "distinct_reasons",
    "read_alerts",
]
