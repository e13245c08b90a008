"""csv: any table through a column mapping and unit options."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError
from features.sources.csv_mapped import CsvMapping, import_csv, load_mapping, parse_pairs
from tests.features.data_errors import fails_naming


def table(n: int = 6, funding: float = 0.01) -> pd.DataFrame:
    ts = pd.date_range("2024-03-01", periods=n, freq="15min", tz="UTC")
    price = 60_000 + np.arange(n) * 10.0
    return pd.DataFrame(
        {
            "ts_ms": ts.as_unit("ms").asi8,
            "o": price - 5,
            "h": price + 20,
            "l": price - 20,
            "c": price,
            "fr_pct": np.full(n, funding),
            "oi_contracts": np.full(n, 1000.0),
            "junk": "x",
        }
    )


MAPPING = {
    "time": "ts_ms",
    "columns": {
        "open": "o",
        "high": "h",
        "low": "l",
        "close": "c",
        "funding_rate": "fr_pct",
        "open_interest_usd": "oi_contracts",
    },
    "funding_unit": "percent",
    "scale": {"open_interest_usd": 100},
}


def test_yaml_mapping_maps_columns_and_converts_units(tmp_path):
    src = tmp_path / "prices.csv"
    table().to_csv(src, index=False)
    mapping_file = tmp_path / "map.yaml"
    mapping_file.write_text(
        "time: ts_ms\ncolumns:\n  open: o\n  high: h\n  low: l\n  close: c\n"
        "  funding_rate: fr_pct\n  open_interest_usd: oi_contracts\nfunding_unit: percent\n"
        "scale:\n  open_interest_usd: 100\n"
    )
    frame = import_csv(src, load_mapping(mapping_file))
    assert frame.index[0] == pd.Timestamp("2024-03-01", tz="UTC")
    assert frame.index[1] - frame.index[0] == pd.Timedelta("15min")
    assert frame["close"].tolist() == table()["c"].tolist()
    assert frame["funding_rate"].tolist() == pytest.approx([0.0001] * 6)
    assert frame["open_interest_usd"].tolist() == [100_000.0] * 6
    assert "junk" not in frame.columns


def test_json_mapping_parquet_input_and_funding_interval(tmp_path):
    src = tmp_path / "prices.parquet"
    data = table(funding=0.00005)
    data["ts_ms"] = pd.to_datetime(data["ts_ms"], unit="ms", utc=True)  # a real datetime column
    data.to_parquet(src)
    mapping_file = tmp_path / "map.json"
    mapping_file.write_text(
        json.dumps({**MAPPING, "funding_unit": "fraction", "funding_interval_hours": 4})
    )
    frame = import_csv(src, load_mapping(mapping_file))
    assert frame["funding_rate"].tolist() == pytest.approx([0.0001] * 6)  # per 4 h -> per 8 h


def test_flags_override_the_file_and_auto_detects_percent(tmp_path):
    src = tmp_path / "p.csv"
    table().rename(columns={"c": "last"}).to_csv(src, index=False)
    base = CsvMapping.model_validate(MAPPING)
    mapping = base.merged(columns=parse_pairs(["close=last"], "--map"), funding_unit="auto")
    frame = import_csv(src, mapping)
    assert frame["close"].iloc[-1] == 60_050.0
    assert frame["funding_rate"].iloc[0] == pytest.approx(0.0001)


def test_one_price_column_with_ohlc_from_close_and_iso_times(tmp_path):
    src = tmp_path / "p.csv"
    pd.DataFrame(
        {
            "time": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"],
            "close": [100.0, 110.0, 105.0],
            "funding_rate": [0.0001, 0.0001, 0.0001],
        }
    ).to_csv(src, index=False)
    frame = import_csv(src, CsvMapping(ohlc_from_close=True))
    assert frame["open"].tolist() == [100.0, 100.0, 110.0]
    assert frame["high"].tolist() == [100.0, 110.0, 110.0]
    with pytest.raises(DataError, match=r"no source column for required \['open', 'high', 'low'\]"):
        import_csv(src, CsvMapping())


@pytest.mark.parametrize(
    ("mapping", "mutate", "expected"),
    [
        ({**MAPPING, "funding_unit": "fraction"}, None, "look like percent"),
        (MAPPING, lambda d: d.assign(fr_pct=0.0001), "look like fractions"),
        (
            {**MAPPING, "columns": {**MAPPING["columns"], "close": "close_px"}},
            None,
            "missing column(s) 'close_px'",
        ),
        (MAPPING, lambda d: d.iloc[[0, 2, 1, 3]], "not increasing"),
        (MAPPING, lambda d: d.iloc[[0, 1, 1, 2]], "duplicate timestamp"),
        (MAPPING, lambda d: d.assign(ts_ms=d["ts_ms"] + 60_000), "not on the 15m grid"),
    ],
)
def test_bad_tables_fail_naming_file_and_problem(tmp_path, mapping, mutate, expected):
    src = tmp_path / "bad.csv"
    data = table()
    (mutate(data) if mutate else data).to_csv(src, index=False)
    with fails_naming(src, expected):
        import_csv(src, CsvMapping.model_validate(mapping))


def test_invalid_mapping_files_and_flags_are_explained(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("columns:\n  closing_price: c\n")
    with pytest.raises(DataError, match="unknown canonical column"):
        load_mapping(bad)
    bad.write_text("columns: [unclosed\n")
    with pytest.raises(DataError, match="not valid YAML"):
        load_mapping(bad)
    with pytest.raises(DataError, match="expected CANONICAL=VALUE"):
        parse_pairs(["close"], "--map")
