"""Streaming features equal features_at on the last MIN_WINDOW, for EVERY feature in FEATURES.

Exact equality (NaN == NaN) is asserted: the streaming states keep the same block parts as
features.rolling, so there is no rounding to excuse. A feature whose kernel has no streaming
version would make these tests fail (or, via the fallback, be computed by features_at).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import FEATURES, MIN_WINDOW, features_at
from features.errors import DataError
from features.incremental import NotStreamable, StreamingEngine
from features.rolling import Grid


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    from features.sources.simulator import simulate

    return simulate("SOL", days=75, bar="1h", seed=5, preset="crash-prone")


def _reference(frame: pd.DataFrame, t: pd.Timestamp, bar: str) -> np.ndarray:
    window = frame[(frame.index > t - MIN_WINDOW) & (frame.index <= t)]
    return features_at(window, bar=bar).to_numpy()


def _assert_same(got: np.ndarray, want: np.ndarray, t: pd.Timestamp) -> None:
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    if not same.all():
        bad = [FEATURES[j] for j in np.flatnonzero(~same)]
        j = int(np.flatnonzero(~same)[0])
        raise AssertionError(f"{t}: {len(bad)} feature(s) differ, e.g. {bad[:6]}: {got[j]!r} vs {want[j]!r}")


def _stream_and_compare(frame: pd.DataFrame, bar: str, seed_rows: int, every: int = 1, loader=None):
    engine = StreamingEngine(bar, loader=loader)
    engine.seed("X", frame.iloc[:seed_rows])
    assert "X" not in engine.fallbacks
    checked = 0
    for r in range(seed_rows, len(frame)):
        t = frame.index[r]
        got = engine.update("X", frame.iloc[r : r + 1])[0]
        if (r - seed_rows) % every == 0 or r == len(frame) - 1:
            _assert_same(got, _reference(frame, t, bar), t)
            checked += 1
    return engine, checked


def test_every_feature_streams_exactly_over_block_rollovers(hourly):
    # seeded after 33 days, streamed for 42 more: every 24h/7D/30D block rolls over
    engine, checked = _stream_and_compare(hourly, "1h", seed_rows=33 * 24, every=7)
    assert checked > 100 and engine.covered("X")
    # all features were exercised: most are non-NaN at the end
    last = _reference(hourly, hourly.index[-1], "1h")
    assert np.isfinite(last).sum() >= len(FEATURES) - 3


def test_partial_history_seed_matches_short_windows(hourly):
    """A symbol with a few days of history: the statistics use what there is, as features_at."""
    _stream_and_compare(hourly.iloc[: 24 * 12], "1h", seed_rows=30, every=5)


def test_gaps_are_nan_rows_as_in_batch(hourly):
    gappy = hourly.drop(hourly.index[40 * 24 : 40 * 24 + 9]).drop(hourly.index[50 * 24 + 3])
    _stream_and_compare(gappy.iloc[: 55 * 24], "1h", seed_rows=35 * 24, every=3)


def test_a_column_appearing_reseeds_from_the_store(hourly):
    frame = hourly.iloc[: 50 * 24].copy()
    depth = [c for c in frame.columns if "depth" in c]
    frame.loc[frame.index[: 40 * 24], depth] = np.nan  # the depth recorder starts on day 40

    def loader(symbol, t):
        return frame[frame.index <= t]

    engine, _ = _stream_and_compare(frame, "1h", seed_rows=38 * 24, every=4, loader=loader)
    assert engine.reseeds == 1


def test_five_minute_bars(hourly):
    from features.sources.simulator import simulate

    frame = simulate("ETH", days=9, bar="5m", seed=3)
    _stream_and_compare(frame, "5m", seed_rows=8 * 288, every=37)


def test_minute_bars_across_an_hourly_block_of_the_long_windows():
    """1-minute bars: the 7-day statistics come from hourly aggregates; streaming crosses the
    end of a 168-hour block and hours with missing minutes, and still equals features_at."""
    from tests.features.feature_frames import cached_simulated

    frame = cached_simulated(days=8.1, bar="1m")
    hours = frame.index.as_unit("ns").asi8 // 3_600_000_000_000
    rollover = int(np.flatnonzero((hours % 168 == 0) & (frame.index >= frame.index[0] + pd.Timedelta(days=7)))[0])
    window = frame.iloc[: rollover + 100].drop(frame.index[rollover - 40 : rollover - 30])
    window = window.drop(window.index[rollover - 130 : rollover - 60])  # an hour with no bar
    engine, checked = _stream_and_compare(window, "1m", seed_rows=rollover - 150, every=23)
    assert checked >= 8 and engine.memory_bytes() < 2_000_000


def test_a_kernel_without_streaming_version_falls_back_loudly(hourly, monkeypatch):
    """A new stateful kernel: the symbol is served by features_at, never with wrong numbers."""
    from features.groups import basis

    original = basis.compute

    def with_new_kernel(g: Grid):
        out = original(g)
        if "premium" in out:
            out["premium"] = g.stateful(lambda x: x * 1.0, out["premium"])
        return out

    monkeypatch.setattr(basis, "compute", with_new_kernel)
    engine = StreamingEngine("1h")
    engine.seed("X", hourly.iloc[: 40 * 24])
    assert "X" in engine.fallbacks
    t = hourly.index[40 * 24]
    got = engine.update("X", hourly.iloc[40 * 24 : 40 * 24 + 1])[0]
    _assert_same(got, _reference(hourly, t, "1h"), t)


def test_old_bar_is_refused(hourly):
    engine = StreamingEngine("1h")
    engine.seed("X", hourly.iloc[:100])
    with pytest.raises(DataError, match="not new"):
        engine.update("X", hourly.iloc[50:51])


def test_not_streamable_is_a_data_error():
    assert issubclass(NotStreamable, DataError)


def test_many_symbols_at_once_equal_one_by_one(hourly):
    """update_many (one grid for every symbol at a bar close) gives each symbol exactly what
    update gives it alone: symbols with the same columns share a batch, a symbol without depth
    is its own batch, and a symbol with a gap goes through update."""
    from features.sources.simulator import simulate

    other = simulate("ETH", days=75, bar="1h", seed=9, preset="crash-prone")
    no_depth = other.drop(columns=[c for c in other.columns if "depth" in c])
    frames = {"SOL": hourly, "ETH": other, "XRP": hourly * 1.5, "NODEPTH": no_depth, "GAPPY": other}
    seed_rows = 40 * 24
    alone, together = StreamingEngine("1h"), StreamingEngine("1h")
    for name, frame in frames.items():
        alone.seed(name, frame.iloc[:seed_rows])
        together.seed(name, frame.iloc[:seed_rows])
    batches: list[int] = []  # symbols per shared grid: the batching happened, not only update
    step_many = together._step_many
    together._step_many = lambda a, p, c, members: (batches.append(len(members)), step_many(a, p, c, members))[1]
    for r in range(seed_rows, seed_rows + 30):
        bars = {n: f.iloc[r : r + 1] for n, f in frames.items() if not (n == "GAPPY" and r % 7 == 3)}
        got = together.update_many(bars)
        assert set(got) == set(bars)
        for name, bar in bars.items():
            want = alone.update(name, bar)
            assert np.array_equal(got[name], want, equal_nan=True), (name, bar.index[0])
    t = hourly.index[seed_rows + 29]
    _assert_same(got["SOL"][0], _reference(hourly, t, "1h"), t)
    assert max(batches) >= 3, batches  # SOL, XRP and ETH (and GAPPY without a gap) share a grid
