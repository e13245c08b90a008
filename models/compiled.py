"""The booster compiled to machine code: LightGBM's raw score for many rows, several times faster.

Why. A backtest asks the booster for the probability of every bar of years of history, and
LightGBM's ``predict`` walks each tree as data (about 3 microseconds a row for the quickstart's
~180 trees). Treelite reads the LightGBM model and TL2cgen writes its trees as C ``if``/``else``
code that gcc compiles into a shared library: on rows in time order (a backtest's order) the
CPU's branch predictor then follows each tree's path almost for free.

How it is used. :func:`compiled_trees` gives a :class:`CompiledTrees` for a booster, or ``None``
when the compiled form is not available (tl2cgen or a C compiler missing, a categorical split,
or a check failed), and the caller falls back to ``booster.predict``. A library is built once per
booster text and kept in a cache directory (``FLUSHRISK_TREE_CACHE``, default
``~/.cache/flushrisk/trees``), written atomically, so every later process (each Dask worker, the
next backtest) loads it in milliseconds; ``build=False`` only loads what is cached.

Exactness. The raw score equals ``booster.predict(raw_score=True)`` to the bit: thresholds and
leaf values are compared and summed in float64 in LightGBM's tree order. The generated code is
rewritten to read the caller's rows where they are, with one comparison per split: TL2cgen's
``missing test || x <= t`` (missing goes left) becomes ``!(x > t)`` and ``!missing && x <= t``
(missing goes right) becomes ``x <= t``, which NaN (missing) answers the same way, since any
comparison with NaN is false; and a threshold in LightGBM's zero band (a value with
``|x| <= 1e-35f`` reads as 0.0) is moved to the band's edge, where the comparison of the raw
value gives the zero's answer (:func:`_threshold`). Each library is checked against LightGBM on
rows made from the model's own thresholds (each threshold, its neighbours, zero, the band's
edges, missing) when it is loaded; a difference above 1e-12 discards it (then LightGBM
predicts).

The model's probability in one pass. :meth:`CompiledTrees.raw_probability` is what
``FlushModel.predict_raw`` asks of compiled trees: the trees, the linear part of a blended model
and the blend, block by block while the block's rows are in the CPU's cache, with inf read as
missing as ``FlushModel.matrix`` reads it (a block with inf is copied first). It equals the
numpy path within float rounding, which :func:`for_model` checks (1e-9) before batch scoring
uses it.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from features.settings import get_settings
from models.linear import LinearScorer

log = logging.getLogger(__name__)

_GLUE_VERSION = "16"
"""Part of every cache key: bump it when :data:`_ROWS_C` or the build options change."""
_ENTRY = "union Entry* data"
_ROW = "const double* restrict data"
# TL2cgen's two forms of a numerical split (missing goes left / right) and the one comparison
# each is on a double row where NaN is missing: a comparison with NaN is false
_LEFT = re.compile(r"!\(data\[(\d+)\]\.missing != -1\) \|\| \(data\[\1\]\.fvalue <= (\(double\)[^)]+)\)")
_RIGHT = re.compile(r"\(data\[(\d+)\]\.missing != -1\) && \(data\[\1\]\.fvalue <= (\(double\)[^)]+)\)")
_TREES_PER_UNIT = 32
"""Trees per translation unit: the rows of a block pass one unit's code at a time (measured on
the quickstart's 182 trees with the union-entry code: 8 -> 1.13M, 16 -> 1.19M, 32 -> 1.21M,
64 -> 1.18M, one unit -> 1.09M rows per CPU second; with one comparison per split, on its 164
trees, 16, 32 and 64 were within the noise of a shared machine, one unit 10% slower)."""
_BLOCK_ROWS = 64
"""Rows per block (BLOCK in the C code), measured with the union-entry code: 8 -> 1.06M,
16 -> 1.18M, 32 -> 1.21M, 64 -> 1.35M, 128 -> 1.28M rows per CPU second (32, 64 and 128 within
the noise with one comparison per split)."""
_ZERO = float(np.float32(1e-35))
"""LightGBM's kZeroThreshold: a value within it of 0 is read as 0.0."""
_CHECK_TOLERANCE = 1e-12
_PROBABILITY_TOLERANCE = 1e-9
_CHECK_ROWS = 2048

