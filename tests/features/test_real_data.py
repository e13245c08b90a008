"""Sanity on real data (../shared/data): the features compute and the labels see a real crash."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import FEATURES, LabelSpec, build_features, labelled_windows, make_labels
from tests.conftest import shared_file
from tests.features.feature_frames import read_coinglass, read_okx

CRASH = pd.Timestamp("2025-10-10 20:00", tz="UTC")


@pytest.fixture(scope="module")
def okx() -> pd.DataFrame:
    return read_okx(shared_file("okx_btc_usd_swap_1h.csv"))


@pytest.fixture(scope="module")
def coinglass() -> pd.DataFrame:
    return read_coinglass(shared_file("coinglass_btc_30m_sample.csv"))


def test_proxy_label_fires_on_the_2025_10_10_crash(okx):
    y = make_labels(okx, LabelSpec(kind="proxy"))
    # the -7% between the 20:00 and 21:00 snapshots: row 20:00 sees it in (20:00, 21:00]
    assert y.loc[CRASH] == 1.0
    # a rare event, not a label that fires every day
    assert 0.001 < y.mean() < 0.05
    # and an exceptional one: a label twice as strict still fires on it, and hardly elsewhere
    strict = make_labels(okx, LabelSpec(kind="proxy", k_vol=6))
    assert strict.loc[CRASH] == 1.0
    assert strict.sum() <= 10


def test_okx_windows_record_the_groups_the_file_has(okx):
    X, y, meta = labelled_windows(okx, LabelSpec(kind="proxy"))
    assert meta.groups == ["price", "funding", "basis", "open_interest"]
    assert meta.positives == int(y.sum()) and y.loc[CRASH] == 1.0
    # the warning signs before the crash are computed from the gappy hourly file
    before = X.loc[CRASH]
    for name in (
        "funding_z_30d",
        "oi_growth_24h",
        "premium_z_7d",
        "liq_long_within_5pct",
        "dist_prev_day_low",
        "rvol_24h",
    ):
        assert np.isfinite(before[name]), name


def test_okx_features_are_mostly_present_despite_the_gaps(okx):
    X = build_features(okx)
    present = X[["funding_rate", "oi_growth_24h", "premium", "ret_24h", "rvol_24h"]].notna()
    assert present.mean().min() > 0.95


def test_coinglass_sample_features_compute(coinglass):
    X = build_features(coinglass)
    assert list(X.columns) == list(FEATURES) and len(X) == len(coinglass)
    assert not np.isinf(X.to_numpy()).any()
    late = X.iloc[-1]
    for name in (
        "funding_rate",
        "oi_growth_4h",
        "liq_long_1h_oi",
        "liq_long_24h_oi",
        "liq_long_share_24h",
        "ret_5m",
        "rvol_24h",
        "liq_long_within_2pct",
    ):
        if name == "ret_5m":
            assert np.isnan(late[name])  # 30-minute bars have no 5-minute return
        else:
            assert np.isfinite(late[name]), name


def test_coinglass_liquidation_label_uses_its_liquidations(coinglass):
    _X, y, meta = labelled_windows(coinglass, LabelSpec())
    assert meta.bar == "30m" and "liquidations" in meta.groups
    assert 0 < meta.positives < meta.rows
    # the bar with the largest long liquidations is a positive for the row before it
    biggest = coinglass["long_liq_usd"].idxmax()
    before = coinglass.index[coinglass.index.get_loc(biggest) - 1]
    assert y.loc[before] == 1.0
