"""What the radar said before each past flush, counted the way the model's label is defined.

A flush (a *cascade*) is a run of positively labelled rows: the label of row t says that the
long liquidations in (t, t + horizon] reached the threshold, so a run of positive rows i..k
means the qualifying bars lie in [i + h, k + h] (h = the horizon in bars). Its size is the long
liquidations of all those bars, its peak the largest one: a $104M hour is never shown as the
$7.7M hour before it.

An **alert bar** is one the model's alert rule alerts on: a score at or above its alert
threshold and, for a model with a calm rule (:mod:`serving.alert_rule`), no squeeze of its label
running at that bar (one ended within the calm window before it). Bars at the level inside a
running squeeze are counted apart (``squeeze_bars``): the rule is silent there, as the model's
evaluation judged it.

A flush counts as **warned** only when an alert bar opened within the label's horizon before
the flush's first bar (the only scores whose label is about that flush) and strictly before it
(lead > 0): a score of the flush's own bar, known only after it closed, warns of nothing.
**False alarms** are the alert bars whose label window held no flush. Every figure uses
out-of-sample bars only: bars after the model's ``trained_until`` (the end of its training
data); a flush whose warning window reaches back into the training data is marked in-sample and
left out of the figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def cascades(
    index: pd.DatetimeIndex, labels: np.ndarray, liq: np.ndarray, h: int
) -> list[dict[str, Any]]:
    """Every run of positive labels as one flush: first bar, last bar, whole size and peak."""
    positive = labels == 1.0
    starts = np.flatnonzero(positive & ~np.concatenate([[False], positive[:-1]]))
    ends = np.flatnonzero(positive & ~np.concatenate([positive[1:], [False]]))
    out = []
    for i, k in zip(starts, ends, strict=True):
        first, last = i + h, min(k + h, len(index) - 1)
        if first >= len(index):
            continue
        span = liq[first : last + 1]
        j = first + int(np.argmax(span))
        out.append(
            {
                "time": index[j].isoformat(),  # the peak bar
                "start": index[first].isoformat(),
                "end": index[last].isoformat(),
                "bars": int(last - first + 1),
                "size": float(span.sum()),
                "peak_size": float(liq[j]),
            }
        )
    return out


def warned_record(
    events: list[dict[str, Any]],
    times: pd.DatetimeIndex,
    probability: np.ndarray,
    labels_at_scores: np.ndarray,
    alert_at: float | None,
    horizon: pd.Timedelta,
    step: pd.Timedelta,
    trained_until: pd.Timestamp | None,
    running: np.ndarray | None = None,
) -> dict[str, Any]:
    """Mark each event warned / in-sample (in place) and sum up the out-of-sample record.

    ``running``: per scored bar, whether a squeeze of the label was running (the calm rule is
    silent there); None: every bar at the level is an alert bar (a model without a calm rule).
    """
    oos = np.ones(len(times), dtype=bool) if trained_until is None else times > trained_until
    at_level = np.isfinite(probability) & (probability >= alert_at) if alert_at is not None else None
    alerting = at_level
    silenced = None
    if at_level is not None and running is not None:
        silenced = at_level & np.asarray(running, dtype=bool)
        alerting = at_level & ~silenced
    warned = in_window = 0
    for event in events:
        start = pd.Timestamp(event["start"])
        window_from = start - horizon
        event["in_sample"] = bool(trained_until is not None and window_from <= trained_until)
        event["warned"], event["lead_hours"] = None, None
        rows = np.flatnonzero((times >= window_from) & (times < start))
        if not event["in_sample"] and len(rows):
            in_window += 1  # a flush the scored history could have warned of
        if alerting is None:
            continue
        hits = rows[alerting[rows]]
        event["warned"] = bool(len(hits))
        if len(hits):
            event["lead_hours"] = (start - times[hits[0]]) / pd.Timedelta(hours=1)
        if not event["in_sample"] and len(rows):
            warned += bool(len(hits))
    false_alarms = None
    if alerting is not None:
        false_alarms = int((alerting & oos & (labels_at_scores == 0.0)).sum())
    weeks = int(oos.sum()) * step / pd.Timedelta(days=7)
    return {
        "alert_threshold": alert_at,
        "horizon_hours": horizon / pd.Timedelta(hours=1),
        "trained_until": None if trained_until is None else trained_until.isoformat(),
        "out_of_sample_bars": int(oos.sum()),
        "in_sample_bars": int((~oos).sum()),
        "events": in_window,
        "events_in_sample": sum(1 for e in events if e["in_sample"]),
        "warned": warned if alerting is not None else None,
        "warned_share": warned / in_window if alerting is not None and in_window else None,
        "false_alarms": false_alarms,
        "false_alarms_per_week": false_alarms / weeks if false_alarms is not None and weeks else None,
        "alert_bars": int((alerting & oos).sum()) if alerting is not None else None,
        "squeeze_bars": int((silenced & oos).sum()) if silenced is not None else None,
    }


__all__ = ["cascades", "warned_record"]
