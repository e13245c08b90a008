"""Event study on the data's own squeezes: onsets vs continuations, every predictor's hits and
false alarms, and the public flush list only where it falls inside the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError
from training.events import event_study, load_events, public_events_path

H = pd.Timedelta("1h")


def _series():
    """A month of hours: an onset at 10-10 20:00 followed by two continuation hours, a lone
    onset on 10-20 with no warning, and one false alarm on 10-25."""
    t = pd.date_range("2025-10-01", "2025-10-31 23:00", freq="1h", tz="UTC")
    p = np.full(len(t), 0.01)
    y = np.zeros(len(t))
    size = np.zeros(len(t))
    at = t.get_loc(pd.Timestamp("2025-10-10 20:00", tz="UTC"))
    y[at : at + 3] = 1
    size[at : at + 3] = [3.0, 2.0, 1.5]
    p[at - 3 : at + 3] = [0.2, 0.4, 0.5, 0.6, 0.7, 0.7]  # alert from 2 h before the onset
    lone = t.get_loc(pd.Timestamp("2025-10-20 05:00", tz="UTC"))
    y[lone], size[lone] = 1, 1.2
    p[t.get_loc(pd.Timestamp("2025-10-25 05:00", tz="UTC"))] = 0.7  # a false alarm
    return t, p, y, size, at


def test_onsets_and_continuations_are_scored_separately_for_every_predictor():
    t, p, y, size, _ = _series()
    persistence = np.where(np.r_[0, y[:-1]] > 0, 0.5, 0.01)  # alerts only once it runs
    out = event_study(t, {"model": p, "persistence": persistence}, y, 0.3, H, H, size=size)
    assert (out["events_total"], out["onsets"], out["continuations"]) == (4, 2, 2)
    model, pers = out["predictors"]["model"], out["predictors"]["persistence"]
    assert model["onset_hits"] == 1 and model["onset_hit_rate"] == pytest.approx(0.5)
    assert model["continuation_hit_rate"] == pytest.approx(1.0)
    assert pers["onset_hits"] == 0 and pers["continuation_hit_rate"] == pytest.approx(1.0)
    weeks = len(t) / (24 * 7)
    # false alarms count alert HOURS whose own forecast hour held no squeeze: the two hours of
    # early warning before the onset and the lone 10-25 alert (one episode of them is false)
    assert model["alerts_per_week"] == pytest.approx(2 / weeks)
    assert model["false_alarms_per_week"] == pytest.approx(3 / weeks)
    assert model["false_alarm_episodes_per_week"] == pytest.approx(1 / weeks)
    largest = out["largest"][0]
    assert largest["time"].startswith("2025-10-10 20:00") and largest["kind"] == "onset"
    assert largest["lead_time_hours"] == pytest.approx(2.0) and largest["max_p_lookback"] == pytest.approx(0.6)
    assert largest["p_1h_before"] == pytest.approx(0.5)
    assert "onsets: model warned before 1/2 (50%)" in out["summary"]
    # at the model's number of alerting hours (7), persistence's top hours still miss both onsets
    assert model["onset_hit_rate_at_model_alert_hours"] == pytest.approx(0.5)
    assert pers["onset_hit_rate_at_model_alert_hours"] == pytest.approx(0.0)
    assert "persistence 0/2" in out["summary"]


def test_top_n_keeps_the_largest_events():
    t, p, y, size, _ = _series()
    out = event_study(t, {"model": p}, y, 0.3, H, H, size=size, top=2)
    assert out["events_total"] == 2 and [e["size"] for e in out["largest"]] == [3.0, 2.0]


def test_a_cascade_running_before_the_evaluated_rows_makes_a_continuation():
    from features.labels import running_from_labels

    t, p, y, size, at = _series()
    full = y.copy()
    full[at - 2] = 1  # the full label series knew of a squeeze just before the onset
    running = running_from_labels(t, full, H, pd.Timedelta("6h"))
    out = event_study(t, {"model": p}, y, 0.3, H, H, size=size, running=running)
    assert out["onsets"] == 1 and out["continuations"] == 3


def test_public_days_outside_the_data_are_not_mentioned(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("date_utc,note\n2025-10-10,crash\n2021-05-19,not in the data\n")
    t, p, y, _, _ = _series()
    close = pd.Series(100.0, index=t)
    close[close.index >= pd.Timestamp("2025-10-10 21:00", tz="UTC")] = 93.0  # -7 % at 21:00
    out = event_study(t, {"model": p}, y, 0.3, H, H, public=load_events(path), close=close)
    public = out["public"]
    assert public["listed"] == 2 and public["inside_data"] == 1
    assert [d["date"] for d in public["days"]] == ["2025-10-10"]
    assert public["days"][0]["onset"].startswith("2025-10-10 20:00")
    assert public["days"][0]["note"] == "crash"
    # on data that holds none of the days, nothing is claimed about them
    t2 = pd.date_range("2030-01-01", periods=200, freq="1h", tz="UTC")
    none = event_study(t2, {"model": np.full(200, 0.01)}, np.zeros(200), 0.3, H, H, public=load_events(path))
    assert none["public"]["inside_data"] == 0 and none["public"]["days"] == []


def test_the_public_list_ships_inside_the_package():
    path = public_events_path()
    assert path.is_file() and "training" in path.parts
    events = load_events()
    assert pd.Timestamp("2025-10-10", tz="UTC") in set(events["date"])


def test_a_bad_date_names_the_row(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("date_utc\n2025-10-10\nyesterday\n")
    with pytest.raises(DataError, match="row 3"):
        load_events(path)
