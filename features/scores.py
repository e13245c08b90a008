"""The scores dataset: every probability FlushRisk published, per symbol and bar.

The live radar writes one row per symbol at each bar close, and ``flushrisk score`` writes a
whole backtest; the service and the pages read it back (``/risk``, ``/scores/{symbol}``). One
dataset, so a trader sees live and back-tested scores on the same axis.

Layout: ``<data_dir>/_scores/<SYMBOL>/<bar>/``, a Delta table partitioned by month like the
market store's (:mod:`features.partitioned`). A write is one ``MERGE`` on bar time, one commit:
it de-duplicates by time (the newer score wins whole: a re-score after a model change replaces
the old row), touches only the months it covers, and a crash leaves the previous version or the
new one. Two processes scoring the same symbol never lose each other's rows.

Columns (index ``time``: UTC bar open of the scored bar):

==================  =========================================================================
probability         float in [0, 1], calibrated probability of the label
risk_level          low / elevated / high / extreme
drivers             JSON text: the list of driver dicts as /predict returns them
has_drivers         whether ``drivers`` was computed (a backtest computes them only for the
                    bars at or above the alert level by default; "[]" with False means "not
                    computed", not "nothing stood out"); rows written before the column existed
                    read as True
model               "name:version" of the model that scored the bar
label               what the probability is about ("long liquidations of at least ...")
features_present    how many of the model's features had a value
warnings            JSON text: list of warning codes
==================  =========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.bars import BARS, bar_name, parse_bar
from features.errors import DataError
from features.partitioned import (
    is_table,
    legacy_months,
    merge_columns_into_partitions,
    read_partitions,
)
from features.store import normalize_symbol

SCORES_DIR = "_scores"
RISK_LEVELS: tuple[str, ...] = ("low", "elevated", "high", "extreme")
SCORE_COLUMNS: tuple[str, ...] = (
    "probability",
    "risk_level",
    "drivers",
    "has_drivers",
    "model",
    "label",
    "features_present",
    "warnings",
)
_DEFAULTS: dict[str, Any] = {
    "drivers": "[]",
    "has_drivers": True,
    "model": "",
    "label": "",
    "features_present": -1,
    "warnings": "[]",
}


class ScoreStore:
    """Scores on disk under ``<data_dir>/_scores``: one Delta table per symbol and bar."""

    def __init__(self, data_dir: Path | str) -> None:
        self.root = Path(data_dir) / SCORES_DIR

    def path(self, symbol: str, bar: str) -> Path:
        """The dataset directory of one symbol's scores at one bar (month partitions inside)."""
        return self.root / normalize_symbol(symbol) / bar_name(parse_bar(bar))

    def write(
        self, symbol: str, bar: str, frame: pd.DataFrame, metadata: dict[str, str] | None = None
    ) -> int:
        """Merge scores into the dataset; return how many bar times were new.

        A time already stored is replaced by the new row (never duplicated). Nothing is
        written when the frame is invalid: the error names the column and the row.
        ``metadata`` is recorded with the commit (``flushrisk data history`` shows it).
        """
        index, columns = _validated(frame, f"scores for {symbol}")
        directory = self.path(symbol, bar)
        _check_on_grid(index, parse_bar(bar), f"scores for {symbol}")
        if index.empty:
            return 0
        result = merge_columns_into_partitions(
            directory, index, columns, how="replace", metadata=metadata
        )
        return result.rows_after - result.rows_before

    def read(
        self,
        symbol: str,
        bar: str,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Stored scores from ``start`` to ``end`` (inclusive), indexed by UTC bar open ``time``.

        An unknown symbol gives an empty frame with the score columns: "no scores yet" is a
        normal state of a freshly started radar, not an error.
        """
        lo = None if start is None else _utc(start)
        hi = None if end is None else _utc(end)
        out = read_partitions(self.path(symbol, bar), lo, hi)
        if out.empty:
            return _empty()
        out.index = pd.DatetimeIndex(out.index).as_unit("ns").rename("time")
        out["has_drivers"] = _has_drivers(out)
        return out[list(SCORE_COLUMNS)]

    def symbols(self, bar: str | None = None) -> list[str]:
        """Symbols with stored scores (at ``bar`` when given), sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            folder.name
            for folder in self.root.iterdir()
            if folder.is_dir()
            and (
                self.bars(folder.name)
                if bar is None
                else bar_name(parse_bar(bar)) in self.bars(folder.name)
            )
        )

    def bars(self, symbol: str) -> list[str]:
        """Bars with stored scores for a symbol, finest first."""
        folder = self.root / normalize_symbol(symbol)
        return [
            b for b in BARS
            if is_table(folder / b) or ((folder / b).is_dir() and legacy_months(folder / b))
        ]