_ROWS_C = r"""
#include "header.h"

typedef void (*unit_fn)(const double*, double*);
static const unit_fn units[] = { @UNITS@ };
#define N_UNITS (sizeof(units) / sizeof(units[0]))
#define BLOCK @BLOCK@

/* Rows are read where they are (row-major, stride doubles apart): NaN is missing (a comparison
   with NaN is false, and each split's form sends it its way) and the thresholds in LightGBM's
   zero band (|x| <= 1e-35f reads as 0.0) were moved to its edges, so a value in the band goes
   where LightGBM sends a zero. */

/* Whether a block holds +-inf: one pass, no early exit (inf is rare); on x86 two values at a
   time (the compiler does not vectorise this reduction by itself). */
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
static int has_inf(const double* X, long m, long stride, int k) {
  int any = 0;
#if defined(__SSE2__)
  const __m128d inf = _mm_set1_pd(INFINITY), sign = _mm_set1_pd(-0.0);
  __m128d found = _mm_setzero_pd();
#endif
  for (long i = 0; i < m; ++i) {
    const double* x = X + i * stride;
    int j = 0;
#if defined(__SSE2__)
    for (; j + 2 <= k; j += 2) {
      found = _mm_or_pd(found, _mm_cmpeq_pd(_mm_andnot_pd(sign, _mm_loadu_pd(x + j)), inf));
    }
#endif
    for (; j < k; ++j) any |= isinf(x[j]) != 0;
  }
#if defined(__SSE2__)
  any |= _mm_movemask_pd(found) != 0;
#endif
  return any;
}

/* The raw score of each row of a block: one translation unit of trees after the other (the
   same order of the sum as predict()), so each unit's code stays in the instruction cache for
   the whole block. */
static void trees_block(const double* rows, long m, long stride, double* restrict out) {
  for (long i = 0; i < m; ++i) out[i] = 0.0;
  for (size_t u = 0; u < N_UNITS; ++u) {
    for (long i = 0; i < m; ++i) units[u](rows + i * stride, out + i);
  }
}

/* Raw scores (margin) or predictions (the objective's transform, as postprocess() applies it)
   of n rows, as LightGBM's predict computes them. */
void flushrisk_rows(const double* X, long n, long stride, int margin, double* out) {
  for (long lo = 0; lo < n; lo += BLOCK) {
    const long m = (n - lo < BLOCK) ? n - lo : BLOCK;
    trees_block(X + lo * stride, m, stride, out + lo);
    if (!margin) {
      for (long i = 0; i < m; ++i) postprocess(out + lo + i);
    }
  }
}

/* FlushModel.predict_raw in one pass over n rows, +-inf missing (as FlushModel.matrix makes
   it): with blend >= 1 the trees' prediction; else 0.5 * (1 + tanh(0.5 * (blend * margin +
   (1 - blend) * linear))), where linear is intercept + the sum over the `terms` features
   index[t] of (min(max(x, lo), hi), NaN -> fill, minus mean) * weight, the linear part's
   log-odds. The linear part reads the block the trees read, while it is in the cache, feature
   by feature over the block's rows: the rows' sums are independent chains the CPU overlaps.
   copy: room for BLOCK rows, where a block holding inf is copied with inf as NaN. */
void flushrisk_blend(const double* X, long n, long stride, double blend, long terms,
                     const int64_t* index, const double* lo_, const double* hi_,
                     const double* fill, const double* mean, const double* weight,
                     double intercept, double* restrict copy, double* out) {
  const int k = get_num_feature();
  double linear[BLOCK];
  for (long lo = 0; lo < n; lo += BLOCK) {
    const long m = (n - lo < BLOCK) ? n - lo : BLOCK;
    const double* rows = X + lo * stride;
    long rs = stride;
    if (has_inf(rows, m, stride, k)) {
      for (long i = 0; i < m; ++i) {
        for (int j = 0; j < k; ++j) {
          const double v = rows[i * stride + j];
          copy[i * k + j] = isinf(v) ? NAN : v;
        }
      }
      rows = copy;
      rs = k;
    }
    trees_block(rows, m, rs, out + lo);
    if (blend >= 1.0) {
      for (long i = 0; i < m; ++i) postprocess(out + lo + i);
      continue;
    }
    for (long i = 0; i < m; ++i) linear[i] = 0.0;
    for (long t = 0; t < terms; ++t) {
      const int64_t j = index[t];
      const double low = lo_[t], high = hi_[t], median = fill[t], mu = mean[t], w = weight[t];
      for (long i = 0; i < m; ++i) {
        double z = rows[i * rs + j];
        z = z < low ? low : z;
        z = z > high ? high : z;
        z = z != z ? median : z;
        linear[i] += (z - mu) * w;
      }
    }
    for (long i = 0; i < m; ++i) {
      const double z = blend * out[lo + i] + (1.0 - blend) * (linear[i] + intercept);
      out[lo + i] = 0.5 * (1.0 + tanh(0.5 * z));
    }
  }
}
"""


