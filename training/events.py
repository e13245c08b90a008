"""Event study: did the risk rise before known flushes, and how often did it cry wolf elsewhere?

Events are days (UTC) from ``../shared/data/flush_events.csv`` or a user file with a
``date_utc`` column (YYYY-MM-DD; other columns are carried along as notes). For each event day
the data covers:

* the *onset* is the bar before the day's largest one-bar drop in close (when closes are
  given): the crash itself, and the last bar from which a forecast could still warn. Without
  closes, the first row of the day with a positive label, else the day's first row;
* ``max_p_6h`` is the highest probability over the rows in ``[onset - 6h, onset]``;
* ``lead_time_hours`` is how long before the onset the first alert in that window fired
  (``None``: no alert).

Elsewhere (outside ``[event day - 1 day, event day + 2 days)``), every alert episode counts
towards ``alerts_per_week_elsewhere``, and an episode with no positive label from its start to
one horizon after it towards ``false_alarms_per_week_elsewhere``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import DataError
from training.metrics import alert_episodes, covered_weeks

LOOKBACK = pd.Timedelta(hours=6)
EVENT_MARGIN_BEFORE = pd.Timedelta(days=1)
EVENT_MARGIN_AFTER = pd.Timedelta(days=2)


def load_events(path: Path | str) -> pd.DataFrame:
    """Event days from a CSV with a ``date_utc`` column, as midnight-UTC timestamps."""
    path = Path(path)
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


def _onset(day: pd.DataFrame) -> pd.Timestamp:
    if "close" in day and day["close"].notna().sum() > 1:
        # the bar before the day's largest one-bar drop: the forecast there was the last chance
        drops = day["close"].pct_change().shift(-1)
        if drops.notna().any():
            return drops.idxmin()
    positive = day.index[day["y"].to_numpy() > 0.5]
    return positive[0] if len(positive) else day.index[0]


def event_study(
    times: pd.DatetimeIndex,
    p: np.ndarray,
    y: np.ndarray,
    events: pd.DataFrame,
    threshold: float | np.ndarray,
    bar: pd.Timedelta,
    horizon: pd.Timedelta,
    close: pd.Series | None = None,
) -> dict[str, Any]:
    """Per covered event: onset, max probability in the 6 h before, lead time; and false alarms."""
    times = pd.DatetimeIndex(times).as_unit("ns")
    frame = pd.DataFrame({"p": np.asarray(p, float), "y": np.asarray(y, float)}, index=times)
    if close is not None:
        frame["close"] = close.reindex(times)
    alert = frame["p"].to_numpy() >= np.asarray(threshold)
    frame["alert"] = alert
    notes = [c for c in events.columns if c not in ("date", "date_utc")]
    rows: list[dict[str, Any]] = []
    near_event = np.zeros(len(frame), dtype=bool)
    for _, event in events.iterrows():
        day_start = event["date"]
        near_event |= (times >= day_start - EVENT_MARGIN_BEFORE) & (times < day_start + EVENT_MARGIN_AFTER)
        day = frame[(times >= day_start) & (times < day_start + pd.Timedelta(days=1))]
        record: dict[str, Any] = {"date": f"{day_start:%Y-%m-%d}"}
        record.update({c: _plain(event[c]) for c in notes})
        if day.empty:
            record["covered"] = False
            rows.append(record)
            continue
        onset = _onset(day)
        window = frame[(times >= onset - LOOKBACK) & (times <= onset)]
        fired = window.index[window["alert"].to_numpy()]
        record.update(
            covered=True,
            onset=str(onset),
            labelled=bool(day["y"].max() > 0.5),
            max_p_6h=float(window["p"].max()),
            p_at_onset=float(frame.at[onset, "p"]),
            first_alert=str(fired[0]) if len(fired) else None,
            lead_time_hours=(onset - fired[0]) / pd.Timedelta(hours=1) if len(fired) else None,
        )
        rows.append(record)
    elsewhere = ~near_event
    idx = times[elsewhere]
    starts = alert_episodes(idx, alert[elsewhere], bar)
    yv = frame["y"].to_numpy()[elsewhere]
    t_ns = idx.asi8
    false_alarms = 0
    for s in starts:
        until = t_ns[s] + horizon.value
        hit = yv[s : np.searchsorted(t_ns, until, side="right")].max() > 0.5
        false_alarms += 0 if hit else 1
    weeks = covered_weeks(idx, bar)
    return {
        "events": rows,
        "covered_events": sum(1 for r in rows if r.get("covered")),
        "weeks_elsewhere": weeks,
        "alerts_per_week_elsewhere": len(starts) / weeks if weeks > 0 else None,
        "false_alarms_per_week_elsewhere": false_alarms / weeks if weeks > 0 else None,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, float) and np.isnan(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


__all__ = ["LOOKBACK", "event_study", "load_events"]
