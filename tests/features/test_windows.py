"""labelled_windows: the training set and the metadata that says what it is."""

from __future__ import annotations

import pandas as pd
import pytest

from features import FEATURES, LabelSpec, WindowsMeta, build_features, labelled_windows, make_labels
from features.errors import DataError
from features.schema import signal_groups
from tests.features.feature_frames import cached_simulated, drop_bars


def test_windows_are_the_labelled_rows_with_their_features():
    frame = drop_bars(cached_simulated(days=40, bar="1h"), fraction=0.05, seed=2)
    spec = LabelSpec()
    X, y, meta = labelled_windows(frame, spec)
    labels = make_labels(frame, spec)
    assert list(X.columns) == list(FEATURES)
    assert X.index.equals(y.index)
    assert y.notna().all() and set(y.unique()) <= {0.0, 1.0}
    assert X.index.equals(labels.dropna().index)
    pd.testing.assert_frame_equal(X, build_features(frame).loc[X.index])
    assert meta.rows == len(y) and meta.positives == int(y.sum()) > 0
    assert meta.base_rate == pytest.approx(y.mean())
    assert (meta.start, meta.end) == (X.index[0], X.index[-1])
    assert meta.bar == "1h"
    assert meta.label_spec == spec.to_dict()
    assert meta.groups == signal_groups(frame)
    assert meta.features == list(FEATURES)


def test_stride_keeps_one_row_per_stride_on_finer_bars():
    frame = cached_simulated(days=32, bar="5m")
    X, _y, meta = labelled_windows(frame, LabelSpec(kind="proxy"), stride="1h")
    assert (X.index.minute == 0).all()
    assert meta.stride == "1h" and meta.bar == "5m"
    X_all, _, _ = labelled_windows(frame, LabelSpec(kind="proxy"))
    assert len(X_all) > 10 * len(X)


@pytest.mark.parametrize("stride, message", [("7min", "multiple"), ("often", "not a duration")])
def test_a_bad_stride_is_a_clear_error(stride, message):
    with pytest.raises(DataError, match=message):
        labelled_windows(cached_simulated(days=40, bar="1h"), LabelSpec(), stride=stride)


def test_meta_records_only_the_groups_that_were_present():
    frame = cached_simulated(days=40, bar="1h").drop(
        columns=[
            "bid_depth_1pct_usd",
            "ask_depth_1pct_usd",
            "bid_depth_2pct_usd",
            "ask_depth_2pct_usd",
            "index_price",
            "mark_price",
        ]
    )
    X, _, meta = labelled_windows(frame, LabelSpec())
    assert "depth" not in meta.groups and "basis" not in meta.groups
    assert "liquidations" in meta.groups and "open_interest" in meta.groups
    assert X[["depth_imbalance_1pct", "premium", "mark_premium"]].isna().all().all()


def test_meta_round_trips_through_json():
    _, _, meta = labelled_windows(cached_simulated(days=40, bar="1h"), LabelSpec(kind="proxy"))
    again = WindowsMeta.model_validate_json(meta.model_dump_json())
    assert again == meta
    assert LabelSpec.model_validate(again.label_spec) == LabelSpec(kind="proxy")


def test_a_frame_without_any_complete_forward_window_is_a_clear_error():
    frame = cached_simulated(days=40, bar="1h").iloc[::2]  # every other hour missing
    with pytest.raises(DataError, match="no labelled rows"):
        labelled_windows(frame, LabelSpec(), bar="1h")