def to_json_text(value: Any) -> str:
    """Drivers or warnings as the JSON text the dataset stores (already-JSON text passes)."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "[]"
    return json.dumps(value, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def _validated(frame: pd.DataFrame, source: str) -> tuple[pd.DatetimeIndex, dict[str, pa.Array]]:
    """Check a scores frame once and give its rows as Arrow columns, sorted by time.

    Every column is converted once, straight to the Arrow array the Delta writer takes (a
    backtest's text columns are numpy objects; a pandas round trip converted them several
    times). A time given twice keeps its last row. Raises :class:`DataError` naming the column
    and the first bad row.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{source}: expected a DataFrame, got {type(frame).__name__}")
    work = frame
    if not isinstance(work.index, pd.DatetimeIndex):
        if "time" not in work.columns:
            raise DataError(f"{source}: index must be the bar open time (or give a 'time' column)")
        work = work.set_index("time")
    if "probability" not in work.columns:
        raise DataError(f"{source}: missing column 'probability'; found {list(work.columns)}")
    index = pd.DatetimeIndex(work.index)
    index = (index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")).as_unit("ns")
    probability = pd.to_numeric(work["probability"], errors="coerce").to_numpy(dtype=float)
    _refuse_first(
        ~((probability >= 0.0) & (probability <= 1.0)),
        lambda pos: (
            f"{source}: probability must be in [0, 1]; row {pos} ({index[pos]}) has "
            f"{probability[pos]:g}"
        ),
    )
    if "risk_level" not in work:
        raise DataError(f"{source}: missing column 'risk_level'")
    levels = _texts(work["risk_level"])
    _refuse_first(
        ~pc.is_in(levels, value_set=pa.array(RISK_LEVELS, type=pa.large_string()))
        .fill_null(False).to_numpy(zero_copy_only=False),
        lambda pos: (
            f"{source}: risk_level must be one of {list(RISK_LEVELS)}; row {pos} has "
            f"{str(work['risk_level'].iloc[pos])!r}"
        ),
    )
    n = len(work)
    columns: dict[str, pa.Array] = {
        "probability": pa.array(probability, type=pa.float64()),
        "risk_level": levels,
    }
    for column in ("drivers", "warnings"):
        columns[column] = _json_texts(work.get(column), n)
    columns["has_drivers"] = pa.array(_has_drivers(work), type=pa.bool_())
    for column in ("model", "label"):
        columns[column] = (
            _texts(work[column]) if column in work else _constant(_DEFAULTS[column], n)
        )
    present = (
        pd.to_numeric(work["features_present"], errors="coerce").fillna(-1).to_numpy(dtype="int64")
        if "features_present" in work
        else np.full(n, -1, dtype=np.int64)
    )
    columns["features_present"] = pa.array(present, type=pa.int64())
    columns = {c: columns[c] for c in SCORE_COLUMNS}
    if not (index.is_monotonic_increasing and index.is_unique):
        # sorted by time, the last row of a time given twice wins
        order = np.argsort(index.asi8, kind="stable")
        times = index.asi8[order]
        last = np.append(times[1:] != times[:-1], True)
        take = pa.array(order[last])
        index = index[order[last]]
        columns = {c: v.take(take) for c, v in columns.items()}
    return index.rename("time"), columns


def _texts(values: pd.Series) -> pa.Array:
    """A column as Arrow text (``str(value)`` for anything that is not already text)."""
    try:
        return pa.array(values, type=pa.large_string(), from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([str(v) for v in values], type=pa.large_string())


def _json_texts(values: pd.Series | None, n: int) -> pa.Array:
    """Drivers or warnings as JSON text: already-JSON text (what batch scoring and the radar
    write) goes to Arrow as is; other values through :func:`to_json_text`; absent: "[]"."""
    if values is None:
        return _constant("[]", n)
    objects = values.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(objects, skipna=False) == "string":
        return pa.array(objects, type=pa.large_string())
    return pa.array([to_json_text(v) for v in objects], type=pa.large_string())


def _constant(text: str, n: int) -> pa.Array:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array([text], type=pa.large_string())
    ).cast(pa.large_string())


def _has_drivers(frame: pd.DataFrame) -> np.ndarray:
    """The has_drivers column (True where absent: scores from before it existed had drivers)."""
    if "has_drivers" not in frame:
        return np.ones(len(frame), dtype=bool)
    return frame["has_drivers"].astype("boolean").fillna(True).to_numpy(dtype=bool)


def _refuse_first(bad: np.ndarray, message: Any) -> None:
    """Raise a DataError naming the first bad row (``message(pos)``), if any row is bad."""
    if bad.any():
        raise DataError(message(int(np.argmax(bad))))


def _check_on_grid(index: pd.DatetimeIndex, step: pd.Timedelta, source: str) -> None:
    off = index.asi8 % step.value != 0
    _refuse_first(
        off,
        lambda pos: (
            f"{source}: {int(off.sum())} time(s) not bar open times of "
            f"{bar_name(step)}, first {index[pos]}"
        ),
    )


def _empty() -> pd.DataFrame:
    index = pd.DatetimeIndex([], tz="UTC", name="time").as_unit("ns")
    frame = pd.DataFrame(index=index)
    frame["probability"] = pd.Series(dtype="float64")
    for column in ("risk_level", "drivers", "model", "label", "warnings"):
        frame[column] = pd.Series(dtype="object")
    frame["features_present"] = pd.Series(dtype="int64")
    frame["has_drivers"] = pd.Series(dtype="bool")
    return frame[list(SCORE_COLUMNS)]


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def frame_from_records(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """A scores frame from dicts with a ``time`` key (what the radar builds per bar)."""
    rows = list(records)
    if not rows:
        return _empty()
    return pd.DataFrame(rows).set_index("time")


__all__ = [
    "RISK_LEVELS",
    "SCORES_DIR",
    "SCORE_COLUMNS",
    "ScoreStore",
    "frame_from_records",
    "to_json_text",
]