@dataclass(frozen=True, eq=False)
class CompiledTrees:
    """A loaded compiled booster; :meth:`predict` answers as ``lightgbm.Booster.predict``."""

    path: Path
    features: int
    _library: Any

    def predict(
        self, rows: np.ndarray, raw_score: bool = False, num_threads: int = 1
    ) -> np.ndarray:
        """LightGBM's prediction of each row of a float64 matrix (NaN missing): the raw score
        (log-odds) or, by default, the objective's transform of it (the sigmoid).
        ``num_threads`` is accepted for the Booster's signature; the library uses one."""
        arr = self._rows(rows)
        out = np.empty(len(arr), dtype=np.float64)
        if len(arr):
            self._library.flushrisk_rows(
                arr.ctypes.data, len(arr), arr.shape[1], int(raw_score), out.ctypes.data
            )
        return out

    def raw_probability(
        self, rows: np.ndarray, blend: float = 1.0, linear: LinearScorer | None = None
    ) -> np.ndarray:
        """``FlushModel.predict_raw`` of a float64 matrix in one compiled pass: the trees'
        probability, or with a ``linear`` part and ``blend`` < 1 the sigmoid of
        ``blend * margin + (1 - blend) * linear.logit(rows)``. +-inf is missing, as
        ``FlushModel.matrix`` makes it. Equal to the numpy path within float rounding (the
        linear terms are multiplied by ``coef / scale`` instead of divided, then multiplied)."""
        arr = self._rows(rows)
        out = np.empty(len(arr), dtype=np.float64)
        if linear is None or blend >= 1.0:
            blend, terms, intercept = 1.0, _NO_TERMS, 0.0
        else:
            terms, intercept = linear.terms, float(linear.intercept)
        if len(arr):
            index, low, high, fill, mean, weight = terms
            copy = np.empty(_BLOCK_ROWS * self.features)  # kept alive until the call returns
            self._library.flushrisk_blend(
                arr.ctypes.data, len(arr), arr.shape[1], float(blend), len(index),
                index.ctypes.data, low.ctypes.data, high.ctypes.data, fill.ctypes.data,
                mean.ctypes.data, weight.ctypes.data, intercept, copy.ctypes.data, out.ctypes.data,
            )
        return out

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        arr = np.ascontiguousarray(rows, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.features:
            raise ValueError(f"expected rows of {self.features} features, got shape {arr.shape}")
        return arr


_NO_TERMS = (np.zeros(0, dtype=np.int64), *(np.zeros(0) for _ in range(5)))
_MEMO: weakref.WeakKeyDictionary[Any, tuple[Path, CompiledTrees | None]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def tree_cache() -> Path:
    """Where compiled libraries are kept (settings ``tree_cache``, else ~/.cache/flushrisk/trees)."""
    configured = get_settings().tree_cache
    if configured is not None:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flushrisk" / "trees"


def compiled_trees(booster: Any, build: bool = False) -> CompiledTrees | None:
    """The compiled form of ``booster``, or None (the caller uses ``booster.predict``).

    ``build``: compile it (about a second with gcc) when the cache does not hold it yet; else
    only a cached library is loaded. The answer is remembered per booster object, so asking
    again is free (a failed build is not retried in this process, and a library another process
    builds later is found by the next process).
    """
    if not get_settings().compile_trees:
        return None
    cache = tree_cache()
    with _LOCK:
        where, found = _MEMO.get(booster, (None, None))
        if where == cache and (found is not None or not build):
            return found
        found = _load_or_build(booster, cache, build)
        # remembered either way: asking again (a BatchScorer per task or per radar publish)
        # costs nothing; a later build=True still builds what was not cached
        _MEMO[booster] = (cache, found)
        return found


def _load_or_build(booster: Any, cache: Path, build: bool) -> CompiledTrees | None:
    text = booster.model_to_string()
    try:
        import tl2cgen
        import treelite
    except ImportError:
        return None
    key = hashlib.sha256(
        f"{_GLUE_VERSION}|{tl2cgen.__version__}|{treelite.__version__}|{text}".encode()
    ).hexdigest()[:32]
    path = cache / f"{key}.so"
    if not path.is_file():
        if not build:
            return None
        if booster.num_model_per_iteration() != 1:  # one output per row is all rows.c keeps
            return None
        if any(line.startswith("num_cat=") and line != "num_cat=0" for line in text.splitlines()):
            log.info("compiled trees: categorical splits, LightGBM predicts")
            return None
        try:
            _build(booster, path)
        except Exception as err:  # noqa: BLE001 - any failure means: LightGBM predicts
            log.warning("compiled trees unavailable (%s); LightGBM predicts", err)
            return None
    try:
        trees = _open(path, booster.num_feature())
    except (OSError, AttributeError) as err:  # AttributeError: an entry point is missing
        log.warning("compiled trees at %s unusable (%s); LightGBM predicts", path, err)
        return None
    if not _agrees(trees, booster):
        log.warning("compiled trees at %s differ from LightGBM; LightGBM predicts", path)
        return None
    return trees


def _build(booster: Any, path: Path) -> None:
    """Generate C with TL2cgen, add the row entry point, compile with gcc, rename into place."""
    import tl2cgen
    import treelite

    if shutil.which("gcc") is None:
        raise RuntimeError("no gcc on PATH")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=path.parent) as tmp:
        source = Path(tmp) / "src"
        model = treelite.frontend.from_lightgbm(booster)
        parts = max(1, booster.num_trees() // _TREES_PER_UNIT)
        tl2cgen.generate_c_code(model, dirpath=str(source), params={"parallel_comp": parts})
        # one comparison per split on rows of doubles (NaN: missing) instead of TL2cgen's
        # missing test and comparison on union entries; restrict: the rows and the sum never
        # overlap, so each unit keeps the sum in a register instead of storing and reloading it
        for file in [*source.glob("*.c"), *source.glob("*.h")]:
            text = _LEFT.sub(lambda m: f"!(data[{m[1]}] > {_threshold(m[2])})", file.read_text())
            text = _RIGHT.sub(lambda m: f"(data[{m[1]}] <= {_threshold(m[2])})", text)
            text = text.replace(_ENTRY, _ROW).replace("double* result)", "double* restrict result)")
            if ".missing" in text or ".fvalue" in text or ".qvalue" in text:
                raise RuntimeError(f"a split of another form than numerical in {file.name}")
            file.write_text(text)
        names = sorted(
            (f.stem for f in source.glob("tu*.c")), key=lambda name: int(name[2:])
        )
        units = ", ".join(f"predict_unit{name[2:]}" for name in names)
        rows_c = _ROWS_C.replace("@UNITS@", units).replace("@BLOCK@", str(_BLOCK_ROWS))
        (source / "rows.c").write_text(rows_c)
        recipe = source / "recipe.json"
        document = json.loads(recipe.read_text())
        document["sources"].append({"name": "rows", "length": rows_c.count("\n")})
        recipe.write_text(json.dumps(document))
        built = Path(
            tl2cgen.create_shared("gcc", str(source), nthread=1, long_build_time_warning=False)
        )
        os.replace(built, path)  # atomic: a reader sees the whole library or none


def _threshold(literal: str) -> str:
    """A split threshold as C text, moved out of LightGBM's zero band: LightGBM reads a value
    with ``|x| <= 1e-35f`` as 0.0, and ``m(x) <= t`` for such a zero-mapped ``m`` equals
    ``x <= 1e-35f`` when ``0 <= t <= 1e-35f``, and ``x < -1e-35f`` when ``-1e-35f <= t < 0``,
    so the generated code compares the rows as they are, without a copy."""
    t = float(literal.removeprefix("(double)"))
    if 0.0 <= t <= _ZERO:
        t = _ZERO
    elif -_ZERO <= t < 0.0:
        t = float(np.nextafter(-_ZERO, -np.inf))
    return f"(double){t!r}"


def _open(path: Path, features: int) -> CompiledTrees:
    library = ctypes.CDLL(str(path))
    entry = library.flushrisk_rows
    entry.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_long, ctypes.c_int, ctypes.c_void_p]
    entry.restype = None
    blend = library.flushrisk_blend
    blend.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_long, ctypes.c_double, ctypes.c_long,
                      *([ctypes.c_void_p] * 6), ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p]
    blend.restype = None
    if int(library.get_num_feature()) != features:
        raise OSError(f"library has {library.get_num_feature()} features, booster {features}")
    return CompiledTrees(path, features, library)


