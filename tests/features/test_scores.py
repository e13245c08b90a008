"""The scores dataset: what the radar, `flushrisk score` and the pages share."""

from __future__ import annotations

import json
import multiprocessing as mp

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError
from features.scores import SCORE_COLUMNS, ScoreStore


def _scores(start: str, n: int, p: float = 0.1, bar: str = "1h") -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq=pd.Timedelta(bar), tz="UTC", name="time")
    return pd.DataFrame(
        {
            "probability": np.full(n, p),
            "risk_level": ["elevated"] * n,
            "drivers": [[{"feature": "funding_z_7d", "text": "funding rich", "value": 2.0}]] * n,
            "model": ["flushrisk-btc:v1"] * n,
            "label": ["long liquidations >= 5e6 USD in the next hour"] * n,
            "features_present": [60] * n,
            "warnings": [["stale_data"]] * n,
        },
        index=index,
    )


def test_round_trip_keeps_every_column_and_json(tmp_path):
    store = ScoreStore(tmp_path)
    assert store.write("BTC/USDT:USDT", "1h", _scores("2024-01-01", 5)) == 5
    out = store.read("BTC/USDT:USDT", "1h")
    assert list(out.columns) == list(SCORE_COLUMNS)
    assert len(out) == 5 and str(out.index.tz) == "UTC" and out.index.name == "time"
    assert json.loads(out["drivers"].iloc[0])[0]["text"] == "funding rich"
    assert json.loads(out["warnings"].iloc[0]) == ["stale_data"]
    assert out["features_present"].dtype == np.int64
    assert store.symbols("1h") == ["BTC-USDT-USDT"] and store.symbols("5m") == []
    assert (tmp_path / "_scores" / "BTC-USDT-USDT" / "1h").is_dir()


def test_overlapping_writes_deduplicate_and_newer_wins(tmp_path):
    store = ScoreStore(tmp_path)
    store.write("BTC", "1h", _scores("2024-01-01", 10, p=0.1))
    added = store.write("BTC", "1h", _scores("2024-01-01 05:00", 10, p=0.3))
    assert added == 5
    out = store.read("BTC", "1h")
    assert len(out) == 15 and out.index.is_unique and out.index.is_monotonic_increasing
    assert (out["probability"].iloc[:5] == 0.1).all() and (out["probability"].iloc[5:] == 0.3).all()


def test_rows_out_of_order_are_stored_in_time_order_and_the_last_row_of_a_time_wins(tmp_path):
    store = ScoreStore(tmp_path)
    store.write("BTC", "1h", _scores("2024-02-01", 3))  # the later month is written first
    earlier = _scores("2024-01-31 22:00", 2, p=0.2)
    rows = earlier.iloc[[1, 0, 0]].copy()  # 23:00, 22:00, 22:00 again with a newer score
    rows.iloc[2, rows.columns.get_loc("probability")] = 0.4
    assert store.write("BTC", "1h", rows) == 2
    out = store.read("BTC", "1h")
    assert out.index.is_monotonic_increasing and out.index.is_unique and len(out) == 5
    assert out["probability"].tolist() == [0.4, 0.2, 0.1, 0.1, 0.1]


def test_months_are_partitions_and_only_touched_ones_change(tmp_path):
    store = ScoreStore(tmp_path)
    store.write("BTC", "1h", _scores("2024-01-30", 72))  # spans January and February
    folder = store.path("BTC", "1h")
    assert sorted(p.name for p in folder.glob("month=*")) == ["month=2024-01", "month=2024-02"]
    january = {p: p.stat().st_mtime_ns for p in (folder / "month=2024-01").iterdir()}
    store.write("BTC", "1h", _scores("2024-02-05", 1))
    assert {p: p.stat().st_mtime_ns for p in (folder / "month=2024-01").iterdir()} == january
    window = store.read("BTC", "1h", start="2024-02-01", end="2024-02-01 03:00")
    assert len(window) == 4 and window.index[0] == pd.Timestamp("2024-02-01", tz="UTC")


def test_unknown_symbol_reads_empty_not_error(tmp_path):
    out = ScoreStore(tmp_path).read("ETH", "1h")
    assert out.empty and list(out.columns) == list(SCORE_COLUMNS)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [("probability", 1.5, r"probability must be in \[0, 1\]; row 1"), ("risk_level", "huge", "risk_level")],
)
def test_invalid_scores_are_refused_with_the_row(tmp_path, column, value, message):
    frame = _scores("2024-01-01", 3)
    frame.loc[frame.index[1], column] = value
    with pytest.raises(DataError, match=message):
        ScoreStore(tmp_path).write("BTC", "1h", frame)
    assert ScoreStore(tmp_path).read("BTC", "1h").empty


def test_off_grid_time_is_refused(tmp_path):
    frame = _scores("2024-01-01 00:30", 2)
    with pytest.raises(DataError, match="not bar open times of 1h"):
        ScoreStore(tmp_path).write("BTC", "1h", frame)


def _writer(root: str, offset: int) -> None:
    store = ScoreStore(root)
    for k in range(20):
        start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=2 * k + offset)
        store.write("BTC", "1h", _scores(str(start), 1))


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), k)) for k in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    out = ScoreStore(tmp_path).read("BTC", "1h")
    assert len(out) == 40 and out.index.is_unique
