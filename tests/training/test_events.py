"""Event study: probability before known flush days, lead time, and false alarms elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError
from training.events import event_study, load_events

H = pd.Timedelta("1h")


def _series():
    t = pd.date_range("2025-10-01", "2025-10-31 23:00", freq="1h", tz="UTC")
    p = np.full(len(t), 0.01)
    y = np.zeros(len(t))
    onset = t.get_loc(pd.Timestamp("2025-10-10 20:00", tz="UTC"))
    y[onset] = 1
    p[onset - 3 : onset + 1] = [0.2, 0.4, 0.5, 0.6]  # alert from 3 h before the onset
    p[t.get_loc(pd.Timestamp("2025-10-25 05:00", tz="UTC"))] = 0.7  # one false alarm elsewhere
    return t, p, y


def test_per_event_max_probability_lead_time_and_false_alarms(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("date_utc,note\n2025-10-10,crash\n2024-01-01,not covered\n")
    t, p, y = _series()
    out = event_study(t, p, y, load_events(path), 0.3, H, H)
    covered = [e for e in out["events"] if e["covered"]]
    assert [e["date"] for e in covered] == ["2025-10-10"]
    event = covered[0]
    assert event["onset"].startswith("2025-10-10 20:00")
    assert event["max_p_6h"] == pytest.approx(0.6)
    assert event["lead_time_hours"] == pytest.approx(2.0)  # first alert (0.4) at 18:00
    weeks = (len(t) - 72) / (24 * 7)  # three days around the event are excluded
    assert out["false_alarms_per_week_elsewhere"] == pytest.approx(1 / weeks)


def test_an_event_without_alerts_has_no_lead_time(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("date_utc\n2025-10-10\n")
    t, p, y = _series()
    out = event_study(t, np.full(len(t), 0.01), y, load_events(path), 0.3, H, H)
    assert out["events"][0]["lead_time_hours"] is None and out["events"][0]["first_alert"] is None


def test_the_shared_events_file_loads():
    from tests.conftest import shared_file

    events = load_events(shared_file("flush_events.csv"))
    assert pd.Timestamp("2025-10-10", tz="UTC") in set(events["date"])


def test_a_bad_date_names_the_row(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("date_utc\n2025-10-10\nyesterday\n")
    with pytest.raises(DataError, match="row 3"):
        load_events(path)


def test_with_closes_the_onset_is_the_bar_before_the_days_largest_drop(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("date_utc\n2025-10-10\n")
    t, p, y = _series()
    close = pd.Series(100.0, index=t)
    close[close.index >= pd.Timestamp("2025-10-10 21:00", tz="UTC")] = 93.0  # -7 % from 20:00 to 21:00
    out = event_study(t, p, y, load_events(path), 0.3, H, H, close=close)
    assert out["events"][0]["onset"].startswith("2025-10-10 20:00")
