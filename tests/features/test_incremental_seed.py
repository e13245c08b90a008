"""The fast seed gives the state the full replay gave: the next features are the same bits.

A first start seeds every symbol from 30 days of bars. The seed computes the long windows at
the last row only, replays the liquidation heatmap over its lookback only, and runs the block
kernels block by block. Each shortcut must leave the streaming state exactly as it was: these
tests seed one engine the fast way and one with the full replay (every row of every long
window, the heatmap from the window's first bar), stream the same bars into both, and require
equal features, bit for bit, on markets with gaps and missing columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import FEATURES, MIN_WINDOW, features_at
from features.blocks import chan, crossing
from features.incremental import STREAMING_KERNELS, StreamingEngine, _RecordingGrid
from features.rolling import (
    _block_corr,
    _block_extreme,
    _block_moments,
    _block_sum,
    _comoments_scan,
    _corr_of_parts,
    _lag_fill,
    _moments_scan,
    _sum_scan,
)


class _FullReplay(_RecordingGrid):
    """The seed as it was: every kernel output on every row (no traced row needs), long
    windows at every row, the heatmap replayed from row 0."""

    def _begin(self, nwin: int, needs=None) -> None:
        super()._begin(nwin)
        self.last_row_only = False

    def _hour_stat(self, x, kind, sign, hours):
        super()._hour_stat(x, kind, sign, hours)  # records the state
        return self._hour_rows(x, kind, sign, hours, None)

    def stateful(self, kernel, *args):
        state = STREAMING_KERNELS[kernel](args, self.first_bar)
        close = args[0]
        ok = close[close > 0.0]
        state._rebase(float(np.median(ok)) if ok.size else 1.0)
        self.states.append(state)
        return state._run(args[:5], self.first_bar, out_from=len(close) - 1)


class _FullReplayEngine(StreamingEngine):
    recording = _FullReplay


def _assert_same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    bad = [FEATURES[j] for j in np.flatnonzero(~same)]
    assert not bad, f"{what}: {len(bad)} feature(s) differ, e.g. {bad[:6]}"


def _seed_both_and_stream(frame: pd.DataFrame, bar: str, seed_rows: int) -> int:
    fast, full = StreamingEngine(bar), _FullReplayEngine(bar)
    fast.seed("X", frame.iloc[:seed_rows])
    full.seed("X", frame.iloc[:seed_rows])
    assert "X" not in fast.fallbacks | full.fallbacks
    finite = 0
    for r in range(seed_rows, len(frame)):
        row = frame.iloc[r : r + 1]
        got, want = fast.update("X", row)[0], full.update("X", row)[0]
        _assert_same(got, want, str(frame.index[r]))
        finite = max(finite, int(np.isfinite(got).sum()))
    t = frame.index[-1]
    window = frame[frame.index > t - MIN_WINDOW]
    _assert_same(got, features_at(window, bar=bar).to_numpy(), f"{t} against features_at")
    return finite


def _gappy(frame: pd.DataFrame, seed_rows: int) -> pd.DataFrame:
    """Gaps just before and after the seed's last bar, a column that starts late and one that
    never comes (a collector without spot volume)."""
    frame = frame.drop(columns=["spot_volume_usd"], errors="ignore").copy()
    depth = [c for c in frame.columns if "depth" in c]
    frame.loc[frame.index[: seed_rows // 3], depth] = np.nan
    cut = [seed_rows - 50, seed_rows - 49, seed_rows - 48, seed_rows + 3, seed_rows + 4]
    return frame.drop(frame.index[cut])


def test_minute_bars_with_gaps_and_missing_columns_stream_the_same_bits():
    from tests.features.feature_frames import cached_simulated

    frame = cached_simulated(days=8.1, bar="1m")  # longer than the heatmap's 7-day lookback
    seed_rows = len(frame) - 40
    finite = _seed_both_and_stream(_gappy(frame, seed_rows), "1m", seed_rows - 3)
    assert finite >= len(FEATURES) - 15


def test_hourly_bars_over_full_30_day_windows_stream_the_same_bits():
    from features.sources.simulator import simulate

    frame = simulate("SOL", days=62, bar="1h", seed=5, preset="crash-prone")
    seed_rows = len(frame) - 30 * 24 + 5  # then stream across 24h, 7D and 30D blocks
    finite = _seed_both_and_stream(_gappy(frame, seed_rows), "1h", seed_rows - 3)
    assert finite >= len(FEATURES) - 5


# --- the block kernels walk block by block: the same numbers as the two scans -------------


def _by_scans(pre: np.ndarray, suf: np.ndarray, w: int, phase: int, join) -> list:
    """The decomposition as defined: prefix scan, joined with the suffix scan on a crossing."""
    out = []
    for i in range(len(pre)):
        lo = crossing(i, w, phase)
        out.append(pre[i] if lo < 0 else join(suf[lo], pre[i]))
    return out


def _max_scan(x: np.ndarray, w: int, phase: int, sign: float, backward: bool) -> np.ndarray:
    out, m = np.empty(len(x)), -np.inf
    for k in range(len(x)):
        i = len(x) - 1 - k if backward else k
        if k == 0 or (i + (1 if backward else 0) + phase) % w == 0:
            m = -np.inf
        m = max(m, sign * x[i]) if not np.isnan(x[i]) else m
        out[i] = m
    return out


@pytest.mark.parametrize("seed", range(6))
def test_block_kernels_equal_the_scans_they_fuse(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        n, w = int(rng.integers(1, 200)), int(rng.integers(1, 50))
        phase = int(rng.integers(0, w))
        x = rng.normal(size=n) * 10.0 ** int(rng.integers(-3, 6))
        y = rng.normal(size=n)
        x[rng.random(n) < rng.random()] = np.nan
        y[rng.random(n) < 0.2] = np.nan

        s, c = _block_sum(x, w, phase)
        pairs = zip(*_sum_scan(x, w, phase, False), strict=True)
        back = list(zip(*_sum_scan(x, w, phase, True), strict=True))
        want = _by_scans(list(pairs), back, w, phase, lambda a, b: (a[0] + b[0], a[1] + b[1]))
        assert np.array_equal(s, [v[0] for v in want]) and np.array_equal(c, [v[1] for v in want])

        got = np.column_stack(_block_moments(x, w, phase))
        want = _by_scans(
            _moments_scan(x, w, phase, False), _moments_scan(x, w, phase, True), w, phase,
            lambda a, b: chan(*a, *b),
        )
        assert np.array_equal(got, np.array(want, dtype=float).reshape(-1, 3))

        for sign in (1.0, -1.0):
            m = _by_scans(_max_scan(x, w, phase, sign, False), _max_scan(x, w, phase, sign, True),
                          w, phase, max)
            want = np.where(np.array(m) > -np.inf, sign * np.array(m), np.nan)
            assert np.array_equal(_block_extreme(x, w, phase, sign), want, equal_nan=True)

        empty = np.zeros(6)
        pre, suf = _comoments_scan(x, y, w, phase, False), _comoments_scan(x, y, w, phase, True)
        want = [
            _corr_of_parts(empty if crossing(i, w, phase) < 0 else suf[crossing(i, w, phase)], pre[i], 3)
            for i in range(n)
        ]
        assert np.array_equal(_block_corr(x, y, w, phase, 3), want, equal_nan=True)

        k, tol = int(rng.integers(0, 20)), int(rng.integers(0, 6))
        valid = [max((j for j in range(i - k + 1) if not np.isnan(x[j])), default=-1) for i in range(n)]
        want = [x[valid[i]] if i >= k and valid[i] >= 0 and i - k - valid[i] <= tol else np.nan
                for i in range(n)]
        assert np.array_equal(_lag_fill(x, k, tol), want, equal_nan=True)
