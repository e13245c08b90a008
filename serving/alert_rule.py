"""The served model's alert rule, as every serving surface applies and words it.

A model trained now alerts from its ``alert_rule`` level ("elevated") and only in *calm* hours:
no squeeze of its own label ended within the calm window (6 h) before the hour
(:attr:`models.flush_model.FlushModel.alert_rule`, :func:`features.labels.running_cascade`).
While a squeeze runs, "it is happening" is on the tape: no new alert hour is spent, and the
pages say "squeeze under way" instead. A model saved before the rule alerts from "high" in every
hour. The walk-forward judged the model by exactly this rule, so radar alerts, the backtest
record, /risk rows and the model card use it too: none of them claims more than was measured.

"Running" at a bar needs only the label's own columns over the last calm window + label horizon
+ a bar (+ the proxy label's volatility window): :class:`RecentBars` keeps that tape per symbol
in the radar (appending is a numpy row copy; the store is written behind and may lag), and it is
read only for symbols at or above the alert level.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from features.errors import FlushRiskError
from features.labels import LabelSpec, running_at_last, running_cascade
from models.flush_model import RISK_LEVELS

LEVEL_ORDER = {level: k for k, level in enumerate(RISK_LEVELS)}

def label_inputs(spec: LabelSpec | None) -> tuple[str, ...]:
    """The bar columns a label is made from: long liquidations (and open interest for a
    threshold relative to it), or close and low (and open interest for an OI-drop condition).
    All that "is a squeeze running?" reads: what a radar tape keeps, what /predict asks for."""
    if spec is None or spec.kind == "liquidation":
        fixed = spec is None or spec.threshold_usd is not None
        return ("long_liq_usd",) if fixed else ("long_liq_usd", "open_interest_usd")
    return ("close", "low") if spec.oi_drop_pct is None else ("close", "low", "open_interest_usd")


def label_spec(model: Any) -> LabelSpec:
    """The model's label as a LabelSpec (the default label when the model records none)."""
    return LabelSpec.model_validate(dict(model.label_spec or {}))


def rule_of(model: Any) -> dict[str, Any]:
    """The model's alert rule in JSON: level, calm hours (None: every hour) and one line of text."""
    rule = dict(model.alert_rule)
    return {"level": rule["level"], "calm_hours": rule["calm_hours"], "text": rule_text(rule)}


def rule_text(rule: dict[str, Any]) -> str:
    """'from elevated, in calm hours only (no squeeze of its label in the last 6 h)' or, for a
    model saved before the rule, 'every hour, from high'."""
    if rule.get("calm_hours") is None:
        return f"every hour, from {rule.get('level', 'high')}"
    return (
        f"from {rule['level']}, in calm hours only (no squeeze of its label in the last "
        f"{hours_text(rule['calm_hours'])}); while a squeeze runs no new alert is given"
    )


def calm_text(hours: float | None) -> str:
    """What an onset alert says about the hours before it."""
    return "" if hours is None else f"no squeeze in the last {hours_text(hours)}"


def hours_text(hours: float | pd.Timedelta) -> str:
    """'6 h': how every alert text says a number of hours (or a duration)."""
    if isinstance(hours, pd.Timedelta):
        hours = hours / pd.Timedelta(hours=1)
    return f"{float(hours):g} h"


def tape_span(spec: LabelSpec, calm: pd.Timedelta, step: pd.Timedelta) -> pd.Timedelta:
    """How much history "running" at a bar reads: the calm window, the label's horizon and a
    bar, plus the proxy label's trailing-volatility window (its label at a bar needs it)."""
    span = calm + pd.Timedelta(spec.horizon) + step
    if spec.kind == "proxy":
        span += pd.Timedelta(spec.vol_window)
    return span


class AlertParts(NamedTuple):
    """A model's alert rule, read once: what /predict, the radar and /scores' backtest apply."""

    level: str
    """The risk level it alerts from."""
    calm: pd.Timedelta | None
    """The calm window (None: the legacy rule, every hour)."""
    spec: LabelSpec | None
    """Its label (None: no calm rule, or a label that cannot be read: running is not known)."""
    span: pd.Timedelta | None
    """How much history "running" at a bar reads (:func:`tape_span`; None with ``spec``)."""


