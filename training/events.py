"""Event study on the data's own events: did the risk rise before each squeeze, and did it warn
before cascades START, not only once they run?

Events come from the data being evaluated: every out-of-fold row whose label is positive (a
squeeze in its forward window), with its size (the label strength: forward quantity over the
label threshold, 1 = just at the threshold), optionally only the ``top`` largest or those of at
least ``min_size``. Each event is

* an **onset** when no labelled squeeze ended within the previous ``onset_window`` (default
  6 h): the trader's question, "warn me before it starts";
* a **continuation** otherwise: the cascade is already running, and "it is happening" is easy.

The rule is :func:`features.labels.running_cascade`, the same that the onset label uses.

Per event: the probability of the event's row (the last forecast before its window starts),
the probability one hour before that, the highest probability in the ``lookback`` (6 h) up to
it, and the lead time of the first alert in that window (``None``: no alert).

Per predictor, each at its OWN threshold at the model's alert budget (:mod:`training.budget`:
chosen on its training rows to alert on the same share of hours as the model; the caller passes
those thresholds): the hit rate on onsets and on continuations (an alert in the look-back
window), and false alarms per week counted as alert HOURS whose own forecast window (the label
horizon) held no squeeze, per week of rows present. Counted in hours, a predictor cannot lower
its false alarms by staying on (a permanent alert is one long episode, but many false hours).
The model's onset hits are compared with every baseline's at that equal budget, with a day-block
bootstrap interval of the difference in onset hit rate (the days of the evaluated rows are
resampled, as in :mod:`training.protocol`).

The public flush list (package data ``training/data/flush_events.csv``, UTC days) adds a
per-day look only for the days inside the evaluated rows; days outside them are not mentioned,
and nothing is computed from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from features.errors import DataError
from training.metrics import alert_episodes, covered_weeks
from training.protocol import block_counts, block_ids

LOOKBACK = pd.Timedelta(hours=6)
ONSET_WINDOW = pd.Timedelta(hours=6)
TOP_EVENTS_SHOWN = 15


class EventOptions(BaseModel):
    """Which of the data's events are studied, and what counts as an onset."""

    model_config = ConfigDict(frozen=True)

    top: int | None = Field(None, ge=1, description="only the N largest events")
    min_size: float | None = Field(None, gt=0, description="only events of at least this label strength")
    onset_window: str = Field("6h", description="no squeeze in this long before: an onset")

    @property
    def onset_window_(self) -> pd.Timedelta:
        try:
            value = pd.Timedelta(self.onset_window)
        except ValueError:
            raise DataError(f"onset window {self.onset_window!r} is not a duration (e.g. 6h)") from None
        if value <= pd.Timedelta(0):
            raise DataError(f"onset window {self.onset_window!r} must be positive")
        return value


def public_events_path() -> Path:
    """The public flush list shipped inside the package (never a path beside the repository)."""
    return Path(str(resources.files("training") / "data" / "flush_events.csv"))


def load_events(path: Path | str | None = None) -> pd.DataFrame:
    """Event days from a CSV with a ``date_utc`` column (default: the packaged public list)."""
    path = Path(path) if path is not None else public_events_path()
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: cannot read the events file ({err})") from None
    if "date_utc" not in table.columns:
        raise DataError(f"{path}: missing column 'date_utc'; found {list(table.columns)}")
    dates = pd.to_datetime(table["date_utc"], errors="coerce", utc=True)
    bad = dates.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{path}: row {row + 2} has date_utc {table['date_utc'].iloc[row]!r}, not a YYYY-MM-DD date"
        )
    table = table.assign(date=dates.dt.floor("D").dt.as_unit("ns"))
    return table.drop_duplicates("date").sort_values("date").reset_index(drop=True)


def _false_alarms(t_ns: np.ndarray, alert: np.ndarray, y: np.ndarray, bar: pd.Timedelta) -> tuple[int, int]:
    """(alert episodes, false alarms): an episode is false when none of its alerting rows had a
    squeeze in its forecast window (every label 0 from its first to its last alerting row)."""
    starts = alert_episodes(pd.DatetimeIndex(t_ns, tz="UTC"), alert, bar)
    ends = np.r_[starts[1:], len(alert)][: len(starts)]
    false = 0
    for s, e in zip(starts, ends, strict=True):
        run = s + int(np.argmin(alert[s:e])) if not alert[s:e].all() else e  # first quiet row
        false += 0 if y[s:run].max() > 0.5 else 1
    return len(starts), false