def check_rows(booster: Any, n: int = _CHECK_ROWS, seed: int = 0) -> np.ndarray:
    """Rows that probe every split: each feature drawn from its thresholds, their float64
    neighbours, zero, +-1e-35 and NaN (what a float32 threshold or a missing-value rule would
    get wrong)."""
    dump = booster.dump_model()
    values: dict[int, set[float]] = {}

    def walk(node: dict[str, Any]) -> None:
        if "split_feature" in node:
            t = float(node["threshold"])
            values.setdefault(int(node["split_feature"]), set()).update(
                (t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf))
            )
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in dump["tree_info"]:
        walk(tree["tree_structure"])
    rng = np.random.default_rng(seed)
    k = booster.num_feature()
    edge = _ZERO
    rows = np.full((n, k), np.nan)
    for j in range(k):
        pool = np.array(sorted(values.get(j, set()) | {0.0, edge, -edge, np.nan}))
        rows[:, j] = rng.choice(pool, size=n)
    return rows


def _agrees(trees: CompiledTrees, booster: Any) -> bool:
    rows = check_rows(booster)
    for raw in (True, False):
        expected = np.asarray(booster.predict(rows, raw_score=raw, num_threads=1))
        if not np.all(np.abs(trees.predict(rows, raw_score=raw) - expected) <= _CHECK_TOLERANCE):
            return False
    return True


_FOR_MODEL: weakref.WeakKeyDictionary[Any, tuple[CompiledTrees, bool]] = weakref.WeakKeyDictionary()


def for_model(model: Any, build: bool = False) -> CompiledTrees | None:
    """The compiled trees of a FlushModel's booster when its calibrated probability through them
    equals ``model.predict_proba`` within 1e-9 (checked once per model on :func:`check_rows`,
    the linear part and calibrator included); else None."""
    trees = compiled_trees(model.booster, build)
    if trees is None:
        return None
    checked = _FOR_MODEL.get(model)
    if checked is None or checked[0] is not trees:
        rows = check_rows(model.booster, n=512, seed=1)
        rows[::7, ::5], rows[3::11, 2::5] = np.inf, -np.inf  # missing to the model
        fast = model.predict_proba(rows, booster=trees)
        ok = bool(np.all(np.abs(fast - model.predict_proba(rows)) <= _PROBABILITY_TOLERANCE))
        if not ok:
            log.warning("compiled trees: probabilities differ from the model's; LightGBM predicts")
        checked = _FOR_MODEL[model] = (trees, ok)
    return trees if checked[1] else None


__all__ = ["CompiledTrees", "check_rows", "compiled_trees", "for_model", "tree_cache"]
