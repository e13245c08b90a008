"""No look-ahead: a feature at t never depends on bars after t.

Property: for any frame (with any pattern of missing bars), any cut point, and any future,
the features of the rows up to the cut are exactly the same whether or not (and whatever)
rows come after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features import build_features
from tests.features.feature_frames import cached_simulated, cached_synthetic

BASES = {
    "simulated-1h": lambda: cached_simulated(days=40, bar="1h"),
    "synthetic-15m": lambda: cached_synthetic(days=12, bar="15min", seed=11),
}


def _holed(frame: pd.DataFrame, seed: int, gap_fraction: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    keep = rng.random(len(frame)) >= gap_fraction
    start = int(rng.integers(1, len(frame) - 50))
    keep[start : start + int(rng.integers(1, 48))] = False  # one longer gap
    keep[0] = True
    return frame[keep]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(sorted(BASES)),
    seed=st.integers(0, 10_000),
    gap_fraction=st.sampled_from([0.0, 0.05, 0.3]),
    cut=st.floats(0.02, 0.98),
)
def test_appending_future_rows_never_changes_past_features(base, seed, gap_fraction, cut):
    frame = _holed(BASES[base](), seed, gap_fraction)
    bar = "1h" if base.endswith("1h") else "15min"
    k = max(1, int(len(frame) * cut))
    past = build_features(frame.iloc[:k], bar=bar)
    full = build_features(frame, bar=bar)
    np.testing.assert_array_equal(past.to_numpy(), full.iloc[:k].to_numpy())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.floats(0.1, 0.9), crash=st.floats(0.5, 0.99))
def test_a_different_future_never_changes_past_features(seed, cut, crash):
    frame = _holed(cached_simulated(days=40, bar="1h"), seed, 0.05)
    k = int(len(frame) * cut)
    other = frame.copy()
    rng = np.random.default_rng(seed)
    future = other.index[k:]
    for col in other.columns:
        other.loc[future, col] = other.loc[future, col] * rng.uniform(0.9, 1.1, len(future))
    other.loc[future, ["open", "high", "low", "close"]] *= crash  # and a crash
    other.loc[future, "high"] = other.loc[future, ["open", "high", "low", "close"]].max(axis=1)
    a = build_features(frame, bar="1h").iloc[:k]
    b = build_features(other, bar="1h").iloc[:k]
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