def _hits(t_ns: np.ndarray, alert: np.ndarray, rows: np.ndarray, lookback: pd.Timedelta) -> np.ndarray:
    """Per event row: did an alert fire in the look-back window up to it?"""
    return np.array([alert[_lookback(t_ns, r, lookback)].any() for r in rows], dtype=bool)


def _top_rows(p: np.ndarray, count: int) -> np.ndarray:
    """Alerts on (at most) the ``count`` highest-probability rows: rows tied at the cut alert only
    when that stays within the count, so a flat predictor does not alert everywhere."""
    if count <= 0 or not len(p):
        return np.zeros(len(p), dtype=bool)
    cut = np.sort(p)[::-1][min(count, len(p)) - 1]
    alert = p >= cut
    return alert if alert.sum() <= count else p > cut


def _lookback(t_ns: np.ndarray, row: int, lookback: pd.Timedelta) -> slice:
    return slice(int(np.searchsorted(t_ns, t_ns[row] - lookback.value, side="left")), row + 1)


def event_study(
    times: pd.DatetimeIndex,
    predictions: dict[str, np.ndarray],
    y: np.ndarray,
    thresholds: float | np.ndarray | Mapping[str, np.ndarray],
    bar: pd.Timedelta,
    horizon: pd.Timedelta,
    *,
    size: np.ndarray | None = None,
    running: np.ndarray | None = None,
    model: str = "model",
    top: int | None = None,
    min_size: float | None = None,
    lookback: pd.Timedelta = LOOKBACK,
    onset_window: pd.Timedelta = ONSET_WINDOW,
    public: pd.DataFrame | None = None,
    close: pd.Series | None = None,
    resamples: int = 200,
    level: float = 0.90,
    seed: int = 0,
) -> dict[str, Any]:
    """The event study on out-of-fold rows (see the module docstring).

    ``predictions``: name -> probabilities on ``times`` (model and baselines). ``thresholds``:
    one value or one per row for every predictor, or name -> one per row (each predictor at its
    equal-budget cut, :func:`training.budget.equal_budget_thresholds`). ``size``: label
    strength per row (default 1 for every positive). ``running``: per row, whether a cascade was
    already running (a labelled squeeze ended within ``onset_window`` before it), from the FULL
    label series so that rows before the evaluated range count; default: computed from ``y``.
    """
    times = pd.DatetimeIndex(times).as_unit("ns")
    t_ns = times.asi8
    yv = np.asarray(y, dtype=float)
    sizes = np.where(yv > 0.5, 1.0, 0.0) if size is None else np.asarray(size, dtype=float)
    if running is None:
        from features.labels import running_from_labels

        running = running_from_labels(t_ns, yv, horizon, onset_window)
    running = np.asarray(running, dtype=bool)
    alerts = {
        name: np.asarray(p, dtype=float) >= np.broadcast_to(np.asarray(
            thresholds[name] if isinstance(thresholds, Mapping) else thresholds, dtype=float), yv.shape)
        for name, p in predictions.items()
    }

    rows = np.flatnonzero(yv > 0.5)
    if min_size is not None:
        rows = rows[sizes[rows] >= min_size]
    if top is not None:
        rows = rows[np.argsort(-sizes[rows], kind="mergesort")[:top]]
        rows = np.sort(rows)
    onset = ~running[rows]
    weeks = covered_weeks(times, bar)

    budget = int(alerts[model].sum())
    per_predictor: dict[str, dict[str, Any]] = {}
    for name, alert in alerts.items():
        hit = _hits(t_ns, alert, rows, lookback)
        episodes, false = _false_alarms(t_ns, alert, yv, bar)
        # the same number of alerting hours as the model: hit rates compared at equal cost
        same = _hits(t_ns, _top_rows(np.asarray(predictions[name], dtype=float), budget), rows, lookback)
        false_hours = int(np.sum(alert & (yv < 0.5)))
        per_predictor[name] = {
            "hits_by_event": hit,
            "onset_hits": int(hit[onset].sum()),
            "onset_hit_rate": float(hit[onset].mean()) if onset.any() else None,
            "continuation_hits": int(hit[~onset].sum()),
            "continuation_hit_rate": float(hit[~onset].mean()) if (~onset).any() else None,
            "alerts_per_week": episodes / weeks if weeks > 0 else None,
            "alert_share": float(alert.mean()) if len(alert) else None,
            "alert_hours_per_week": float(alert.sum()) / weeks if weeks > 0 else None,
            # alert hours whose forecast window held no squeeze: staying on cannot lower it
            "false_alarms_per_week": false_hours / weeks if weeks > 0 else None,
            "false_alarm_episodes_per_week": false / weeks if weeks > 0 else None,
            "onset_hit_rate_at_model_alert_hours": float(same[onset].mean()) if onset.any() and budget else None,
        }

    equal = _equal_budget(times, rows, onset, per_predictor, model, resamples, level, seed)
    for m in per_predictor.values():
        m.pop("hits_by_event")
    p_model = np.asarray(predictions[model], dtype=float)
    records = [_event_record(times, t_ns, r, p_model, alerts[model], sizes[r], bool(o), lookback)
               for r, o in zip(rows, onset, strict=True)]
    shown = sorted(records, key=lambda e: -e["size"])[:TOP_EVENTS_SHOWN]
    result: dict[str, Any] = {
        "source": _source_text(top, min_size),
        "lookback_hours": lookback / pd.Timedelta(hours=1),
        "onset_window_hours": onset_window / pd.Timedelta(hours=1),
        "events_total": len(rows),
        "onsets": int(onset.sum()),
        "continuations": int((~onset).sum()),
        "weeks": weeks,
        "predictors": per_predictor,
        "largest": shown,
        "equal_budget": equal,
        "summary": _summary(per_predictor, model, int(onset.sum()), int((~onset).sum()), equal),
        "public": _public_days(public, times, p_model, alerts[model], yv, close, lookback)
        if public is not None else None,
    }
    # compatibility with earlier reports: the model's figures under the old names
    result["covered_events"] = len(rows)
    result["false_alarms_per_week"] = per_predictor[model]["false_alarms_per_week"]
    return result


