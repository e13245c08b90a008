"""The canonical frame's schema: what passes, and that every failure says where and why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError
from features.schema import COLUMNS, find_gaps, signal_groups, validate_frame
from tests.features.data_errors import fails_naming


def frame(n: int = 6, start: str = "2024-01-01", freq: str = "5min", **extra) -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="time")
    close = 100.0 + np.arange(n)
    data = {
        "open": close - 0.5,
        "high": close + 1,
        "low": close - 1,
        "close": close,
        "funding_rate": np.full(n, 0.0001),
    }
    data.update(extra)
    return pd.DataFrame(data, index=index)


def test_valid_frame_is_canonicalized_to_ns_utc_float64_in_canonical_order():
    raw = frame(volume_usd=np.arange(6, dtype="int64"), unknown=np.ones(6))
    raw = raw[["volume_usd", "close", "funding_rate", "open", "high", "low", "unknown"]]
    raw.index = raw.index.tz_convert(None).as_unit("us")  # naive, microseconds

    out = validate_frame(raw, "test")

    assert str(out.index.dtype) == "datetime64[ns, UTC]"
    assert out.index.name == "time"
    assert list(out.columns) == [c for c in COLUMNS if c in raw.columns]
    assert "unknown" not in out.columns
    assert (out.dtypes == "float64").all()
    assert out.index[0] == pd.Timestamp("2024-01-01", tz="UTC")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda f: f.drop(columns="funding_rate"), "funding_rate"),
        (lambda f: f.assign(funding_rate=np.nan), "funding_rate"),
        (lambda f: f.iloc[[0, 1, 1, 2]], "duplicate timestamps"),
        (lambda f: f.iloc[[0, 2, 1, 3]], "not increasing"),
        (
            lambda f: f.assign(funding_rate=[0.0001, 0.0001, 0.01 * 7, 0.0001, 0.0001, 0.0001]),
            "is it in percent",
        ),
        (lambda f: f.assign(close=[100.0, -1.0, 102.0, 103.0, 104.0, 105.0]), "positive USD price"),
        (lambda f: f.assign(high=f["low"] - 1), "high must be >= low"),
        (lambda f: f.assign(taker_buy_ratio=1.5), "[0, 1]"),
        (lambda f: f.iloc[0:0], "no rows"),
    ],
)
def test_invalid_frames_fail_naming_the_source_and_problem(mutate, expected):
    with fails_naming("my-file.csv", expected):
        validate_frame(mutate(frame()), "my-file.csv")


def test_range_failure_names_column_and_time():
    bad = frame().assign(funding_rate=[0.0001, 0.0001, 0.07, 0.0001, 0.0001, 0.0001])
    with pytest.raises(DataError) as err:
        validate_frame(bad, "src")
    assert "'funding_rate'" in str(err.value)
    assert "2024-01-01 00:10:00" in str(err.value)


def test_signal_groups_report_only_columns_with_data():
    f = frame(
        index_price=100.0,  # basis needs only the index price
        volume_usd=1.0,
        taker_buy_ratio=0.5,
        open_interest_usd=np.nan,  # present but empty: not a signal
        long_liq_usd=0.0,  # one half of a group is not enough
    )
    assert signal_groups(f) == ["price", "funding", "basis", "volume"]


def test_find_gaps_reports_each_gap_as_data():
    index = pd.DatetimeIndex(
        [
            "2024-01-01 00:00",
            "2024-01-01 01:00",
            "2024-01-01 04:00",
            "2024-01-01 05:00",
            "2024-01-01 07:00",
        ],
        tz="UTC",
    )
    gaps = find_gaps(index, "1h")
    assert gaps["missing_bars"].tolist() == [2, 1]
    assert gaps["start"].tolist() == [
        pd.Timestamp("2024-01-01 02:00", tz="UTC"),
        pd.Timestamp("2024-01-01 06:00", tz="UTC"),
    ]
    assert gaps["end"].tolist() == [
        pd.Timestamp("2024-01-01 03:00", tz="UTC"),
        pd.Timestamp("2024-01-01 06:00", tz="UTC"),
    ]
    assert find_gaps(index[:2], "1h").empty
