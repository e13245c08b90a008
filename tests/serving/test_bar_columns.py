"""Request bars read column-wise (serving.bar_columns) give what pydantic's per-bar validation
gives: the same arrays for a valid request, the same 400 errors for an invalid one."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from serving import schemas
from serving.bar_columns import rules
from serving.schemas import Bar, PredictRequest


def _bars(n: int = 4, zone: str = "+00:00") -> list[dict[str, Any]]:
    return [
        {
            "time": f"2024-03-01T{h:02d}:00:00{zone}",
            "open": 100.0 + h,
            "high": 101.5 + h,
            "low": 99 + h,  # an int where a float belongs is read as the float
            "close": 100.5 + h,
            "funding_rate": 1e-4,
            "volume_usd": 2.5e8,
            "taker_buy_ratio": 0.5,
            "open_interest_usd": None if h == 1 else 8e9,
        }
        for h in range(n)
    ]


def _outcome(body: Any, *, as_json: bool) -> Any:
    """(times, columns) of a valid request, or the error list of an invalid one."""
    try:
        if as_json:
            request = PredictRequest.model_validate_json(json.dumps(body, allow_nan=True))
        else:
            request = PredictRequest.model_validate(body)
    except ValidationError as err:
        return [(e["loc"], e["msg"], e["type"]) for e in err.errors(include_url=False)]
    bars = request.bars
    return bars.times_ns.tolist(), {k: v.tolist() for k, v in bars.columns.items()}


def _same(body: Any, as_json: bool) -> Any:
    fast = _outcome(body, as_json=as_json)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schemas, "_READER", lambda value: None)  # pydantic's per-bar path only
        slow = _outcome(body, as_json=as_json)
    assert _equal(fast, slow), (fast, slow)
    return fast


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_equal(a[k], b[k]) for k in a)
    return a == b


def test_a_plain_request_takes_the_column_path_and_gets_the_same_arrays():
    bars = _bars()
    assert schemas._READER(bars) is not None  # the fast path is the one exercised
    times, columns = _same({"symbol": "BTC", "bars": bars}, as_json=True)
    assert list(columns) == [c for c in schemas.COLUMNS if c in bars[0]]  # COLUMNS order
    assert columns["low"][0] == 99.0 and math.isnan(columns["open_interest_usd"][1])
    assert times[1] - times[0] == 3600 * 10**9


def test_the_rules_are_the_bar_schemas_own():
    table = rules(Bar)
    assert table["close"].required and table["close"].gt == 0
    assert table["funding_rate"].ge == -0.05 and table["funding_rate"].le == 0.05
    assert not table["taker_buy_ratio"].required and table["taker_buy_ratio"].le == 1
    assert set(table) == set(schemas.COLUMNS)


ODD_VALUES = [
    None,
    True,
    False,
    0,
    0.0,
    -1.0,
    -0.0,
    1e-300,
    2**70,
    10**400,
    "1.5",
    " 2",
    "abc",
    [1.0],
    {},
    math.nan,
    math.inf,
    -math.inf,
    0.06,
    -0.06,
    1.0000001,
]
ODD_TIMES = [
    "2024-03-01T05:00:00Z",
    "2024-03-01T05:00:00",
    "2024-03-01T05:00:00.123456+00:00",
    "2024-03-01T05:00:00.1234567+00:00",
    "2024-03-01T05:00:00+01:00",
    "2024-03-01 05:00:00+00:00",
    "2024-02-30T05:00:00+00:00",
    "2024-03-01T24:00:00+00:00",
    "1969-12-31T23:00:00+00:00",
    "2262-01-01T00:00:00+00:00",
    "2024-03-01T01:00:00+00:00",
    "2024-03-01",
    1709269200,
    None,
    " 2024-03-01T05:00:00+00:00",
    "2024-03-01T05:00:00z",
]
FIELDS = [
    "open",
    "high",
    "low",
    "close",
    "funding_rate",
    "volume_usd",
    "taker_buy_ratio",
    "open_interest_usd",
    "long_short_ratio",
]


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    edits=st.lists(
        st.one_of(
            st.tuples(
                st.just("value"),
                st.integers(0, 3),
                st.sampled_from(FIELDS),
                st.sampled_from(ODD_VALUES),
            ),
            st.tuples(
                st.just("time"), st.integers(0, 3), st.just("time"), st.sampled_from(ODD_TIMES)
            ),
            st.tuples(
                st.just("drop"), st.integers(0, 3), st.sampled_from(FIELDS + ["time"]), st.none()
            ),
            st.tuples(
                st.just("extra"), st.integers(0, 3), st.sampled_from(["spot", "Close"]), st.none()
            ),
        ),
        max_size=3,
    ),
    zone=st.sampled_from(["+00:00", "Z", ""]),
    as_json=st.booleans(),
)
def test_any_request_gets_the_same_answer_by_either_path(edits, zone, as_json):
    bars = _bars(zone=zone)
    for kind, i, field, value in edits:
        if kind == "drop":
            bars[i].pop(field, None)
        elif kind == "extra":
            bars[i][field] = 1.0
        else:
            bars[i][field] = value
    _same({"symbol": "BTC", "bars": bars}, as_json)


def test_bars_out_of_order_or_crossed_are_named_on_the_column_path_too():
    bars = _bars()
    bars[2]["time"] = bars[1]["time"]
    assert schemas._READER(bars) is not None  # each bar is valid: the column path checks order
    errors = _same({"symbol": "BTC", "bars": bars}, as_json=True)
    assert "bars.2.time" in errors[0][1] and "duplicates" in errors[0][1]
    bars = _bars()
    bars[3]["high"] = 90.0
    assert schemas._READER(bars) is not None
    errors = _same({"symbol": "BTC", "bars": bars}, as_json=True)
    assert "bars.3: high (90.0) must be >= low" in errors[0][1]


def test_a_json_body_orjson_refuses_still_gets_pydantics_answer():
    for body in (b'{"symbol": "BTC", "features": {"funding_rate": NaN}}', b'{"symbol": "BTC"'):
        with pytest.raises(ValidationError):
            PredictRequest.model_validate_json(body)
    ok = PredictRequest.model_validate_json(
        b'{"symbol": "BTC", "features": {"funding_rate": 1e-4}}'
    )
    assert ok.features == {"funding_rate": 1e-4}
    assert np.isclose(ok.features["funding_rate"], 1e-4)


def test_small_feature_values_are_plausible_in_every_unit():
    """The features check skips the unit conversion for |v| <= PLAUSIBLE_ALWAYS."""
    from features import FEATURES
    from features.descriptions import plausible

    grid = np.linspace(-schemas.PLAUSIBLE_ALWAYS, schemas.PLAUSIBLE_ALWAYS, 401)
    assert all(plausible(f, float(v)) for f in FEATURES for v in grid)
    with pytest.raises(ValidationError, match="not a plausible value"):
        PredictRequest.model_validate(
            {"symbol": "BTC", "features": {"long_short_ratio_change_24h": 1e6}}
        )


# -- features bodies: the plain-body shortcut against pydantic's validation -------------------

_FEATURE_NAMES = sorted(schemas._FEATURE_SET)
_SYMBOLS = st.sampled_from(
    ["BTC", "btc-usdt", " BTC", "BTC ", "", "x" * 40, "x" * 41, "ΒTC", "B\tTC", "B\x1fC", 5, None]
)
_VALUES = st.one_of(
    st.none(),
    st.floats(-30.0, 30.0),
    # beyond PLAUSIBLE_ALWAYS the shortcut applies the unit check itself: plausible in some
    # units and not in others (hour counts, percentages, log ratios), up to float64's limit
    st.floats(-1e300, 1e300).filter(lambda v: abs(v) > 20.0),
    st.sampled_from(
        [0.0, -0.0, 20.0, -20.0, 20.000001, 77.0, 700.0, -1e3, 1e13, 1e15, 1e16, 1e20, -1e300]
        + [1.7e308, 7, True, "1.5", [1.0]]
    ),
)


@st.composite
def _features_bodies(draw: Any) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from([*_FEATURE_NAMES, "no_such_feature"]), max_size=12))
    body: dict[str, Any] = {
        "symbol": draw(_SYMBOLS),
        "features": {name: draw(_VALUES) for name in names},
    }
    extra = draw(st.sampled_from([None, "as_of", "bars", "other", "-symbol", "-features"]))
    if extra == "as_of":
        body["as_of"] = "2026-01-01T00:00:00Z"
    elif extra in ("bars", "other"):
        body[extra] = None
    elif extra is not None:
        del body[extra[1:]]
    return body


def _request_outcome(body: bytes, validate: Any) -> Any:
    try:
        request = validate(body)
    except ValidationError as err:
        return [(e["loc"], e["msg"], e["type"]) for e in err.errors(include_url=False)]
    return (
        request.symbol,
        request.features,
        request.bars is None,
        request.as_of,
        sorted(request.model_fields_set),
    )


@settings(max_examples=400, deadline=None)
@given(_features_bodies())
def test_a_features_body_gets_the_same_request_or_error_by_either_path(body: Any) -> None:
    """A plain features body skips validation: it must give exactly the request validation
    gives, and every other body the same errors (so the 400 answers stay as they were)."""
    raw = json.dumps(body).encode()
    fast = _request_outcome(raw, PredictRequest.model_validate_json)
    slow = _request_outcome(raw, lambda b: PredictRequest.__pydantic_validator__.validate_json(b))
    assert _equal(fast, slow), (fast, slow)


def test_a_plain_features_body_takes_the_shortcut() -> None:
    body = {"symbol": "BTC", "features": {_FEATURE_NAMES[0]: 0.5, _FEATURE_NAMES[1]: None}}
    assert schemas._plain_features_body(json.loads(json.dumps(body)))
    request = PredictRequest.model_validate_json(json.dumps(body))
    assert request.features == body["features"] and request.bars is None


def test_a_features_body_with_hour_counts_takes_the_shortcut() -> None:
    """A feature row as the pipeline computes it (hours of positive funding above
    PLAUSIBLE_ALWAYS) skips the second validation; an implausible value does not."""
    hours = {"funding_positive_hours": 77.0, "funding_rate": 1e-4}
    assert schemas._plain_features_body({"symbol": "BTC", "features": hours})
    absurd = {"long_short_ratio_change_24h": 1e6}
    assert not schemas._plain_features_body({"symbol": "BTC", "features": absurd})
