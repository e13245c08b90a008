"""The partitioned store: month partitions, locked merges, migration, stale temps, bad names."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import partitioned
from features.errors import DataError
from features.partitioned import merge_into_partitions, read_partitions
from features.store import MarketStore, normalize_symbol
from tests.features.test_store import bars as _walk


def bars(n: int, start: str = "2024-01-01", freq: str = "5min", seed: int = 0, **extra):
    """Valid bars for any length: the test_store walk, shifted to stay far above zero."""
    frame = _walk(n, start, freq, seed, **extra)
    shift = 1000.0
    frame[["open", "high", "low", "close"]] += shift
    return frame

ROOT = Path(__file__).resolve().parents[2]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _month_files(folder: Path, month: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (folder / f"month={month}").glob("*.parquet")}


def test_a_merge_rewrites_only_the_months_it_touches(tmp_path):
    store = MarketStore(tmp_path)
    store.write("BTC", bars(3 * 24 * 40, start="2024-01-01", freq="20min"), bar="5m")
    folder = tmp_path / "BTC" / "5m"
    january = _month_files(folder, "2024-01")
    version = partitioned.table_version(folder)
    # One new bar in February: January's files are not rewritten; one commit.
    result = store.write("BTC", bars(1, start="2024-02-09 23:55", seed=5), bar="5m")
    assert result.rows_added == 1
    assert _month_files(folder, "2024-01") == january
    assert partitioned.table_version(folder) == version + 1


def test_a_range_read_opens_only_the_months_it_needs(tmp_path, monkeypatch):
    store = MarketStore(tmp_path)
    frame = bars(24 * 90, start="2024-01-01", freq="1h")
    store.write("BTC", frame)
    opened: list[str] = []
    real = partitioned.DeltaTable.to_pyarrow_dataset

    def recording(self, *args, **kwargs):
        dataset = real(self, *args, **kwargs)
        opened.extend(f.path for f in dataset.get_fragments())
        return dataset

    monkeypatch.setattr(partitioned.DeltaTable, "to_pyarrow_dataset", recording)
    got = store.read("BTC", start="2024-02-10", end="2024-02-20 05:00")
    assert got.index[0] == pd.Timestamp("2024-02-10", tz="UTC")
    assert got.index[-1] == pd.Timestamp("2024-02-20 05:00", tz="UTC")
    pd.testing.assert_frame_equal(got, frame.loc[got.index[0] : got.index[-1]][got.columns],
                                  check_freq=False)
    assert opened and all("month=2024-02" in f for f in opened)
    # Resampling on read still works across partitions.
    assert store.read("BTC", bar="1h").shape[0] == 24 * 90


_WRITER = """
import sys
import pandas as pd
from features.store import MarketStore
frame = pd.read_parquet(sys.argv[2])
MarketStore(sys.argv[1]).write("BTC", frame, source=sys.argv[2])
"""


def test_two_processes_writing_halves_of_one_file_at_once_keep_every_row(tmp_path):
    """Issue 14 item 1: disjoint halves of one 1-minute file, imported at once, all rows kept."""
    frame = bars(2 * 10_000, freq="1min", seed=3)
    halves = []
    for i, half in enumerate((frame.iloc[:10_000], frame.iloc[10_000:])):
        path = tmp_path / f"half{i}.parquet"
        half.to_parquet(path)
        halves.append(path)
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for trial in range(3):
        procs = [
            subprocess.Popen([sys.executable, "-c", _WRITER, str(data / str(trial)), str(h)],
                             env=env, stderr=subprocess.PIPE)
            for h in halves
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
        stored = MarketStore(data / str(trial)).read("BTC")
        assert len(stored) == len(frame), f"trial {trial}: rows lost"
        pd.testing.assert_frame_equal(stored, frame, check_freq=False)


def test_old_single_file_stores_are_migrated_without_losing_a_row(tmp_path):
    frame = bars(24 * 70, start="2024-01-01", freq="1h", open_interest_usd=np.full(24 * 70, 1e9))
    legacy = tmp_path / "BTC" / "1h.parquet"
    legacy.parent.mkdir(parents=True)
    frame.to_parquet(legacy)
    (tmp_path / "ETH").mkdir()
    bars(500).to_parquet(tmp_path / "ETH" / "5m.parquet")

    store = MarketStore(tmp_path)
    assert store.bars("BTC") == ["1h"]  # migrated on first use
    assert not legacy.exists()
    pd.testing.assert_frame_equal(store.read("BTC"), frame, check_freq=False)
    assert sorted((d.symbol, d.bar, d.rows) for d in store.datasets()) == [
        ("BTC", "1h", len(frame)),
        ("ETH", "5m", 500),
    ]
    assert MarketStore(tmp_path).migrate() == []  # nothing left to migrate


def test_data_migrate_command_reports_what_it_moved(tmp_path):
    from typer.testing import CliRunner

    from training.cli import app

    (tmp_path / "BTC").mkdir()
    bars(300).to_parquet(tmp_path / "BTC" / "5m.parquet")
    result = CliRunner().invoke(app, ["data", "migrate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "BTC" in result.output and "300" in result.output
    assert len(MarketStore(tmp_path).read("BTC")) == 300


def test_files_a_dead_writer_left_uncommitted_are_removed_by_the_next_writer(tmp_path):
    store = MarketStore(tmp_path)
    store.write("BTC", bars(10))
    folder = tmp_path / "BTC" / "5m"
    orphan = folder / "month=2024-01" / "part-00000-dead-c000.zstd.parquet"
    orphan.write_bytes(b"half a data file")
    commit = folder / "_delta_log" / "_commit_dead.json.tmp"
    commit.write_text("{")
    old_temp = folder / "month=2024-01" / ".part.parquet.pid1.abc.tmp"
    old_temp.write_bytes(b"partial")
    partitioned._SWEPT.clear()  # a new process
    MarketStore(tmp_path).write("BTC", bars(10, start="2024-01-01 01:00"))
    assert not orphan.exists() and not commit.exists() and not old_temp.exists()
    assert len(MarketStore(tmp_path).read("BTC")) == 20


@pytest.mark.parametrize("bad", ["..", "-..-", ".", "x" * 300, "a/b/c", "../up", "a\\b", "a b"])
def test_unsafe_symbols_are_refused_and_nothing_is_created(tmp_path, bad):
    data = tmp_path / "data"
    with pytest.raises(DataError, match="invalid symbol"):
        MarketStore(data).write(bad, bars(5))
    assert not data.exists() or not any(data.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == (["data"] if data.exists() else [])


def test_ccxt_market_names_still_become_dataset_names():
    assert normalize_symbol("btc/usdt:usdt") == "BTC-USDT-USDT"
    assert normalize_symbol(" eth ") == "ETH"


def test_a_full_disk_gives_a_clear_error_and_leaves_the_store_unchanged(tmp_path, monkeypatch):
    """Simulated by the writer's input stream raising ENOSPC after a month of rows."""
    store = MarketStore(tmp_path)
    store.write("BTC", bars(24 * 12 * 40, freq="5min"))  # January and February
    before = _files(tmp_path)
    real = partitioned._batches

    def full_disk(source):
        for k, batch in enumerate(real(source)):
            if k == 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            yield batch

    monkeypatch.setattr(partitioned, "STREAM_ROWS", 24 * 12 * 20)
    monkeypatch.setattr(partitioned, "_batches", full_disk)
    update = bars(24 * 12 * 80, freq="5min", seed=9)  # four months
    with pytest.raises(DataError, match="no space left on the disk.*unchanged"):
        store.write("BTC", update)
    assert _files(tmp_path) == before


def test_data_dir_pointing_at_a_file_is_a_clear_error(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("x")
    with pytest.raises(DataError, match="is a file, not a directory"):
        MarketStore(target)


def test_the_generic_merge_helper_keeps_other_columns_and_types(tmp_path):
    """The helper other datasets (scores) use: any columns, strings too, new values win."""
    times = pd.date_range("2024-01-31 22:00", periods=4, freq="1h", tz="UTC", name="time")
    first = pd.DataFrame({"probability": [0.1, 0.2, 0.3, 0.4], "level": list("abcd")}, times)
    result = merge_into_partitions(tmp_path / "scores", first)
    assert (result.rows_before, result.rows_after, result.months) == (0, 4, ("2024-01", "2024-02"))
    second = pd.DataFrame({"probability": [0.9], "level": ["z"]}, times[-1:])
    assert merge_into_partitions(tmp_path / "scores", second).rows_after == 4
    got = read_partitions(tmp_path / "scores")
    assert got["level"].tolist() == ["a", "b", "c", "z"]
    assert got["probability"].tolist() == [0.1, 0.2, 0.3, 0.9]
    assert read_partitions(tmp_path / "scores", start=times[2]).index.tolist() == list(times[2:])
