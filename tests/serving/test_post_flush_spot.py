"""The after-flush read compares spot with perp volume where both are recorded."""

from __future__ import annotations

import numpy as np
import pytest

from features.errors import DataError
from features.schema import validate_frame
from features.sources.simulator import simulate
from serving.post_flush import read_flush
from tests.serving.test_post_flush import STEP, _market

N, FLUSH = 24 * 10, 24 * 10 - 6


def _with_spot(share_before: float, share_after: float):
    frame = _market(flush_at=FLUSH, n=N)
    frame["volume_usd"] = 1e8
    frame["spot_volume_usd"] = np.where(np.arange(N) < FLUSH, share_before, share_after) * 1e8
    return validate_frame(frame, "hand-made frame")  # the column is canonical and checked


def _item(frame):
    read = read_flush(frame, STEP, frame.index[-1])
    return {i["name"]: i for i in read["items"]}.get("spot vs perp volume")


def test_spot_share_growing_after_the_flush_reads_as_real_demand():
    item = _item(_with_spot(0.2, 0.5))
    assert item["then"] == pytest.approx(0.2) and item["now"] == pytest.approx(0.5)
    assert "0.50x perp volume since the flush" in item["text"]
    assert "against 0.20x in the 24 h before" in item["text"]
    assert "stepping in" in item["text"]


def test_spot_share_shrinking_reads_as_leverage_buying():
    item = _item(_with_spot(0.4, 0.1))
    assert item["now"] == pytest.approx(0.1) and "perp-driven" in item["text"]
    same = _item(_with_spot(0.3, 0.31))
    assert "no sign of spot demand" in same["text"]


def test_no_spot_volume_no_item():
    frame = _market(flush_at=FLUSH, n=N)
    frame["volume_usd"] = 1e8
    assert _item(frame) is None  # nothing is invented where spot volume was not recorded


def test_negative_spot_volume_is_refused_with_its_row():
    frame = _with_spot(0.2, 0.5)
    frame.iloc[3, frame.columns.get_loc("spot_volume_usd")] = -5.0
    with pytest.raises(DataError, match="spot_volume_usd.*row 4"):
        validate_frame(frame, "bad.csv")


def test_the_simulator_records_spot_volume_that_shrinks_while_leverage_builds():
    frame = simulate("BTC", days=45, bar="1h", seed=3)
    share = frame["spot_volume_usd"] / frame["volume_usd"]
    assert ((share > 0) & (share < 1)).all()
    crowded = frame["funding_rate"] > frame["funding_rate"].quantile(0.8)
    calm = frame["funding_rate"] < frame["funding_rate"].quantile(0.2)
    assert share[crowded].mean() < 0.7 * share[calm].mean()


def test_a_mapped_csv_brings_spot_volume_in_usd(tmp_path):
    import pandas as pd

    from features.sources.csv_mapped import CsvMapping, import_csv

    times = pd.date_range("2025-01-01", periods=4, freq="1h", tz="UTC")
    pd.DataFrame(
        {"ts": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "px": [100.0, 101, 102, 101],
         "fr": [1e-4] * 4, "perp_vol": [5e6] * 4, "spot_coins": [1e4, 2e4, 1e4, 3e4]}
    ).to_csv(tmp_path / "venue.csv", index=False)
    mapping = CsvMapping(
        time="ts", ohlc_from_close=True,
        columns={"close": "px", "funding_rate": "fr", "volume_usd": "perp_vol",
                 "spot_volume_usd": "spot_coins"},
        scale={"spot_volume_usd": 100.0},  # coins -> USD at a flat price, for the test
    )
    frame = import_csv(tmp_path / "venue.csv", mapping)
    assert list(frame["spot_volume_usd"]) == [1e6, 2e6, 1e6, 3e6]
