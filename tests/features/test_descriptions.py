"""Every feature has plain words: what it measures, its unit, how to read it."""

from __future__ import annotations

import math

import pytest

from features import FEATURES
from features.descriptions import DESCRIPTIONS, describe, natural_value, number, unit


def test_every_feature_has_a_description_and_no_stale_ones() -> None:
    missing = [f for f in FEATURES if f not in DESCRIPTIONS]
    stale = [f for f in DESCRIPTIONS if f not in FEATURES]
    assert not missing, f"add descriptions to features/descriptions.py for {missing}"
    assert not stale, f"descriptions of features that no longer exist: {stale}"
    for name, entry in DESCRIPTIONS.items():
        assert entry.subject and entry.measures and entry.reading and entry.unit.symbol, name


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("value", [-0.37, 0.0, 0.00041, 2.6])
def test_every_feature_describes_any_value_in_words_with_its_number(
    feature: str, value: float
) -> None:
    text = describe(feature, value)
    assert "{" not in text and "[" not in text, text
    assert number(abs(natural_value(feature, value))) in text, text


def test_funding_reads_in_percent_per_8h_and_z_scores_in_standard_deviations() -> None:
    assert describe("funding_z_7d", 2.6, {"funding_rate": 0.00041}) == (
        "funding 0.041 % per 8 h, 2.6 standard deviations above its 7-day mean"
    )
    assert (
        describe("funding_z_30d", -2.1) == "funding 2.1 standard deviations below its 30-day mean"
    )
    assert natural_value("funding_rate", 0.00041) == pytest.approx(0.041)
    assert unit("funding_rate") == "% per 8 h"


def test_natural_units_of_other_kinds() -> None:
    assert describe("ret_1h", -0.012) == "price -1.2 % over 1 h"
    assert describe("premium", -0.0005) == "perpetual trades 0.050 % below the index"
    assert describe("volume_surge", 2.34) == "volume 2.3 x its 7-day mean"
    assert describe("funding_positive_hours", 130.0) == "funding positive for 130 hours in a row"
    assert natural_value("long_short_ratio_change_24h", math.log(1.05)) == pytest.approx(5.0)


def test_a_missing_value_says_so_instead_of_a_number() -> None:
    assert "no value" in describe("oi_growth_1h", None)
    assert "no value" in describe("oi_growth_1h", float("nan"))
    # a missing context value is left out, not printed as nan
    assert describe("funding_z_7d", 1.0, {"funding_rate": None}).startswith("funding 1.0")


def test_unknown_feature_names_where_to_add_it() -> None:
    with pytest.raises(KeyError, match="features/descriptions.py"):
        describe("not_a_feature", 1.0)
