"""Feature building over many symbols, partition by partition, on a 2-worker Dask cluster:
the same features as one pass over each whole history, bit for bit."""

from __future__ import annotations

import pandas as pd
import pytest

from features import build_features
from features.distributed import (
    LOCAL_PROCESS,
    build_features_partitioned,
    features_directory,
    map_partitions,
    own_rows,
    plan,
)
from features.errors import DataError
from features.partitioned import read_partitions
from features.sources.simulator import simulate
from features.store import MarketStore

SYMBOLS = ("BTC", "ETH", "SOL")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """Three symbols of hourly bars over 75 days: three month partitions each."""
    root = tmp_path_factory.mktemp("dask") / "data"
    for seed, symbol in enumerate(SYMBOLS):
        MarketStore(root).write(symbol, simulate(symbol, days=75, bar="1h", seed=seed))
    return root


def _whole_history(store_dir, symbol: str) -> pd.DataFrame:
    return build_features(MarketStore(store_dir).read(symbol, "1h"))


@pytest.mark.slow
def test_two_dask_workers_build_the_same_features_bit_for_bit(store_dir, tmp_path):
    out = tmp_path / "features"
    built = build_features_partitioned(store_dir, SYMBOLS, "1h", out, months_per_task=1,
                                       workers=2)
    assert len(built) == 3 * 3, "one task per symbol and month"
    for symbol in SYMBOLS:
        got = read_partitions(features_directory(out, symbol, "1h"))
        pd.testing.assert_frame_equal(got, _whole_history(store_dir, symbol), check_exact=True,
                                      check_freq=False)
    assert sum(b.rows for b in built) == 3 * 75 * 24


def test_the_in_process_path_is_the_same_code_and_gives_the_same_result(store_dir, tmp_path):
    out = tmp_path / "features"
    build_features_partitioned(store_dir, ["ETH"], "1h", out, months_per_task=2,
                               scheduler=LOCAL_PROCESS)
    got = read_partitions(features_directory(out, "ETH", "1h"))
    pd.testing.assert_frame_equal(got, _whole_history(store_dir, "ETH"), check_exact=True,
                                  check_freq=False)


def test_without_the_margin_the_first_days_of_a_month_would_differ(store_dir):
    """The margin is what makes partitions exact: a task read without it loses history."""
    def first_row(frame, task):
        return own_rows(task, build_features(frame, task.bar)).iloc[0]

    with_margin = map_partitions(first_row, store_dir, ["BTC"], "1h", months_per_task=1,
                                 scheduler=LOCAL_PROCESS)[1]
    without = map_partitions(first_row, store_dir, ["BTC"], "1h", months_per_task=1,
                             scheduler=LOCAL_PROCESS, margin=pd.Timedelta(0))[1]
    whole = _whole_history(store_dir, "BTC").loc[with_margin.name]
    pd.testing.assert_series_equal(with_margin, whole, check_exact=True)
    assert not without.equals(whole)


def test_plan_covers_each_month_once_and_refuses_unknown_symbols(store_dir):
    tasks = plan(store_dir, ["btc"], "1h", months_per_task=2)
    assert [t.months for t in tasks] == [["2025-01", "2025-02"], ["2025-03"]]
    with pytest.raises(DataError, match="DOGE"):
        plan(store_dir, ["DOGE"], "1h")


def test_features_build_with_symbols_writes_every_symbols_features(store_dir, tmp_path):
    from typer.testing import CliRunner

    from training.cli import app

    out = tmp_path / "features"
    result = CliRunner().invoke(
        app,
        ["features", "build", "--symbols", "BTC,SOL", "--data-dir", str(store_dir), "--out",
         str(out), "--scheduler", LOCAL_PROCESS],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "BTC" in result.output and "SOL" in result.output and "1,800" in result.output
    got = read_partitions(features_directory(out, "SOL", "1h"))
    pd.testing.assert_frame_equal(got, _whole_history(store_dir, "SOL"), check_exact=True,
                                  check_freq=False)
    unknown = CliRunner().invoke(
        app, ["features", "build", "--symbols", "BTC,NOPE", "--data-dir", str(store_dir),
              "--scheduler", LOCAL_PROCESS])
    assert unknown.exit_code == 2 and "NOPE" in unknown.output


def test_tasks_read_the_table_version_they_were_planned_from(tmp_path):
    """A watcher appending while a job runs never gives one job two views of a symbol."""
    from features.distributed import read_task
    from tests.features.test_partitioned_store import bars

    store = MarketStore(tmp_path)
    before = bars(24 * 40, freq="1h")
    store.write("BTC", before)
    tasks = plan(tmp_path, ["BTC"], "1h", months_per_task=1)
    assert [t.version for t in tasks] == [0, 0]
    store.write("BTC", bars(24, start=str(before.index[-1] + pd.Timedelta("1h")), freq="1h", seed=5))
    read = pd.concat([own_rows(t, read_task(t, pd.Timedelta(0))) for t in tasks])
    pd.testing.assert_frame_equal(read, before, check_freq=False)
