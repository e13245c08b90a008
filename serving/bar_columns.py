"""Request bars to float64 columns in a few whole-column passes, for /predict's latency.

Pydantic checks a list of 720 :class:`serving.schemas.Bar` one field of one bar at a time:
about as long as computing the features. This reads the same values with numpy and applies
the same rules (read from the ``Bar`` schema itself) to whole columns. It accepts ONLY what the
``Bar`` schema accepts and gives ``None`` for anything else or anything unusual (a value of
another type, out of range or not finite, a missing, unknown or null required field, bars with
different fields, a time in another format or zone): the caller then runs pydantic's own
validation, whose 400 answer names the bar and the field. A valid request therefore gets the
same arrays by either path, and an invalid one the same error (``tests/serving/
test_bar_columns.py`` checks both).
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import annotated_types as at
import numpy as np

from features.schema import COLUMNS

# An ISO 8601 time as clients send it, at most microseconds (pydantic keeps no more); the zone
# UTC ("Z", "+00:00") or none (read as UTC). Anything else takes pydantic's path.
_TIME = (
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
)
_ZONES = ("+00:00", "Z", "")
_ALL_TIMES = {
    zone: re.compile(rf"(?:{_TIME}{re.escape(zone)}\n)*{_TIME}{re.escape(zone)}") for zone in _ZONES
}
_NUMBER_TYPES = frozenset({float, int, type(None)})


@dataclass(frozen=True)
class _Rule:
    """The constraints of one numeric bar field: bounds (None: none) and whether it is required."""

    required: bool
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def broken(self, values: np.ndarray) -> bool:
        """Whether a value breaks a bound (missing values, NaN, break none)."""
        return bool(
            (self.gt is not None and (values <= self.gt).any())
            or (self.ge is not None and (values < self.ge).any())
            or (self.lt is not None and (values >= self.lt).any())
            or (self.le is not None and (values > self.le).any())
        )


def rules(bar_type: type) -> dict[str, _Rule]:
    """Each numeric field's rule, read from a TypedDict of ``Annotated[float, Field(...)]``."""
    out: dict[str, _Rule] = {}
    for name, hint in typing.get_type_hints(bar_type, include_extras=True).items():
        if name == "time":
            continue
        required = typing.get_origin(hint) is not typing.NotRequired
        bounds: dict[str, float] = {}
        for annotation in _annotations(hint):
            for item in getattr(annotation, "metadata", [annotation]):
                for kind in (at.Gt, at.Ge, at.Lt, at.Le):
                    if isinstance(item, kind):
                        key = kind.__name__.lower()
                        bounds[key] = float(getattr(item, key))
        out[name] = _Rule(required=required, **bounds)
    return out


def _annotations(hint: Any) -> list[Any]:
    """The metadata of an Annotated type, inside NotRequired[...] and Optional[...]."""
    found: list[Any] = []
    stack = [hint]
    while stack:
        current = stack.pop()
        if typing.get_origin(current) is typing.Annotated:
            found.extend(current.__metadata__)
            stack.append(typing.get_args(current)[0])
        else:
            stack.extend(typing.get_args(current))
    return found


class BarReader:
    """Reads request bars into (times in ns, columns) when they are plainly valid, else None."""

    def __init__(self, bar_type: type, min_bars: int, max_bars: int, max_ns: int) -> None:
        self.rules = rules(bar_type)
        self.allowed = frozenset(self.rules) | {"time"}
        self.required = frozenset(n for n, r in self.rules.items() if r.required) | {"time"}
        self.min_bars = min_bars
        self.max_bars = max_bars
        self.max_us = max_ns // 1000

    def __call__(self, bars: Any) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
        if type(bars) is not list or not self.min_bars <= len(bars) <= self.max_bars:
            return None
        first = bars[0]
        if type(first) is not dict or not self.required <= first.keys() <= self.allowed:
            return None
        if set(map(type, bars)) != {dict} or set(map(len, bars)) != {len(first)}:
            return None
        names = [name for name in COLUMNS if name in first]
        try:  # the same number of fields and each of the first bar's: the same fields
            times = list(map(itemgetter("time"), bars))
            rows = list(map(itemgetter(*names), bars))
        except KeyError:
            return None
        ns = self._times_ns(times)
        if ns is None:
            return None
        columns = self._columns(rows, names)
        return None if columns is None else (ns, columns)

    def _times_ns(self, times: list[Any]) -> np.ndarray | None:
        """UTC ns of ISO 8601 times in one zone, between TIME_MIN and TIME_MAX."""
        first = times[0]
        if type(first) is not str:
            return None
        zone = next(z for z in _ZONES if first.endswith(z))
        try:
            joined = "\n".join(times)
        except TypeError:  # not all strings
            return None
        if _ALL_TIMES[zone].fullmatch(joined) is None:
            return None
        if zone:
            joined = joined.replace(zone, "")
        try:
            us = np.array(joined.split("\n"), dtype="datetime64[us]").astype(np.int64)
        except ValueError:  # a day the month does not have
            return None
        if us.min() < 0 or us.max() >= self.max_us:
            return None
        return us * 1000

    def _columns(
        self, rows: list[tuple[Any, ...]], names: list[str]
    ) -> dict[str, np.ndarray] | None:
        """Float64 columns in COLUMNS order, null as NaN, all-null columns left out."""
        flat = list(chain.from_iterable(rows))
        try:
            table = np.array(flat)  # numbers only (JSON true/false too, as pydantic reads them)
            nulls = 0
            if table.dtype == object:  # nulls, or text, lists, ...: pydantic decides on those
                if not set(map(type, flat)) <= _NUMBER_TYPES:
                    return None
                table = np.array(flat, dtype=np.float64)
                nulls = flat.count(None)
            elif table.dtype.kind not in "biuf" or table.shape != (len(flat),):
                return None  # text, or lists of numbers
            table = table.astype(np.float64).reshape(len(rows), len(names)).T.copy()
        except (OverflowError, ValueError, TypeError):  # an integer beyond float64, ...
            return None
        missing = np.isnan(table)
        if nulls != int(missing.sum()) or np.isinf(table).any():
            return None  # a NaN or infinite float (in-process callers can pass one)
        columns: dict[str, np.ndarray] = {}
        for name, values, gone in zip(names, table, missing, strict=True):
            rule = self.rules[name]
            if (rule.required and gone.any()) or rule.broken(values):
                return None
            if not gone.all():
                columns[name] = values
        return columns


__all__ = ["BarReader", "rules"]