def alert_parts(model: Any, step: pd.Timedelta) -> AlertParts:
    """The model's rule for bars of ``step``: level, calm window, label and tape span."""
    level, calm = str(model.alert_rule["level"]), model.calm_window
    if calm is None:
        return AlertParts(level, None, None, None)
    try:
        spec = label_spec(model)
    except (ValueError, TypeError):
        return AlertParts(level, calm, None, None)
    return AlertParts(level, calm, spec, tape_span(spec, calm, step))


def running_series(
    frame: pd.DataFrame,
    model: Any,
    bar: str | pd.Timedelta | None = None,
    spec: LabelSpec | None = None,
) -> np.ndarray | None:
    """Per row of a canonical frame: is a squeeze of the model's label running (known at the
    row)? None when the model has no calm rule or the frame cannot make its label. ``spec``:
    the model's label, when the caller holds it already (validated once, not per bar)."""
    return _by_rule(
        frame, model, spec,
        lambda s, calm: running_cascade(frame, s, calm, bar).to_numpy(dtype=bool),
    )


def running_now(
    frame: pd.DataFrame, model: Any, bar: pd.Timedelta, spec: LabelSpec | None = None
) -> bool | None:
    """Is a squeeze of the model's label running at the frame's last bar? None when the model
    has no calm rule, or the bars cannot tell (a counted bar or its label missing:
    :func:`features.labels.running_at_last`), so that no surface calls such an hour calm."""
    return _by_rule(frame, model, spec, lambda s, calm: running_at_last(frame, s, calm, bar))


def _by_rule(
    frame: pd.DataFrame | None,
    model: Any,
    spec: LabelSpec | None,
    judge: Callable[[LabelSpec, pd.Timedelta], Any],
) -> Any:
    """``judge(label, calm window)`` of a model with a calm rule on a non-empty frame; None
    otherwise, or when the frame cannot make the label."""
    calm = model.calm_window
    if calm is None or frame is None or frame.empty:
        return None
    try:
        return judge(label_spec(model) if spec is None else spec, calm)
    except (FlushRiskError, ValueError, TypeError):
        return None


class RecentBars:
    """Per symbol, the last bars of its label's columns (:func:`label_inputs`), for "is a
    squeeze running?".

    Appending copies one row into a numpy array (no DataFrame is built); :meth:`frame` builds
    the small frame :func:`features.labels.running_cascade` reads only when asked. A symbol's
    tape starts from the store (``seed``, called once, the first time it is asked: bars
    before the watcher started) and from then on holds what the radar saw.
    """

    def __init__(
        self,
        step: pd.Timedelta,
        seed: Callable[[str, pd.Timestamp, pd.Timestamp], pd.DataFrame] | None = None,
    ) -> None:
        self.step = step
        self.seed = seed
        self._tapes: dict[str, _Tape] = {}
        self._positions: dict[str, tuple[Any, np.ndarray]] = {}

    def append(
        self, symbol: str, bars: pd.DataFrame, span: pd.Timedelta, columns: tuple[str, ...]
    ) -> None:
        """Add a symbol's new bars (a canonical frame, usually one row); ``span`` and
        ``columns``: how far back and which of the label's columns its tape keeps."""
        tape = self._tapes.get(symbol)
        if tape is None:
            tape = self._tapes[symbol] = _Tape(max(2, int(span / self.step) + 1), columns)
        tape.add(bars.index.asi8 if bars.index.unit == "ns" else bars.index.as_unit("ns").asi8,
                 self._values(symbol, bars, tape.columns))

    def frame(self, symbol: str, end: pd.Timestamp, span: pd.Timedelta) -> pd.DataFrame | None:
        """The tape up to ``end`` as a canonical frame of the label's columns (None: nothing)."""
        tape = self._tapes.get(symbol)
        if tape is None:
            return None
        if not tape.seeded:
            tape.seeded = True
            self._seed(symbol, tape, end, span)
        times, values = tape.view()  # increasing: the window is a slice, not a mask
        lo, hi = np.searchsorted(times, [(end - span).value, end.value], side="right")
        if hi <= lo:
            return None
        index = pd.DatetimeIndex(times[lo:hi].view("M8[ns]"), tz="UTC")
        return pd.DataFrame(values[lo:hi], index=index, columns=tape.index, copy=True)

    def _seed(self, symbol: str, tape: _Tape, end: pd.Timestamp, span: pd.Timedelta) -> None:
        """Put the stored bars before the tape's first bar in front of it (once per symbol)."""
        if self.seed is None:
            return
        times, _ = tape.view()
        first = pd.Timestamp(int(times[0]), tz="UTC") if len(times) else end + self.step
        try:
            stored = self.seed(symbol, end - span, first - self.step)
        except (FlushRiskError, OSError, ValueError):
            return  # unknown history: the tape alone (running only from what the radar saw)
        if stored is None or stored.empty:
            return
        stored = stored[stored.index < first]
        if len(stored):
            tape.prepend(
                stored.index.as_unit("ns").asi8,
                self._values(symbol, stored, tape.columns, cache=False),
            )

    def _values(
        self, symbol: str, bars: pd.DataFrame, columns: tuple[str, ...], cache: bool = True
    ) -> np.ndarray:
        """The label's columns of ``bars`` (NaN where absent), positions looked up once per
        symbol and column layout."""
        known = self._positions.get(symbol) if cache else None
        if known is None or not (bars.columns is known[0] or bars.columns.equals(known[0])):
            positions = np.array(
                [bars.columns.get_loc(c) if c in bars.columns else -1 for c in columns]
            )
            known = (bars.columns, positions)
            if cache:
                self._positions[symbol] = known
        positions = known[1]
        try:
            raw = bars.to_numpy(dtype=np.float64)
        except (TypeError, ValueError):  # a non-numeric column: the label's columns alone
            raw = np.column_stack(
                [pd.to_numeric(bars.iloc[:, p], errors="coerce").to_numpy(np.float64) if p >= 0
                 else np.full(len(bars), np.nan) for p in positions]
            )
            return raw
        out = raw[:, np.maximum(positions, 0)]
        out[:, positions < 0] = np.nan
        return out


