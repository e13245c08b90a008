"""build_features: shape, meaning, scaling and gaps of the features a model learns from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import FEATURES, MIN_WINDOW, build_features, features_at
from features.errors import DataError
from features.groups import basis, depth, key_levels, open_interest, price_flow
from features.pipeline import FEATURE_GROUPS
from features.store import resample
from tests.features.feature_frames import cached_simulated, cached_synthetic, synthetic

LIQUIDATION_FEATURES = [f for f in FEATURES if f.startswith(("liq_long_", "liq_short"))]


def test_output_is_one_float_row_per_bar_with_the_feature_columns():
    frame = cached_simulated(days=20)
    X = build_features(frame)
    assert list(X.columns) == list(FEATURES)
    assert X.index.equals(frame.index)
    assert (X.dtypes == "float64").all()
    assert not np.isinf(X.to_numpy()).any()
    # after a week of history, every feature the simulator's columns allow is computed (the
    # 30-day statistics need half of their window: 15 days)
    late = X.loc[frame.index[0] + pd.Timedelta(days=8) :]
    computable = [f for f in FEATURES if f not in ("ret_5m", "ret_15m") and "30d" not in f]
    assert late[computable].notna().mean().min() > 0.9, late[computable].notna().mean().idxmin()


def test_feature_list_is_unique_and_covers_every_group():
    assert len(set(FEATURES)) == len(FEATURES)
    assert set(FEATURE_GROUPS) == set(FEATURES)
    assert set(FEATURE_GROUPS.values()) == {
        "funding",
        "open_interest",
        "basis",
        "depth",
        "key_levels",
        "price_flow",
        "cascade",
        "calendar",
    }


def test_features_at_returns_the_last_row_named_by_its_time():
    frame = cached_synthetic()
    row = features_at(frame.iloc[-800:])
    assert list(row.index) == list(FEATURES)
    assert row.name == frame.index[-1]
    assert row.dtype == "float64"


def test_absent_signal_groups_give_nan_features_and_present_ones_values():
    frame = cached_synthetic()[["open", "high", "low", "close", "funding_rate"]]
    X = build_features(frame).iloc[200:]
    absent = (
        list(open_interest.NAMES)
        + list(basis.NAMES)
        + list(depth.NAMES)
        + [f for f in key_levels.NAMES if f.startswith("liq_")]
        + LIQUIDATION_FEATURES
        + ["taker_sell_share_1h", "volume_surge", "long_short_ratio"]
    )
    assert X[absent].isna().all().all()
    assert (
        X[["funding_rate", "funding_z_7d", "dist_low_24h", "ret_4h", "rvol_24h"]]
        .notna()
        .all()
        .all()
    )


def test_a_close_only_frame_still_gets_price_features():
    frame = cached_synthetic()[["close", "funding_rate"]]
    X = build_features(frame)
    assert X["range_1h"].iloc[-1] == 0.0  # the bar is its close
    assert X["dist_high_24h"].notna().iloc[-1]


def test_horizons_are_in_time_so_5m_and_1h_bars_agree():
    fine = synthetic(days=35, bar="5min", seed=3)
    coarse = resample(fine, "1h")
    X_fine = build_features(fine)
    X_coarse = build_features(coarse)
    # the 1h bar opening at t closes with the 5m bar opening at t+55min: same information
    rows = coarse.index[coarse.index >= coarse.index[0] + pd.Timedelta(days=31)]
    same = [
        "ret_1h",
        "ret_4h",
        "ret_24h",
        "funding_rate",
        "funding_change_8h",
        "oi_growth_1h",
        "oi_growth_24h",
        "premium",
        "premium_change_1h",
        "dist_high_24h",
        "dist_low_7d",
        "dist_prev_day_low",
        "range_1h",
        "drawdown_30d",
        "round_distance",
        "oi_to_volume_24h",
        "liq_long_24h_oi",
        "liq_short_1h_oi",
    ]
    a = X_coarse.loc[rows, same].to_numpy()
    b = X_fine.loc[rows + pd.Timedelta(minutes=55), same].to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    # a horizon shorter than the bar does not exist there
    assert X_coarse["ret_5m"].isna().all() and X_fine["ret_5m"].notna().any()


def test_features_compare_across_price_levels():
    """A coin 1000x cheaper with 1000x smaller notionals has the same features."""
    frame = cached_synthetic()
    scaled = frame / 1000.0
    for col in ("funding_rate", "long_short_ratio", "taker_buy_ratio"):
        scaled[col] = frame[col]
    a, b = build_features(frame), build_features(scaled)
    cols = [f for f in FEATURES if not f.startswith("liq_long_within")]
    np.testing.assert_allclose(a[cols].to_numpy(), b[cols].to_numpy(), rtol=1e-7, atol=1e-12)
    # the heatmap buckets are log-price buckets: equal up to a bucket edge
    heat = [f for f in FEATURES if f.startswith("liq_long_within")]
    np.testing.assert_allclose(a[heat].to_numpy(), b[heat].to_numpy(), atol=0.02)


def test_long_gaps_are_not_bridged():
    frame = cached_synthetic()
    gap_start, gap_end = frame.index[500], frame.index[560]  # 60 hours missing
    holed = frame[(frame.index < gap_start) | (frame.index >= gap_end)]
    X = build_features(holed)
    after = X.loc[gap_end]
    for name in (
        "ret_1h",
        "ret_4h",
        "ret_24h",
        "oi_growth_24h",
        "funding_change_24h",
        "rvol_4h",
        "rvol_24h",
        "liq_long_24h_oi",
    ):
        assert np.isnan(after[name]), name
    # ...but a short gap (2 missing hours) does not blank a 24h change
    short = frame.drop(frame.index[[300, 301]])
    assert build_features(short).loc[frame.index[324], "ret_24h"] == pytest.approx(
        frame["close"].iloc[324] / frame["close"].iloc[299] - 1
    )


def test_hours_of_positive_funding_count_up_and_are_capped_at_30_days():
    frame = synthetic(days=45, seed=1)
    frame["funding_rate"] = 0.0001
    frame.loc[frame.index[10], "funding_rate"] = -0.0001
    hours = build_features(frame)["funding_positive_hours"]
    assert hours.iloc[10] == 0.0
    assert hours.iloc[15] == 5.0
    assert hours.iloc[-1] == 30 * 24.0


def test_round_number_step_depends_on_the_price_level():
    assert key_levels.round_step(np.array([90_000.0, 3_000.0, 0.15]))[0] == 1000.0
    assert key_levels.round_step(np.array([3_000.0]))[0] == 100.0
    frame = synthetic(days=3, seed=2)
    frame[["open", "high", "low", "close"]] = 91_200.0
    X = build_features(frame)
    assert X["round_distance"].iloc[-1] == pytest.approx(200 / 91_200)
    assert X["round_below_distance"].iloc[-1] == pytest.approx(200 / 91_200)
    frame[["open", "high", "low", "close"]] = 3_080.0
    assert build_features(frame)["round_distance"].iloc[-1] == pytest.approx(20 / 3_080)


def test_previous_day_low_is_the_low_of_the_previous_utc_day():
    frame = synthetic(days=4, seed=4)
    X = build_features(frame)
    t = pd.Timestamp("2024-01-03 15:00", tz="UTC")
    prev_low = frame.loc["2024-01-02", "low"].min()
    assert X.loc[t, "dist_prev_day_low"] == pytest.approx(frame.loc[t, "close"] / prev_low - 1)


def _heatmap_frame() -> pd.DataFrame:
    frame = synthetic(days=12, seed=5)
    frame[["open", "high", "low", "close", "index_price", "mark_price"]] = 100.0
    oi = np.full(len(frame), 1e6)
    oi[100:] = 2e6  # 1e6 USD of positions opened at 100 in bar 100
    frame["open_interest_usd"] = oi
    return frame


def test_liquidation_heatmap_places_added_open_interest_at_leverage_levels():
    frame = _heatmap_frame()
    X = build_features(frame)
    # 100x -> 99.5 (10%), 50x -> 98.5 (15%), 25x -> 96.5 (15%), 20x -> 95.5 (25%), per 2e6 OI
    assert X["liq_long_within_1pct"].iloc[99] == 0.0
    assert X["liq_long_within_1pct"].iloc[100] == pytest.approx(0.10 * 1e6 / 2e6)
    assert X["liq_long_within_2pct"].iloc[100] == pytest.approx(0.25 * 1e6 / 2e6)
    assert X["liq_long_within_5pct"].iloc[100] == pytest.approx(0.65 * 1e6 / 2e6)


def test_liquidation_levels_disappear_when_traded_through_or_too_old():
    frame = _heatmap_frame()
    frame.loc[frame.index[110], "low"] = 98.8  # trades through 99.5 but not 98.5
    X = build_features(frame)
    assert X["liq_long_within_1pct"].iloc[110] == 0.0
    assert X["liq_long_within_2pct"].iloc[110] == pytest.approx(0.15 * 1e6 / 2e6)
    lookback = 7 * 24
    assert X["liq_long_within_5pct"].iloc[100 + lookback - 1] > 0
    assert X["liq_long_within_5pct"].iloc[100 + lookback] == 0.0


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.reset_index(drop=True), "DatetimeIndex"),
        (lambda f: f.iloc[::-1], "increasing"),
        (lambda f: pd.concat([f.iloc[:5], f.iloc[4:10]]), "increasing"),
        (lambda f: f.drop(columns="close"), "'close'"),
        (
            lambda f: f.set_axis(
                f.index.insert(3, f.index[3] + pd.Timedelta(minutes=7))[:-1].sort_values()
            ),
            "spacing of 7min between",
        ),
        (lambda f: f.assign(volume_usd="lots"), "volume_usd"),
    ],
)
def test_bad_frames_fail_with_a_message_naming_the_problem(mutate, message):
    frame = cached_synthetic().iloc[:50].copy()
    with pytest.raises(DataError, match=message):
        build_features(mutate(frame))


def test_rows_off_the_bar_grid_are_named():
    frame = cached_synthetic().iloc[:50]
    shifted = frame.set_axis(frame.index.insert(4, frame.index[3] + pd.Timedelta(minutes=30))[:-1])
    with pytest.raises(DataError, match=r"row 4 \(2024-01-01 03:30:00\+00:00\) is not on the"):
        build_features(shifted, bar="1h")


def test_min_window_is_thirty_days():
    assert isinstance(MIN_WINDOW, pd.Timedelta)
    assert MIN_WINDOW == pd.Timedelta(days=30)


def test_price_flow_names_match_the_horizons():
    assert {f"ret_{h}" for h in ("5m", "15m", "1h", "4h", "24h")} <= set(price_flow.NAMES)
