"""The backtest's record: whole cascades, warned only within the label's horizon before the
flush's first bar (lead > 0), false alarms over the same history, out-of-sample bars only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from serving.backtest import cascades, warned_record

T = pd.date_range("2026-01-01", periods=24, freq="1h", tz="UTC")
H = pd.Timedelta(hours=1)


def _case():
    labels = np.zeros(len(T))
    labels[[5, 6]] = 1.0  # bars 6 and 7 qualify: one cascade
    labels[12] = 1.0  # bar 13
    labels[20] = 1.0  # bar 21
    labels[-1] = np.nan
    liq = np.zeros(len(T))
    liq[6], liq[7], liq[13], liq[21] = 7.72e6, 104.39e6, 3e6, 5e6
    return labels, liq


def test_a_cascade_is_shown_whole_with_its_peak_hour():
    labels, liq = _case()
    events = cascades(T, labels, liq, h=1)
    assert [e["start"] for e in events] == [T[6].isoformat(), T[13].isoformat(), T[21].isoformat()]
    first = events[0]
    assert first["size"] == 7.72e6 + 104.39e6 and first["peak_size"] == 104.39e6
    assert first["time"] == T[7].isoformat() and first["bars"] == 2


def test_warned_only_from_a_score_before_the_first_bar_within_the_horizon():
    labels, liq = _case()
    events = cascades(T, labels, liq, h=1)
    p = np.full(len(T), 0.01)
    p[5] = 0.2  # the bar before the first flush bar: warned 1 h ahead
    p[13] = 0.2  # the second flush's own bar: too late (and no flush follows it: a false alarm)
    p[11] = 0.2  # two bars before it: outside the 1 h horizon (bar 12 holds no flush: false alarm)
    p[2] = 0.2  # a false alarm
    record = warned_record(events, T, p, labels, 0.1, H, H, trained_until=None)
    assert [e["warned"] for e in events] == [True, False, False]
    assert events[0]["lead_hours"] == 1.0
    assert record["events"] == 3 and record["warned"] == 1
    assert record["warned_share"] == 1 / 3
    assert record["false_alarms"] == 3  # rows 2, 11 and 13; row 5 had a flush ahead
    assert record["alert_bars"] == 4


def test_only_out_of_sample_bars_and_flushes_count():
    labels, liq = _case()
    events = cascades(T, labels, liq, h=1)
    p = np.full(len(T), 0.01)
    p[[2, 5, 20]] = 0.2
    record = warned_record(events, T, p, labels, 0.1, H, H, trained_until=T[9])
    assert [e["in_sample"] for e in events] == [True, False, False]
    assert record["events"] == 2 and record["events_in_sample"] == 1
    assert record["warned"] == 1 and record["warned_share"] == 0.5  # bar 20 warned of bar 21
    assert record["false_alarms"] == 0  # the false alarm at row 2 lies in the training data
    assert record["out_of_sample_bars"] == 14 and record["in_sample_bars"] == 10


def test_without_an_alert_level_flushes_are_counted_but_none_is_called_warned():
    labels, liq = _case()
    events = cascades(T, labels, liq, h=1)
    record = warned_record(events, T, np.full(len(T), 0.5), labels, None, H, H, trained_until=None)
    assert record["events"] == 3 and record["warned"] is None and record["warned_share"] is None
    assert record["false_alarms"] is None and all(e["warned"] is None for e in events)
