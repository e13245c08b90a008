"""Versions, history, compaction and migration of the Delta tables (`flushrisk data ...`)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from features import partitioned
from features.scores import ScoreStore
from features.store import MarketStore
from tests.features.test_partitioned_store import bars
from tests.features.test_scores import _scores
from training.cli import app

runner = CliRunner()
ENV = {"COLUMNS": "200"}


def test_history_lists_each_write_as_a_version_and_old_versions_stay_readable(tmp_path):
    store = MarketStore(tmp_path)
    first = bars(24 * 40, freq="1h")  # January and February: one commit
    store.write("BTC", first, source="first.csv")
    store.write("BTC", bars(48, start="2024-02-09", freq="1h", seed=4), source="second.csv")
    ScoreStore(tmp_path).write("BTC", "1h", _scores("2024-01-05", 3), metadata={"source": "test"})

    result = runner.invoke(app, ["data", "history", "BTC", "--data-dir", str(tmp_path)], env=ENV)
    assert result.exit_code == 0, result.output
    assert "market BTC 1h" in result.output and "scores BTC 1h" in result.output
    assert "first.csv" in result.output and "second.csv" in result.output
    assert "MERGE" in result.output and "WRITE" in result.output
    # version 0 is the first import, whole, whatever came after
    pd.testing.assert_frame_equal(store.read("BTC", version=0), first, check_freq=False)
    assert store.read_versions == {"BTC/1h": 0}
    assert MarketStore(tmp_path).read("BTC").attrs["data_versions"] == {"BTC/1h": 1}

    missing = runner.invoke(app, ["data", "history", "ETH", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 2 and "no tables for ETH" in missing.output


def test_compact_merges_the_small_files_of_appends_and_keeps_every_row(tmp_path):
    store = MarketStore(tmp_path)
    store.write("BTC", bars(24 * 12, freq="5min"))
    for k in range(12):  # the radar's one-bar appends: one small file each
        store.write("BTC", bars(1, start=str(pd.Timestamp("2024-01-02") + k * pd.Timedelta("5min")),
                                seed=k), bar="5m")
    folder = store.path("BTC", "5m")
    before = store.read("BTC")
    assert partitioned.file_count(folder) == 13

    result = runner.invoke(app, ["data", "compact", "--data-dir", str(tmp_path),
                                 "--retain-hours", "0"], env=ENV)
    assert result.exit_code == 0, result.output
    assert partitioned.file_count(folder) == 1
    pd.testing.assert_frame_equal(MarketStore(tmp_path).read("BTC"), before)
    # vacuum removed the replaced files from disk
    assert len(list(folder.glob("month=*/*.parquet"))) == 1
    assert "OPTIMIZE" in runner.invoke(app, ["data", "history", "BTC", "--data-dir",
                                             str(tmp_path)], env=ENV).output


def _write_month_files(folder, frame):
    """The earlier layout: month=YYYY-MM/part.parquet, the index as a 'time' column."""
    table = frame.rename_axis("time").reset_index()
    for month, part in table.groupby(table["time"].dt.strftime("%Y-%m")):
        target = folder / f"month={month}" / "part.parquet"
        target.parent.mkdir(parents=True)
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), target)


def test_month_file_stores_and_scores_migrate_on_first_use_without_losing_a_row(tmp_path):
    frame = bars(24 * 70, freq="1h")
    _write_month_files(tmp_path / "BTC" / "1h", frame)
    stale = tmp_path / "BTC" / "1h" / "month=2024-01" / ".part.parquet.pid99999.x.tmp"
    stale.write_bytes(b"half")
    ScoreStore(tmp_path / "ref").write("ETH", "1h", _scores("2024-01-30", 72))
    expected = ScoreStore(tmp_path / "ref").read("ETH", "1h")  # spans two months
    _write_month_files(tmp_path / "_scores" / "ETH" / "1h", expected)
    scores = ScoreStore(tmp_path)

    store = MarketStore(tmp_path)
    pd.testing.assert_frame_equal(store.read("BTC"), frame, check_freq=False)
    assert partitioned.is_table(store.path("BTC", "1h"))
    assert not list(tmp_path.glob("BTC/1h/month=*/part.parquet")) and not stale.exists()
    pd.testing.assert_frame_equal(scores.read("ETH", "1h"), expected)
    assert not list(tmp_path.glob("_scores/ETH/1h/month=*/part.parquet"))
    assert MarketStore(tmp_path).migrate() == []  # nothing left to migrate
