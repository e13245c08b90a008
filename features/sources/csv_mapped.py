"""Importer for any CSV or Parquet file, given a column mapping (``--format csv``).

The mapping says which source column feeds which canonical column and in which units. It comes
from a small YAML or JSON file (``--mapping FILE``), from CLI flags, or both (flags win)::

    time: ts                 # the bar-open-time column (text or epoch)
    time_unit: auto          # auto | iso | s | ms | us | ns   (auto: by magnitude / text)
    columns:                 # canonical column: source column
      close: last_price
      funding_rate: funding
      open_interest_usd: oi
    funding_unit: percent    # fraction | percent | bps | auto (checked against the values)
    funding_interval_hours: 8
    scale:                   # multiply a canonical column after mapping (units -> USD)
      open_interest_usd: 100
    ohlc_from_close: false   # true: build open/high/low from close when the file has only one price

Funding is converted to a fraction per 8 hours. A declared unit the values contradict (percent
values declared as fractions, or the reverse) is an error naming the column: the model would
otherwise learn funding 100 times too large or small.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from features.bars import infer_bar
from features.errors import DataError
from features.schema import COLUMNS, PRICE_COLUMNS
from features.sources.config_files import read_config_file, validation_problems
from features.sources.tables import (
    check_time_order,
    finish,
    numeric_columns,
    ohlc_from_close,
    parse_text_times,
    read_table,
    require_source_columns,
)
from features.sources.units import epoch_to_datetime, funding_to_fraction


class CsvMapping(BaseModel):
    """How a foreign table maps onto the canonical frame."""

    model_config = ConfigDict(extra="forbid")

    time: str = Field("time", description="Column holding the bar open time.")
    time_unit: Literal["auto", "iso", "s", "ms", "us", "ns"] = "auto"
    columns: dict[str, str] = Field(default_factory=dict, description="canonical -> source column")
    funding_unit: Literal["fraction", "percent", "bps", "auto"] = "fraction"
    funding_interval_hours: float = Field(8.0, gt=0)
    scale: dict[str, float] = Field(default_factory=dict)
    ohlc_from_close: bool = False

    @field_validator("columns", "scale")
    @classmethod
    def _canonical_keys(cls, value: dict[str, object]) -> dict[str, object]:
        unknown = [k for k in value if k not in COLUMNS]
        if unknown:
            raise ValueError(f"unknown canonical column(s) {unknown}; known: {list(COLUMNS)}")
        return value

    @field_validator("scale")
    @classmethod
    def _finite_factors(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not math.isfinite(v) or v == 0}
        if bad:
            raise ValueError(f"scale factors must be finite and non-zero numbers, got {bad}")
        return value

    def merged(self, **overrides: object) -> CsvMapping:
        """A copy with CLI overrides applied (dicts are merged key by key, None is ignored)."""
        data = self.model_dump()
        for key, value in overrides.items():
            if value is None or value == {}:
                continue
            data[key] = {**data[key], **value} if isinstance(value, dict) else value
        return CsvMapping.model_validate(data)


def load_mapping(path: Path | None) -> CsvMapping:
    """Read a mapping from YAML or JSON; no path means the default (canonical names)."""
    if path is None:
        return CsvMapping()
    path = Path(path)
    data = read_config_file(path, "the mapping file")
    try:
        return CsvMapping.model_validate(data or {})
    except ValidationError as err:
        problems = validation_problems(err, whole="mapping")
        raise DataError(f"{path}: invalid mapping: {problems}") from None


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    """'close=last_price' flags as a dict, with a clear error for a malformed one."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise DataError(f"{option} {pair!r}: expected CANONICAL=VALUE, e.g. close=last_price")
        out[key.strip()] = value.strip()
    return out


def import_csv(path: Path, mapping: CsvMapping | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet table at ``path`` through ``mapping`` into a canonical frame."""
    path = Path(path)
    mapping = mapping or CsvMapping()
    source = str(path)
    raw = read_table(path, source)
    columns = _resolve_columns(raw, mapping)
    needed = [mapping.time, *columns.values()]
    require_source_columns(raw, needed, source)
    times = _times(raw[mapping.time], mapping.time_unit, source, mapping.time)
    check_time_order(times, source)
    required = {"close", "funding_rate"}
    if not mapping.ohlc_from_close:
        required |= {"open", "high", "low"}
    sources = list(dict.fromkeys(columns.values()))
    text = raw[sources].astype("str").where(raw[sources].notna())
    numbers = numeric_columns(
        text, sources, source, required=[columns[c] for c in required if c in columns]
    )
    numbers.index = times.rename("time")
    frame = pd.DataFrame(
        {canon: numbers[src] for canon, src in columns.items()}, index=numbers.index
    )
    for canon, factor in mapping.scale.items():
        if canon in frame:
            frame[canon] = frame[canon] * factor
    if "funding_rate" in frame:
        frame["funding_rate"] = funding_to_fraction(
            frame["funding_rate"],
            mapping.funding_unit,
            source,
            columns["funding_rate"],
            mapping.funding_interval_hours,
            fix="Set the unit with --funding-unit (or funding_unit in the mapping).",
        )
    if mapping.ohlc_from_close:
        if len(frame) < 2:
            raise DataError(f"{source}: need at least 2 rows to build OHLC from close")
        frame[list(PRICE_COLUMNS)] = ohlc_from_close(frame["close"], infer_bar(frame.index, source))
    missing = [c for c in ("open", "high", "low", "close", "funding_rate") if c not in frame]
    if missing:
        raise DataError(
            f"{source}: the mapping gives no source column for required {missing}; map them "
            "(--map close=COLUMN ...) or set ohlc_from_close when the file has one price"
        )
    return finish(frame, source)


def _resolve_columns(raw: pd.DataFrame, mapping: CsvMapping) -> dict[str, str]:
    """Mapped columns, plus canonical columns the file already has under their own names."""
    columns = dict(mapping.columns)
    for canon in COLUMNS:
        if canon not in columns and canon in raw.columns:
            columns[canon] = canon
    if mapping.ohlc_from_close:
        for canon in ("open", "high", "low"):
            if canon not in mapping.columns:
                columns.pop(canon, None)
    return columns


def _times(raw: pd.Series, unit: str, source: str, column: str) -> pd.DatetimeIndex:
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        times = pd.DatetimeIndex(raw)
        return (times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")).as_unit(
            "ns"
        )
    text = raw.astype("str").where(raw.notna())
    numeric = pd.to_numeric(text, errors="coerce")
    if unit == "iso" or (unit == "auto" and numeric.isna().any()):
        return parse_text_times(text, source, column)
    stamps = numeric_columns(pd.DataFrame({column: text}), [column], source, required=[column])[
        column
    ]
    return epoch_to_datetime(stamps, "auto" if unit == "auto" else unit, source, column)