def _event_record(times: pd.DatetimeIndex, t_ns: np.ndarray, r: int, p: np.ndarray, alert: np.ndarray,
                  size: float, onset: bool, lookback: pd.Timedelta) -> dict[str, Any]:
    window = _lookback(t_ns, r, lookback)
    fired = np.flatnonzero(alert[window]) + window.start
    hour_before = int(np.searchsorted(t_ns, t_ns[r] - pd.Timedelta(hours=1).value, side="left"))
    exact = hour_before < r and t_ns[hour_before] == t_ns[r] - pd.Timedelta(hours=1).value
    return {
        "time": str(times[r]),
        "size": float(size),
        "kind": "onset" if onset else "continuation",
        "p": float(p[r]),
        "p_1h_before": float(p[hour_before]) if exact else None,
        "max_p_lookback": float(p[window].max()),
        "first_alert": str(times[fired[0]]) if len(fired) else None,
        "lead_time_hours": (t_ns[r] - t_ns[fired[0]]) / 3.6e12 if len(fired) else None,
    }


def _source_text(top: int | None, min_size: float | None) -> str:
    text = "every positive out-of-fold row"
    if min_size is not None:
        text += f" of size >= {min_size:g} x the label threshold"
    if top is not None:
        text = f"the {top} largest of " + text
    return text


def _rate(hits: int, rate: float | None, total: int) -> str:
    return "n/a" if rate is None else f"{hits}/{total} ({rate:.0%})"


def _summary(per: dict[str, dict[str, Any]], model: str, onsets: int, continuations: int,
             equal: dict[str, Any] | None = None) -> str:
    """One line: how the model warns before onsets, against the best baseline at equal budget."""
    m = per[model]
    text = (f"onsets: model warned before {_rate(m['onset_hits'], m['onset_hit_rate'], onsets)}, "
            f"continuations {_rate(m['continuation_hits'], m['continuation_hit_rate'], continuations)}, "
            f"false alarms {m['false_alarms_per_week'] or 0:.1f} h/week")
    best = (equal or {}).get("best_baseline")
    if best is not None:
        b = per[best]
        text += (f"; best baseline on onsets at the same alert budget: {best} "
                 f"{_rate(b['onset_hits'], b['onset_hit_rate'], onsets)} at "
                 f"{b['false_alarms_per_week'] or 0:.1f} false alarm h/week")
    return text


