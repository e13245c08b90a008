"""/predict's answer for many feature rows at once, as columns: what batch scoring stores.

:meth:`serving.predictor.Predictor.respond` builds one response object per row (pydantic
models, a driver list per row, a warning list per row): right for a request, about 1,000 to
5,000 rows a second for a backtest. :class:`BatchScorer` gives the same answer for a whole
array of rows, column by column:

* one LightGBM ``pred_contrib`` call gives the probability (the SHAP sum, as ``Predictor.score``
  takes it) and every row's contributions; calibration, floors and risk levels are numpy;
* the top drivers are chosen with one stable ``argsort`` per array, in ``Predictor._drivers``'s
  order; only the few kept drivers are put into words (:func:`features.descriptions.describe`)
  and JSON;
* warnings depend only on which features are missing and whether any is out of range, so each
  distinct pattern is asked once of :meth:`Predictor.row_warnings`, the code /predict uses.

The output equals what /predict answers for the same bars, to the bit (tests/serving/
test_batch.py checks every column against ``Predictor.respond``). What remains per row is the
booster's tree-SHAP pass and the drivers' words and numbers as text (README, "Many symbols").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii as _json_text  # what json.dumps uses for str
from typing import Any, Literal

import numpy as np
import pandas as pd
from numba import njit
from threadpoolctl import ThreadpoolController

from features.descriptions import (
    converted,
    describe_natural,
    description,
    number,
    plausible_natural,
    unit,
)
from features.pipeline import FEATURES
from models import compiled
from serving.predictor import FLOORED_CODE, MISSING_CODES, TOP_DRIVERS, Predictor, _sigmoid
from serving.schemas import Driver

_INDEX = {name: j for j, name in enumerate(FEATURES)}
DriversMode = Literal["all", "top", "none"]
DRIVERS_MODES: tuple[str, ...] = ("all", "top", "none")
"""all: every row (/predict's answer to the bit); top: rows at or above the alert level; none."""
_CACHE_ROWS = 2048
"""Rows per block of the probability without drivers: 1.3 MB, which stays in the L2 cache while
the inf check, the trees, the linear part and the warning scan read it in turn."""
_TEXTS_KEPT = 200_000
"""Driver texts remembered per scorer (about 200 bytes each) before the memo starts over."""


class BatchScorer:
    """Columns of /predict answers for arrays of feature rows (FEATURES order)."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.model = predictor.model
        self._seen = predictor.seen
        # per feature: the JSON pieces that never change, and the context feature's position
        self._head = [f'{{"feature": {json.dumps(f)}, "text": ' for f in FEATURES]
        self._unit = [f', "unit": {json.dumps(unit(f))}, "raw_value": ' for f in FEATURES]
        self._context = [self._context_of(f) for f in FEATURES]
        self._convert = [description(f).unit.convert for f in FEATURES]
        # what the warning-pattern kernel reads besides the rows: the predictor's, never changing
        self._bounds = _key_bounds(self._seen, *predictor.range_cuts())
        # the booster compiled to C when a job built it (models.compiled): the same
        # probabilities as LightGBM's predict, several times cheaper; None: LightGBM predicts
        self._trees = compiled.for_model(self.model)
        self._texts: dict[tuple[int, str, str | None], str] = {}
        self._pattern_codes: dict[tuple[bytes, tuple[str, ...] | None], list[str]] = {}

    @staticmethod
    def _context_of(feature: str) -> tuple[str, int] | None:
        name = description(feature).context
        return (name, _INDEX[name]) if name in _INDEX else None

    def score(
        self, rows: np.ndarray, columns: Sequence[str] | None, drivers: DriversMode = "all"
    ) -> pd.DataFrame:
        """Per row: probability, risk_level, drivers (JSON), has_drivers, features_present,
        warnings (JSON).

        ``columns``: the bar columns the rows were built from (as for ``row_warnings``).
        ``drivers``: ``"all"`` gives /predict's answer to the bit (one tree-SHAP pass gives
        probabilities and drivers); ``"none"`` takes the probability from the booster's
        ordinary prediction (about 30x cheaper than tree SHAP; equal to /predict's within
        1e-9, which :class:`Predictor` checks when it loads a model) and computes no drivers;
        ``"top"`` does the same and adds the drivers of the rows at or above the alert level.
        Rows without computed drivers say ``has_drivers`` False and ``drivers`` ``"[]"``.
        """
        if drivers not in DRIVERS_MODES:
            raise ValueError(f"drivers must be one of {', '.join(DRIVERS_MODES)}, not {drivers!r}")
        # one C-ordered copy at most (a DataFrame's values come column-major): the booster, the
        # linear part and the warning scan each read it row by row
        raw = np.ascontiguousarray(rows, dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] != len(FEATURES):
            raise ValueError(f"expected rows of {len(FEATURES)} features, got shape {raw.shape}")
        # One thread: batch scoring runs one partition per process (a Dask worker, or the one
        # process), and LightGBM's OpenMP threads would otherwise take every core per process.
        bounds = self._bounds
        with _one_thread():
            if drivers == "all":
                clean, contrib, margin, model_p = self.predictor.explained(raw)
                keys, missing_count = _row_keys_kernel(raw, *bounds)
            else:
                # block by block, every pass over a block (inf check, trees, linear part,
                # warning scan) reads it from the CPU's cache, not from memory again
                model_p = np.empty(len(raw))
                keys = np.empty((len(raw), (raw.shape[1] + 7) // 8 + 1), dtype=np.uint8)
                missing_count = np.empty(len(raw), dtype=np.int64)
                for lo in range(0, len(raw), _CACHE_ROWS):
                    hi = min(lo + _CACHE_ROWS, len(raw))
                    model_p[lo:hi] = self.model.predict_proba(raw[lo:hi], booster=self._trees)
                    keys[lo:hi], missing_count[lo:hi] = _row_keys_kernel(raw[lo:hi], *bounds)
        warnings, floored = self._warnings_of(raw, model_p, columns, keys)
        base = self.predictor.base_rate
        probability = np.where(floored, base if base is not None else np.nan, model_p)
        if drivers == "all":
            texts = self._drivers(clean, contrib[:, : len(FEATURES)], margin, model_p)
            has = np.ones(len(raw), dtype=bool)
        else:
            has = (probability >= self.model.alert_threshold) if drivers == "top" else (
                np.zeros(len(raw), dtype=bool))
            # one shared str object (np.full would cast "[]" through a unicode array and make
            # a new str per row: a fifth of the probability step's time)
            texts = np.empty(len(raw), dtype=object)
            texts.fill("[]")
            if has.any():
                texts[has] = self.drivers_of(raw[has])
        # text columns stay numpy objects: inferring pandas' string dtype costs a tenth of
        # the booster's time, and the Parquet writer converts them once anyway
        return pd.DataFrame(
            {
                "probability": probability,
                "risk_level": pd.Series(self.model.risk_levels(probability), dtype=object),
                "drivers": pd.Series(texts, dtype=object),
                "has_drivers": has,
                "features_present": self._seen.sum() - missing_count,
                "warnings": pd.Series(warnings, dtype=object),
            }
        )

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """The model's probabilities of feature rows from the booster's ordinary prediction
        (no tree SHAP; on one thread, see :func:`_one_thread`)."""
        with _one_thread():
            return self.model.predict_proba(
                np.ascontiguousarray(rows, dtype=np.float64), booster=self._trees
            )

    def drivers_of(self, rows: np.ndarray) -> np.ndarray:
        """The drivers' JSON text of feature rows, as /predict gives them (tree SHAP)."""
        with _one_thread():
            clean, contrib, margin, model_p = self.predictor.explained(
                np.asarray(rows, dtype=np.float64)
            )
        return self._drivers(clean, contrib[:, : len(FEATURES)], margin, model_p)

    # -- warnings -------------------------------------------------------------------------
    def _warnings_of(
        self, raw: np.ndarray, model_p: np.ndarray, columns: Sequence[str] | None,
        keys: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Warning codes (JSON) per row and whether the probability is floored.

        The codes depend only on which features are missing and on whether any is out of
        range: each distinct pattern goes through Predictor.row_warnings once. The patterns
        (``keys``) come from one compiled pass over the rows (:func:`_row_keys_kernel`).
        """
        first, inverse = _patterns(keys)
        names = list(columns) if columns is not None else None
        codes = [self._codes(keys[i], raw[i], names) for i in first]
        base = self.predictor.base_rate
        if base is None:
            floored = np.zeros(len(raw), dtype=bool)
        else:
            has_missing = np.array([any(c in MISSING_CODES for c in cs) for cs in codes])
            floored = has_missing[inverse] & ~(model_p >= base)  # as Predictor.floor_probability
        # pattern k -> its JSON text, floored pattern k -> text with the floor's code
        texts = np.array(
            [json.dumps(cs) for cs in codes] + [json.dumps([*cs, FLOORED_CODE]) for cs in codes],
            dtype=object,
        )
        return texts[inverse + len(codes) * floored], floored

    def _codes(self, key: np.ndarray, row: np.ndarray, names: list[str] | None) -> list[str]:
        """The warning codes of a pattern, asked of Predictor.row_warnings once per scorer
        (building the warnings costs about a millisecond; a backtest meets the same few
        patterns in every chunk of every symbol)."""
        memo_key = (key.tobytes(), None if names is None else tuple(names))
        codes = self._pattern_codes.get(memo_key)
        if codes is None:
            if len(self._pattern_codes) > _TEXTS_KEPT:
                self._pattern_codes.clear()
            codes = [w.code for w in self.predictor.row_warnings(row, names)]
            self._pattern_codes[memo_key] = codes
        return codes

    # -- drivers --------------------------------------------------------------------------
    def _drivers(
        self, values: np.ndarray, contrib: np.ndarray, margin: np.ndarray, probability: np.ndarray
    ) -> np.ndarray:
        """Per row, the drivers' JSON text exactly as Predictor._drivers + pydantic give it."""
        known = ~np.isnan(values)
        order = np.argsort(-np.abs(np.where(known, contrib, 0.0)), axis=1, kind="stable")
        top = order[:, :TOP_DRIVERS]
        shap = np.take_along_axis(contrib, top, axis=1)
        value = np.take_along_axis(values, top, axis=1)
        without = self.model.calibrator(_sigmoid(margin[:, None] - shap))
        change = probability[:, None] - without
        # 0: not a driver; 1: a driver; 2: a driver with a non-finite number (through pydantic)
        kind = (~np.isnan(value) & (shap != 0.0)) * (1 + ~(np.isfinite(change) & np.isfinite(shap)))
        out = np.empty(len(values), dtype=object)
        head, units, contexts, texts = self._head, self._unit, self._context, self._texts
        convert = self._convert
        if len(texts) > _TEXTS_KEPT:
            texts.clear()
        rows = zip(top.tolist(), shap.tolist(), value.tolist(), change.tolist(), kind.tolist(),
                   strict=True)
        for i, (js, cs, vs, ds, ks) in enumerate(rows):
            parts = []
            for j, c, v, d, k in zip(js, cs, vs, ds, ks, strict=True):
                if not k:
                    continue
                natural = converted(convert[j], v)  # = natural_value(FEATURES[j], v)
                if k == 2 or not plausible_natural(natural):
                    # rare rows, worded by /predict's own code: a number only pydantic writes
                    # (non-finite), or an impossible value, which is no driver (the next
                    # largest take its place; the fast path assumes the top five)
                    parts = [self._predictor_drivers(values[i], contrib[i], margin[i], probability[i])]
                    break
                ctx = contexts[j]
                context = float(values[i, ctx[1]]) if ctx is not None and known[i, ctx[1]] else None
                # describe() words a value through number(natural value) only (and the context
                # feature's the same way): rows that print the same numbers share the text.
                key = (j, number(natural),
                       None if context is None else number(converted(convert[ctx[1]], context)))
                text = texts.get(key)
                if text is None:
                    # natural is plausible here: the words describe() gives, without converting again
                    words = describe_natural(
                        FEATURES[j], natural, None if context is None else {ctx[0]: context}
                    )
                    text = texts[key] = _json_text(words)
                parts.append(
                    f'{head[j]}{text}, "value": {natural!r}{units[j]}{v!r}, '
                    f'"contribution": {d!r}, "contribution_log_odds": {c!r}}}'
                )
            out[i] = f"[{', '.join(parts)}]"
        return out

    def _predictor_drivers(
        self, values: np.ndarray, contrib: np.ndarray, margin: float, probability: float
    ) -> str:
        """One row's drivers by Predictor._drivers itself, as /predict serialises them (without
        the list's brackets)."""
        drivers = self.predictor._drivers(values, contrib, float(margin), float(probability))
        return ", ".join(json.dumps(Driver(**d).model_dump(mode="json")) for d in drivers)


_CONTROLLER: ThreadpoolController | None = None


def _one_thread() -> Any:
    """LightGBM's OpenMP on one thread (a controller built once: building one scans the
    loaded libraries, about 8 ms, as much as scoring 5,000 rows)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="openmp")


def _key_bounds(
    seen: np.ndarray, below: np.ndarray, hi: np.ndarray, tolerance: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What :func:`_row_keys_kernel` reads besides the rows, made once per scorer.

    Per row, the kernel gives the pattern key (the seen features it lacks, packed as
    ``np.packbits`` packs them, then one byte: any seen feature outside its training range, as
    :meth:`Predictor.outside_range` decides it) and how many seen features it lacks: one
    compiled pass instead of the eight numpy passes over the matrix it replaces (NaN mask, seen
    mask, two range comparisons, their union, the row reduction, packing, joining). An unseen
    feature gets bounds no value is outside of, so the scan needs no branch.
    """
    seen = np.asarray(seen, dtype=bool)
    low = np.where(seen, below, -np.inf)
    high = np.where(seen, hi, np.inf)
    tol = np.where(seen, tolerance, 0.0)
    return seen.astype(np.uint8), low, high, tol


@njit(cache=True, nogil=True)
def _row_keys_kernel(
    raw: np.ndarray, seen: np.ndarray, below: np.ndarray, hi: np.ndarray, tolerance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    n, k = raw.shape
    width = (k + 7) // 8
    keys = np.zeros((n, width + 1), dtype=np.uint8)
    counts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        count = 0
        outside = False
        for j in range(k):  # count and range flag: vectorised by LLVM (no branch, no store)
            x = raw[i, j]
            count += seen[j] & np.isnan(x)
            # NaN compares False: a missing value is never outside
            outside |= (x < below[j]) | ((x - hi[j]) > tolerance[j])
        if count:  # the bits only for rows that lack something
            for b in range(width):
                bits = 0
                for s in range(8):
                    j = 8 * b + s
                    if j < k:
                        x = raw[i, j]
                        bits |= (seen[j] & np.isnan(x)) << (7 - s)
                keys[i, b] = bits
        keys[i, width] = outside
        counts[i] = count
    return keys, counts


def _patterns(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``keys`` (first position of each) and each row's pattern number.

    A history has few patterns and long runs of one pattern, so only the first row of each
    run goes through ``np.unique`` (sorting every row costs as much as the booster).
    """
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], (keys[1:] != keys[:-1]).any(axis=1)]))
    _, first, inverse = np.unique(keys[starts], axis=0, return_index=True, return_inverse=True)
    run = np.zeros(len(keys), dtype=np.int64)
    run[starts] = 1
    run = np.cumsum(run) - 1
    return starts[first], inverse.reshape(-1)[run]


__all__ = ["DRIVERS_MODES", "BatchScorer", "DriversMode"]
