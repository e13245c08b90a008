"""Batch scoring's columns are /predict's answers, row for row, to the bit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features import FEATURES, build_features
from serving.batch import BatchScorer
from serving.schemas import Driver


def _rows_with_every_case(market: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Feature rows with all inputs, with missing groups, out of range values, inf and NaN."""
    full = build_features(market).to_numpy(np.float64)
    no_liq = build_features(market.drop(columns=["long_liq_usd", "short_liq_usd"])).to_numpy(np.float64)
    rng = np.random.default_rng(3)
    odd = full[-300:].copy()
    odd[rng.random(odd.shape) < 0.05] = np.nan
    odd[:50, rng.integers(0, len(FEATURES), 50)] *= 1e3  # far outside the training range
    odd[50:60, 3] = np.inf
    odd[60:70, 5] = -np.inf
    odd[70] = np.nan  # nothing at all
    odd[80:90, ::2] = 1e300  # impossible values: the drivers come from the ordinary half
    return np.vstack([full, no_liq[-400:], odd]), list(market.columns)


def test_batch_columns_equal_predict_answers_row_for_row(predictor, market):
    rows, columns = _rows_with_every_case(market)
    got = BatchScorer(predictor).score(rows, columns)
    answers = predictor.respond(
        ["BTC"] * len(rows), rows, [(None, predictor.row_warnings(r, columns)) for r in rows]
    )
    assert len(got) == len(answers)
    for i, a in enumerate(answers):
        assert got["probability"].iloc[i] == a.probability, i
        assert got["risk_level"].iloc[i] == a.risk_level, i
        assert got["features_present"].iloc[i] == a.features_present, i
        assert got["drivers"].iloc[i] == json.dumps([d.model_dump(mode="json") for d in a.drivers]), i
        assert got["warnings"].iloc[i] == json.dumps([w.code for w in a.warnings]), i
    codes = {c for text in got["warnings"] for c in json.loads(text)}
    # every kind of answer occurred, so each branch above was compared
    assert {"missing_signal_group", "out_of_training_range", "probability_floored"} <= codes
    assert (got["drivers"] == "[]").any() and (got["drivers"] != "[]").any()
    impossible = got["drivers"].iloc[len(rows) - 300 + 80: len(rows) - 300 + 90]
    assert (impossible != "[]").all(), "rows with impossible values are explained by the others"


def test_batch_refuses_rows_of_another_width(predictor):
    with pytest.raises(ValueError, match=f"{len(FEATURES)} features"):
        BatchScorer(predictor).score(np.zeros((3, len(FEATURES) - 1)), None)


@pytest.mark.parametrize("calibration", ["platt", "isotonic"])
def test_one_row_answers_equal_the_many_row_path_to_the_bit(predictor, market, calibration):
    """/predict scores its one row with one calibration (the probability and the drivers'
    probabilities without their push in one array); every answer, drivers and warnings
    included, equals the many-row path's (two calibrations, Booster.predict's tree SHAP)."""
    from models import FlushModel
    from models.calibration import fit_calibrator
    from serving.predictor import Predictor

    if calibration != "platt":  # the fixture's model is Platt-calibrated
        m = predictor.model
        rows = build_features(market).to_numpy(np.float64)
        raw = m.booster.predict(rows)
        labels = (raw > np.quantile(raw, 0.8)).astype(np.float64)
        model = FlushModel(m.booster, m.features, fit_calibrator(raw, labels, calibration),
                           m.label_spec, m.metadata)
        predictor = Predictor(model, "flushrisk-btc", "1", {"symbol": "BTC"})
    assert predictor._fast_contributions is not None and predictor._contrib_is_margin
    rows, columns = _rows_with_every_case(market)
    rows = rows[-450:]  # the odd rows and the rows without liquidations
    extras = [(None, predictor.row_warnings(r, columns)) for r in rows]
    many = predictor.respond(["BTC"] * len(rows), rows, extras)
    for i, (row, answer) in enumerate(zip(rows, many, strict=True)):
        one = predictor.respond(["BTC"], row[None, :], [(None, predictor.row_warnings(row, columns))])
        assert one[0].model_dump_json() == answer.model_dump_json(), i


def test_a_value_too_large_to_convert_is_no_driver_and_no_crash(predictor):
    """A log ratio of 1000 (exp overflows) among a row's largest contributions: batch scoring
    words the row as /predict does (that value is no driver), it does not raise."""
    j = FEATURES.index("long_short_ratio_change_24h")
    values = np.full((1, len(FEATURES)), 0.5)
    values[0, j] = 1000.0
    contrib = np.full((1, len(FEATURES)), 1e-3)
    contrib[0, j] = 2.0  # the largest contribution
    margin = contrib.sum(axis=1)
    probability = predictor.model.calibrator(1 / (1 + np.exp(-margin)))
    got = BatchScorer(predictor)._drivers(values, contrib, margin, probability)
    want = predictor._drivers(values[0], contrib[0], float(margin[0]), float(probability[0]))
    drivers = json.loads(got[0])
    assert "long_short_ratio_change_24h" not in {d["feature"] for d in drivers}
    assert [d["feature"] for d in drivers] == [d["feature"] for d in want] and drivers
    assert drivers == [Driver(**d).model_dump(mode="json") for d in want]  # to the bit