class _Tape:
    """The last ``size`` rows of (time, values), in an array a quarter longer: an append is a
    row copy; the rows before the last ``size`` are dropped when the array is full (one copy of
    ``size`` rows per ``size / 4`` appends)."""

    def __init__(self, size: int, columns: tuple[str, ...]) -> None:
        self.size = size
        self.columns = columns
        self.index = pd.Index(columns)  # built once: a list is inferred anew on every frame
        room = size + max(size // 4, 16)
        self.times = np.zeros(room, dtype=np.int64)
        self.values = np.full((room, len(columns)), np.nan)
        self.n = 0
        self.seeded = False

    def add(self, times: np.ndarray, values: np.ndarray) -> None:
        if len(times) >= self.size:
            times, values = times[-self.size:], values[-self.size:]
        if self.n and len(times) and times[0] <= self.times[self.n - 1]:  # a bar seen again
            keep = times > self.times[self.n - 1]
            times, values = times[keep], values[keep]
        k = len(times)
        if not k:
            return
        if self.n + k > len(self.times):
            keep = self.size - k
            self.times[:keep] = self.times[self.n - keep : self.n]
            self.values[:keep] = self.values[self.n - keep : self.n]
            self.n = keep
        self.times[self.n : self.n + k] = times
        self.values[self.n : self.n + k] = values
        self.n += k

    def prepend(self, times: np.ndarray, values: np.ndarray) -> None:
        room = self.size - self.n
        if room <= 0:
            return
        times, values = times[-room:], values[-room:]
        k = len(times)
        self.times[k : k + self.n] = self.times[: self.n].copy()
        self.values[k : k + self.n] = self.values[: self.n].copy()
        self.times[:k], self.values[:k] = times, values
        self.n += k

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        lo = max(0, self.n - self.size)
        return self.times[lo : self.n], self.values[lo : self.n]


def at_or_above(level: str, alert_level: str) -> bool:
    """Whether a risk level reaches the alert level."""
    return LEVEL_ORDER.get(level, 0) >= LEVEL_ORDER.get(alert_level, 2)


__all__ = [
    "LEVEL_ORDER",
    "AlertParts",
    "RecentBars",
    "alert_parts",
    "at_or_above",
    "calm_text",
    "hours_text",
    "label_inputs",
    "label_spec",
    "rule_of",
    "rule_text",
    "running_now",
    "running_series",
    "tape_span",
]
