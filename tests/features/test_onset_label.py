"""The onset label: positive only when a squeeze STARTS; rows inside a running cascade are out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pydantic
import pytest

from features import LabelSpec, labelled_windows, make_label_strength, make_labels
from tests.features.feature_frames import synthetic


def _frame_with_cascade() -> pd.DataFrame:
    frame = synthetic(days=300 / 24, seed=0)
    frame["open_interest_usd"] = 1e9
    frame["long_liq_usd"] = 1e5
    # a cascade: large long liquidations in bars 100, 101 and 102; a lone one in bar 200
    for bar in (100, 101, 102, 200):
        frame.loc[frame.index[bar], "long_liq_usd"] = 5e6
    return frame


def test_onset_label_excludes_running_cascades():
    frame = _frame_with_cascade()
    plain = make_labels(frame, LabelSpec())
    onset = make_labels(frame, LabelSpec(onset="6h"))
    assert plain.iloc[[99, 100, 101, 199]].tolist() == [1.0, 1.0, 1.0, 1.0]
    # the squeeze that starts the cascade stays positive, as does the lone one
    assert onset.iloc[99] == 1.0 and onset.iloc[199] == 1.0
    # rows after the cascade began, up to 6 h after its last squeeze, are not scored at all
    assert onset.iloc[100:108].isna().all()
    assert onset.iloc[108] == 0.0  # row 108 closes 6 h after the last squeeze bar (102) closed
    assert onset.iloc[200:206].isna().all() and onset.iloc[206] == 0.0
    # elsewhere the two labels agree
    rest = onset.notna()
    assert (onset[rest] == plain[rest]).all()
    # the strength is NaN exactly where the onset label is
    strength = make_label_strength(frame, LabelSpec(onset="6h"))
    assert (strength.isna() == onset.isna()).all()
    # and the training windows leave those rows out
    X, _, meta = labelled_windows(frame, LabelSpec(onset="6h"))
    assert frame.index[101] not in X.index and frame.index[99] in X.index
    assert meta.label_spec["onset"] == "6h"


def test_onset_label_uses_nothing_after_the_row():
    frame = _frame_with_cascade()
    before = make_labels(frame, LabelSpec(onset="6h"))
    changed = frame.copy()
    changed.loc[changed.index[150:], "long_liq_usd"] = 9e6  # every later bar is a squeeze
    after = make_labels(changed, LabelSpec(onset="6h"))
    # rows up to 148 cannot see bars from 150 on through the running-cascade rule
    pd.testing.assert_series_equal(before.iloc[:149], after.iloc[:149])


def test_onset_label_says_what_it_is_about_and_round_trips():
    spec = LabelSpec(kind="proxy", onset="6h")
    assert "after at least 6h without one" in spec.describe()
    assert LabelSpec.model_validate(spec.to_dict()) == spec
    assert spec.base() == LabelSpec(kind="proxy")
    with pytest.raises(pydantic.ValidationError, match="at least the horizon"):
        LabelSpec(horizon="4h", onset="2h")


def test_proxy_onset_label_on_simulated_data_is_rarer_and_has_gaps():
    from features.sources.simulator import simulate

    frame = simulate("BTC", days=60, bar="1h", seed=3)
    plain = make_labels(frame, LabelSpec(kind="proxy"))
    onset = make_labels(frame, LabelSpec(kind="proxy", onset="6h"))
    assert onset.sum() <= plain.sum() and onset.isna().sum() > plain.isna().sum()
    assert np.all(plain[onset == 1] == 1)