def _equal_budget(
    times: pd.DatetimeIndex, rows: np.ndarray, onset: np.ndarray, per: dict[str, dict[str, Any]],
    model: str, resamples: int, level: float, seed: int,
) -> dict[str, Any]:
    """The model's onset hits minus each baseline's (both at the same alert budget), with a
    day-block bootstrap interval of the difference in onset hit rate.

    The blocks are the UTC days of the evaluated rows (as in the protocol); an onset belongs to
    the day of its row. The best baseline is the one that warned before the most onsets.
    """
    onset_rows = rows[onset]
    total = len(onset_rows)
    out: dict[str, Any] = {"onsets": total, "level": level, "differences": {}, "best_baseline": None}
    if total == 0:
        return out
    ids = block_ids(times, "1D")
    n_blocks = int(ids.max()) + 1
    K = block_counts(n_blocks, resamples, seed)
    event_blocks = ids[onset_rows]
    count_w = K @ np.bincount(event_blocks, minlength=n_blocks).astype(float)
    hits_model = per[model]["hits_by_event"][onset]
    model_w = K @ np.bincount(event_blocks, weights=hits_model.astype(float), minlength=n_blocks)
    for name, m in per.items():
        if name == model:
            continue
        hits = m["hits_by_event"][onset]
        base_w = K @ np.bincount(event_blocks, weights=hits.astype(float), minlength=n_blocks)
        with np.errstate(invalid="ignore", divide="ignore"):
            draws = (model_w - base_w) / count_w
        finite = draws[np.isfinite(draws)]
        ci = ([float(v) for v in np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])]
              if len(finite) >= 10 else [None, None])
        out["differences"][name] = {
            "model_hits": int(hits_model.sum()),
            "baseline_hits": int(hits.sum()),
            "model_alert_share": per[model].get("alert_share"),
            "baseline_alert_share": m.get("alert_share"),
            "value": float((hits_model.sum() - hits.sum()) / total),
            "ci": ci,
        }
    if out["differences"]:
        out["best_baseline"] = max(out["differences"], key=lambda n: (out["differences"][n]["baseline_hits"],
                                                                       -out["differences"][n]["value"]))
    return out


def _day_onset(day: pd.DataFrame) -> pd.Timestamp:
    """The bar before the day's largest one-bar fall (the last chance to warn), else the first
    positive row, else the day's first row."""
    if "close" in day and day["close"].notna().sum() > 1:
        drops = day["close"].pct_change().shift(-1)
        if drops.notna().any():
            return drops.idxmin()
    positive = day.index[day["y"].to_numpy() > 0.5]
    return positive[0] if len(positive) else day.index[0]


def _public_days(
    events: pd.DataFrame, times: pd.DatetimeIndex, p: np.ndarray, alert: np.ndarray, y: np.ndarray,
    close: pd.Series | None, lookback: pd.Timedelta,
) -> dict[str, Any]:
    """The public list's days that fall inside the evaluated rows, and only those."""
    frame = pd.DataFrame({"p": p, "y": y, "alert": alert}, index=times)
    if close is not None:
        frame["close"] = close.reindex(times)
    notes = [c for c in events.columns if c not in ("date", "date_utc")]
    days = []
    for _, event in events.iterrows():
        start = event["date"]
        day = frame[(times >= start) & (times < start + pd.Timedelta(days=1))]
        if day.empty:
            continue  # outside the data: nothing to say about it
        onset = _day_onset(day)
        window = frame[(times >= onset - lookback) & (times <= onset)]
        fired = window.index[window["alert"].to_numpy()]
        days.append({
            "date": f"{start:%Y-%m-%d}",
            **{c: _plain(event[c]) for c in notes},
            "onset": str(onset),
            "labelled": bool(day["y"].max() > 0.5),
            "max_p_lookback": float(window["p"].max()),
            "p_at_onset": float(frame.at[onset, "p"]),
            "first_alert": str(fired[0]) if len(fired) else None,
            "lead_time_hours": (onset - fired[0]) / pd.Timedelta(hours=1) if len(fired) else None,
        })
    return {"days": days, "listed": len(events), "inside_data": len(days)}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and np.isnan(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


__all__ = ["LOOKBACK", "ONSET_WINDOW", "EventOptions", "event_study", "load_events", "public_events_path"]
