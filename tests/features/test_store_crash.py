"""Crashes during a multi-month import: the table reads as the old version or the new one.

Issue 22: a kill -9 while the month files were renamed into place left 15 of 35 months new and
the rest old, and temp files behind. With Delta tables a write is one commit: a writer killed
before it leaves its uncommitted data files, which are not part of any version and are removed
at the dataset's next use.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable

from features.store import MarketStore
from tests.features.test_partitioned_store import bars

ROOT = Path(__file__).resolve().parents[2]
MONTHS = 35

_IMPORT = """
import sys
import pandas as pd
from features.store import MarketStore
MarketStore(sys.argv[1]).write("BTC", pd.read_parquet(sys.argv[2]), source="update", bar="1h")
"""

_READ = """
import sys
from features.store import MarketStore
MarketStore(sys.argv[1]).read("BTC")
"""


def _data_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.glob("month=*/*") if p.is_file()}


def _log_files(folder: Path) -> set[str]:
    return {p.name for p in (folder / "_delta_log").iterdir()}


def _kill_when_writing(data: Path, update: Path, folder: Path, baseline: set[str]) -> bool:
    """Start the import and kill -9 it as soon as its first data file is on disk.

    Returns True when it was killed before it finished (False: it completed first).
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _IMPORT, str(data), str(update)], env=env)
    try:
        while proc.poll() is None:
            if _data_files(folder) - baseline:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(30)
                return True
            time.sleep(0.002)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def test_kill_9_during_a_multi_month_import_leaves_the_old_or_the_new_version(tmp_path):
    data = tmp_path / "data"
    store = MarketStore(data)
    old = bars(MONTHS * 30 * 24, start="2022-01-01", freq="1h", seed=1)
    store.write("BTC", old, bar="1h")
    # The update rewrites every stored month (new prices, a new column) and adds newer months.
    new = bars((MONTHS + 3) * 30 * 24, start="2022-01-01", freq="1h", seed=2,
               open_interest_usd=np.full((MONTHS + 3) * 30 * 24, 2e9))
    update = tmp_path / "update.parquet"
    new.to_parquet(update)
    folder = store.path("BTC", "1h")
    baseline, baseline_log = _data_files(folder), _log_files(folder)
    assert len({f.split("/")[0] for f in baseline}) == MONTHS

    killed = _kill_when_writing(data, update, folder, baseline)
    left = _data_files(folder) - baseline
    # The next use, by a new process, reads the table and removes what the killed writer left.
    subprocess.run([sys.executable, "-c", _READ, str(data)], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    stored = MarketStore(data).read("BTC")

    version = DeltaTable(str(folder))
    if version.version() == 0:  # the old version, whole
        pd.testing.assert_frame_equal(stored, old[stored.columns], check_freq=False)
        assert "open_interest_usd" not in stored
        assert _data_files(folder) == baseline, "no uncommitted file is left behind"
        assert _log_files(folder) == baseline_log, "no half-written commit is left behind"
        assert killed and left, "the writer was killed while its files were being written"
    else:  # the new version, whole (the update covers every stored time)
        assert version.version() == 1
        pd.testing.assert_frame_equal(stored, new[stored.columns], check_freq=False)
        current = set(pa.table(version.get_add_actions()).column("path").to_pylist())
        assert _data_files(folder) == baseline | current
    assert not [p for p in folder.rglob("*") if p.name.startswith("_commit_") or "#" in p.name]

    # Run again, the import completes.
    MarketStore(data).write("BTC", new, source="again", bar="1h")
    pd.testing.assert_frame_equal(MarketStore(data).read("BTC"), new, check_freq=False)
