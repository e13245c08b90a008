"""A seed computes a kernel's output only on the rows a later kernel reads, and stays exact.

The seed keeps the kernels' states and throws the features away, so a kernel output that no
later kernel reads is never computed (:mod:`features.seed_needs` traces the group code to find
which are read, and how many rows). These tests check that the trace follows numpy's row
alignment or gives up, that outputs kept on a tail are the whole grid's values, and that a
seed whose trace is wrong notices and records the old way, with the same bits.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from features import incremental, seed_needs
from features.incremental import STREAMING_KERNELS, StreamingEngine, _RecordingGrid
from features.pipeline import _grid
from features.rolling import Grid
from features.seed_needs import Untraceable, _wrap
from tests.features.test_incremental_seed import _FullReplayEngine, _gappy, _seed_both_and_stream


def _minute_frame() -> pd.DataFrame:
    from tests.features.feature_frames import cached_simulated

    return cached_simulated(days=8.1, bar="1m")


def _needs(frame: pd.DataFrame) -> list[tuple[tuple, int]]:
    base = _grid(frame, pd.Timedelta("1m"), "test")
    present = [c for c in base.columns.keys() | set(frame.columns) if base.col(c) is not None]
    needs = seed_needs.output_rows(base.bar, present, base.n, STREAMING_KERNELS)
    assert needs is not None, "the tracer gave up on the feature code"
    return needs


def test_a_seed_reads_only_the_kernel_outputs_later_kernels_need(caplog):
    frame = _minute_frame()
    needs = _needs(frame)
    read = [(signature, rows) for signature, rows in needs if rows]
    assert len(read) <= len(needs) // 5, f"{len(read)} of {len(needs)} outputs computed"
    # the 1-bar log return of the close feeds the 7-day variance: every row of it
    assert (("lag", 1, 0), len(_grid(frame, "1m", "test").positions)) in read
    # the 1-hour liquidation sum feeds the 24-hour maximum (its window) and the 1-hour lag
    assert (("sums", 60), 1440) in read
    with caplog.at_level(logging.WARNING, logger="flushrisk.incremental"):
        seed_rows = len(frame) - 40
        _seed_both_and_stream(_gappy(frame, seed_rows), "1m", seed_rows - 3)
    assert not caplog.records, "the seed did not follow its trace"


def _calls(w: int, x: np.ndarray, y: np.ndarray) -> list:
    """(traced signature, grid method, its arguments) of the block kernels and the lag, as the
    feature code calls them: the recording grid's own methods, with the reach each ships."""
    return [
        (("sums", w), "_sums", (x, w)),
        (("moments", w), "_moments", (x, w)),
        (("extreme", w, -1.0), "_extreme", (x, w, -1.0)),
        (("corr", w, 3), "_corr", (x, y, w, 3)),
        (("lag", w, 3), "_lag", (x, w, 3)),
    ]


@pytest.mark.parametrize("seed", range(3))
def test_kernel_outputs_kept_on_a_tail_are_the_whole_grids(seed):
    rng = np.random.default_rng(seed)
    n = 500
    x, y = rng.normal(size=n), rng.normal(size=n)
    x[rng.random(n) < 0.2] = np.nan
    for _ in range(20):
        first, w = int(rng.integers(0, 10_000)), int(rng.integers(1, 80))
        grid = _RecordingGrid(bar=pd.Timedelta("1m"), first_bar=first, n=n,
                              positions=np.arange(n), columns={})
        for signature, name, args in _calls(w, x, y):
            rows = int(rng.integers(1, n))
            grid._begin(nwin=n, needs=((signature, rows),))  # a trace: this call, this many rows
            whole, tail = getattr(Grid, name)(grid, *args), getattr(grid, name)(*args)
            for a, b in zip(whole if isinstance(whole, tuple) else (whole,),
                            tail if isinstance(tail, tuple) else (tail,), strict=True):
                assert np.array_equal(a[n - rows :], b[n - rows :], equal_nan=True)
                assert np.all(np.isnan(b[: n - rows])) if b.dtype.kind == "f" else not b[: n - rows].any()


def test_the_trace_follows_aligned_rows_and_otherwise_assumes_every_call():
    column = _wrap(np.ones(8), frozenset())
    out1, out2 = _wrap(np.ones(8), frozenset({1})), _wrap(np.ones(8), frozenset({2}))
    assert (np.sqrt(out1) * column + out2).taint == {1, 2}
    assert np.where(out1 > 0, out2, np.nan).taint == {1, 2}
    assert out1[:].taint == {1}
    # moving values between rows: every earlier call (None), unless no call is involved
    assert out1[1:].taint is None
    assert np.add.accumulate(out1).taint is None
    assert np.diff(out1).taint is None
    assert (out1 + np.ones(8)).taint is None  # a plain array of unknown origin
    assert np.isfinite(column).any().taint == frozenset()
    with pytest.raises(Untraceable):
        out1.cumsum()
    with pytest.raises(Untraceable):
        bool((out1 > 0).any())  # a branch on a kernel's output


def _wrong(needs):
    """A trace that says no output is read, or one whose calls are not the feature code's."""
    def every_output_unread(bar, present, n, states):
        return [(signature, 0) for signature, _ in needs(bar, present, n, states)]

    def other_calls(bar, present, n, states):
        return [(("sums", 7), 0)] * 3

    return every_output_unread, other_calls


def test_a_seed_whose_trace_is_wrong_records_every_row_with_the_same_bits(monkeypatch, caplog):
    frame = _minute_frame().drop(columns=["spot_volume_usd"], errors="ignore")  # comes late
    seed_rows = len(frame) - 5
    for wrong in _wrong(seed_needs.output_rows):
        monkeypatch.setattr(incremental.seed_needs, "output_rows", wrong)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="flushrisk.incremental"):
            fast, full = StreamingEngine("1m"), _FullReplayEngine("1m")
            fast.seed("X", frame.iloc[:seed_rows])
            full.seed("X", frame.iloc[:seed_rows])
        assert any("traced" in r.getMessage() for r in caplog.records)
        for r in range(seed_rows, len(frame)):
            row = frame.iloc[r : r + 1]
            got, want = fast.update("X", row)[0], full.update("X", row)[0]
            assert np.array_equal(got, want, equal_nan=True)
