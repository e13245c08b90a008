"""Labels: what a positive means, which rows have none, and the spec that records it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pydantic
import pytest

from features import LabelSpec, make_label_strength, make_labels
from features.errors import DataError
from tests.features.feature_frames import cached_simulated, synthetic


def _quiet_frame(hours: int = 300, seed: int = 0) -> pd.DataFrame:
    """Hourly bars with small liquidations (0.01% of OI) and a gently noisy price."""
    frame = synthetic(days=hours / 24, seed=seed)
    frame["open_interest_usd"] = 1e9
    frame["long_liq_usd"] = 1e5
    return frame


# --- liquidation label -------------------------------------------------------------------


def test_liquidation_label_looks_at_the_next_bars_not_the_current_one():
    frame = _quiet_frame()
    frame.loc[frame.index[100], "long_liq_usd"] = 5e6  # 0.5% of OI, in the bar opening at 100
    y = make_labels(frame, LabelSpec())
    assert y.iloc[99] == 1.0  # bar 100 is in (t, t+1h] of row 99
    assert y.iloc[100] == 0.0  # a row's own bar is already known: not a prediction target
    assert y.iloc[98] == 0.0
    assert y.drop(frame.index[99]).dropna().sum() == 0.0


def test_a_longer_horizon_sums_liquidations_over_its_window():
    frame = _quiet_frame()
    frame.loc[frame.index[[100, 101]], "long_liq_usd"] = 1.6e6  # 0.16% each, 0.32% together
    assert make_labels(frame, LabelSpec()).iloc[99] == 0.0
    y2 = make_labels(frame, LabelSpec(horizon="2h"))
    assert y2.iloc[99] == 1.0
    assert y2.iloc[98] == 0.0  # (98, 98+2h] holds only 1.6e6


def test_relative_threshold_scales_with_open_interest_and_usd_threshold_overrides_it():
    frame = _quiet_frame()
    frame.loc[frame.index[100], "long_liq_usd"] = 5e6
    frame.loc[frame.index[200], "long_liq_usd"] = 5e6
    frame.loc[frame.index[199:], "open_interest_usd"] = 1e10  # 5e6 is only 0.05% of this
    y = make_labels(frame, LabelSpec())
    assert (y.iloc[99], y.iloc[199]) == (1.0, 0.0)
    y_usd = make_labels(frame, LabelSpec(threshold_usd=4e6))
    assert (y_usd.iloc[99], y_usd.iloc[199]) == (1.0, 1.0)


def test_rows_whose_forward_window_crosses_a_gap_or_the_end_have_no_label():
    frame = _quiet_frame()
    holed = frame.drop(frame.index[150])
    y = make_labels(holed, LabelSpec(horizon="3h"))
    t = frame.index
    assert y.loc[[t[147], t[148], t[149], t[151]]].isna().tolist() == [True, True, True, False]
    assert y.loc[t[146]] == 0.0
    assert y.iloc[-3:].isna().all()
    assert y.iloc[:-3].notna().sum() == len(holed) - 3 - 3


def test_liquidation_label_needs_liquidations_and_says_so():
    frame = _quiet_frame().drop(columns=["long_liq_usd"])
    with pytest.raises(DataError, match="long_liq_usd.*proxy"):
        make_labels(frame, LabelSpec())
    frame = _quiet_frame().drop(columns=["open_interest_usd"])
    with pytest.raises(DataError, match="open_interest_usd.*threshold_usd"):
        make_labels(frame, LabelSpec())
    assert make_labels(frame, LabelSpec(threshold_usd=1e6)).notna().any()


def test_horizon_must_be_whole_bars():
    frame = _quiet_frame()
    with pytest.raises(DataError, match="90min is not a whole number of 1h bars"):
        make_labels(frame, LabelSpec(horizon="90min"))
    with pytest.raises(DataError, match="30min"):
        make_labels(frame, LabelSpec(horizon="30min"))


# --- proxy label -------------------------------------------------------------------------


def _drop_frame(drop: float) -> pd.DataFrame:
    frame = _quiet_frame(hours=400, seed=1)
    rng = np.random.default_rng(1)
    close = 50_000 * np.exp(np.cumsum(rng.normal(0, 0.003, len(frame))))
    close[300:] *= 1 - drop  # the bar opening at 300 crashes
    frame["open"] = np.r_[close[0], close[:-1]]
    frame["close"] = close
    frame["high"] = frame[["open", "close"]].max(axis=1)
    frame["low"] = frame[["open", "close"]].min(axis=1)
    return frame


def test_proxy_label_fires_when_the_forward_low_falls_k_vols_below_the_close():
    y = make_labels(_drop_frame(0.05), LabelSpec(kind="proxy", k_vol=3))
    assert y.iloc[299] == 1.0  # 5% against ~0.3% hourly vol
    assert y.iloc[300] == 0.0
    assert make_labels(_drop_frame(0.005), LabelSpec(kind="proxy", k_vol=3)).iloc[299] == 0.0
    assert make_labels(_drop_frame(0.05), LabelSpec(kind="proxy", k_vol=30)).iloc[299] == 0.0


def test_proxy_label_uses_the_lows_not_just_closes():
    frame = _drop_frame(0.0)
    frame.loc[frame.index[300], "low"] = frame["close"].iloc[299] * 0.95  # a wick that recovers
    assert make_labels(frame, LabelSpec(kind="proxy")).iloc[299] == 1.0


def test_proxy_label_can_also_require_an_open_interest_drop():
    frame = _drop_frame(0.05)
    spec = LabelSpec(kind="proxy", oi_drop_pct=2.0)
    assert make_labels(frame, spec).iloc[299] == 0.0  # OI stayed flat
    frame.loc[frame.index[300:], "open_interest_usd"] = 0.97e9
    assert make_labels(frame, spec).iloc[299] == 1.0


def test_proxy_label_needs_trailing_volatility():
    y = make_labels(_drop_frame(0.05), LabelSpec(kind="proxy", vol_window="7D"))
    assert y.iloc[:50].isna().all()  # less than half of 7 days of returns yet


# --- the spec ----------------------------------------------------------------------------


def test_label_spec_round_trips_through_a_dict_and_json():
    spec = LabelSpec(kind="proxy", horizon="2h", k_vol=2.5, vol_window="24h", oi_drop_pct=3)
    data = spec.to_dict()
    assert data["horizon"] == "2h" and data["vol_window"] == "1D"
    assert LabelSpec.model_validate(data) == spec
    assert LabelSpec.model_validate_json(spec.model_dump_json()) == spec
    assert spec.horizon == pd.Timedelta(hours=2)


def test_label_spec_defaults_are_the_relative_liquidation_threshold_over_one_hour():
    spec = LabelSpec()
    assert spec.kind == "liquidation"
    assert spec.horizon == pd.Timedelta("1h")
    assert spec.threshold_usd is None
    assert spec.threshold_oi_fraction == 0.003
    assert spec.describe() == "long liquidations >= 0.30% of open interest within 1h"
    assert "5,000,000 USD" in LabelSpec(threshold_usd=5e6).describe()
    assert "3 x trailing volatility" in LabelSpec(kind="proxy").describe()


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "squeeze"},
        {"horizon": "soon"},
        {"horizon": "-1h"},
        {"threshold_oi_fraction": 2.0},
        {"threshold_usd": -5},
        {"k_vol": 0},
        {"oi_drop_pct": 150},
        {"colour": "red"},
    ],
)
def test_label_spec_rejects_nonsense(fields):
    with pytest.raises(pydantic.ValidationError):
        LabelSpec(**fields)


def test_label_spec_is_frozen():
    with pytest.raises(pydantic.ValidationError):
        LabelSpec().k_vol = 1.0


def test_default_labels_on_the_simulator_are_rare_but_present():
    frame = cached_simulated(days=75, bar="1h")
    for spec in (LabelSpec(), LabelSpec(kind="proxy")):
        y = make_labels(frame, spec).dropna()
        assert 0.002 < y.mean() < 0.15, (spec.describe(), y.mean())


# --- label strength ----------------------------------------------------------------------


def test_label_strength_is_the_forward_liquidations_over_the_threshold():
    frame = _quiet_frame()  # 1e5 per bar = 1/30 of the 0.3% threshold on 1e9 OI
    frame.loc[frame.index[100], "long_liq_usd"] = 3e6  # exactly the threshold
    frame.loc[frame.index[150], "long_liq_usd"] = 6e6  # twice the threshold
    frame.loc[frame.index[200], "long_liq_usd"] = 0.0  # no liquidations
    s = make_label_strength(frame, LabelSpec())
    y = make_labels(frame, LabelSpec())
    assert s.iloc[99] == pytest.approx(1.0) and y.iloc[99] == 1.0
    assert s.iloc[149] == pytest.approx(2.0)
    assert s.iloc[199] == 0.0
    assert s.iloc[50] == pytest.approx(1e5 / 3e6)
    labelled = y.notna()
    assert ((s[labelled] >= 1.0) == (y[labelled] == 1.0)).all()


def test_label_strength_is_nan_exactly_where_the_label_is():
    frame = _quiet_frame().drop(_quiet_frame().index[150])
    for spec in (LabelSpec(horizon="3h"), LabelSpec(kind="proxy", vol_window="1D")):
        s, y = make_label_strength(frame, spec), make_labels(frame, spec)
        assert s.isna().equals(y.isna())
        assert s.isna().sum() > 0 and (s.dropna() >= 0).all()


def test_label_strength_only_looks_at_the_forward_window():
    frame = _quiet_frame()
    base = make_label_strength(frame, LabelSpec()).iloc[99]
    for row in (98, 99, 101):  # the past, the row's own bar, beyond t + horizon
        changed = frame.copy()
        changed.loc[frame.index[row], "long_liq_usd"] = 9e6
        assert make_label_strength(changed, LabelSpec()).iloc[99] == base
    changed = frame.copy()
    changed.loc[frame.index[100], "long_liq_usd"] = 1.5e6  # inside (t, t + 1h]
    assert make_label_strength(changed, LabelSpec()).iloc[99] == pytest.approx(0.5)


def test_proxy_label_strength_is_the_drop_in_required_drops():
    frame = _drop_frame(0.05)
    spec = LabelSpec(kind="proxy", vol_window="1D")
    s, y = make_label_strength(frame, spec), make_labels(frame, spec)
    labelled = y.notna()
    assert y.sum() >= 1
    assert ((s[labelled] >= 1.0) == (y[labelled] == 1.0)).all()
    assert s[labelled & (y == 0)].max() < 1.0
    small = make_label_strength(_drop_frame(0.005), spec).iloc[299]
    assert 0.0 < small < 1.0 < s.iloc[299]
