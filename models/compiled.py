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
leaf values are compared and summed in float64 in LightGBM's tree order, and a small C entry
point (:data:`_ROWS_C`) hands each row to the generated code as LightGBM sees it (a value with
``|x| <= 1e-35`` is zero, NaN is missing). Each library is checked against LightGBM on rows
made from the model's own thresholds (each threshold, its neighbours, zero, missing) when it is
loaded; a difference above 1e-12 discards it (then LightGBM predicts). One corner is
TL2cgen's: it marks a missing value in the low 32 bits of the double, so a present value whose
low 32 bits are all ones is moved one ulp towards -inf before it is handed over (it can only
change a comparison with a threshold equal to that neighbour).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import re
import os
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from features.settings import get_settings

log = logging.getLogger(__name__)

_GLUE_VERSION = "6"
"""Part of every cache key: bump it when :data:`_ROWS_C` or the build options change."""
_ENTRY = "union Entry* data"
_ROW = "const double* restrict data"
# TL2cgen's two forms of a numerical split (missing goes left / right) and the one comparison
# each is on a double row where NaN is missing: a comparison with NaN is false
_LEFT = re.compile(r"!\(data\[(\d+)\]\.missing != -1\) \|\| \(data\[\1\]\.fvalue <= (\(double\)[^)]+)\)")
_RIGHT = re.compile(r"\(data\[(\d+)\]\.missing != -1\) && \(data\[\1\]\.fvalue <= (\(double\)[^)]+)\)")
_TREES_PER_UNIT = 32
"""Trees per translation unit: the rows of a block pass one unit's code at a time (measured on
the quickstart's 182 trees: 8 -> 1.13M, 16 -> 1.19M, 32 -> 1.21M, 64 -> 1.18M, one unit ->
1.09M rows per CPU second). Rows per block (BLOCK in the C code): 8 -> 1.06M, 16 -> 1.18M,
32 -> 1.21M, 64 -> 1.35M, 128 -> 1.28M."""
_CHECK_TOLERANCE = 1e-12
_PROBABILITY_TOLERANCE = 1e-9
_CHECK_ROWS = 2048

_ROWS_C = r"""
#include "header.h"

typedef void (*unit_fn)(const double*, double*);
static const unit_fn units[] = { @UNITS@ };
#define N_UNITS (sizeof(units) / sizeof(units[0]))
#define BLOCK 64

/* Raw scores (margin) or predictions (the objective's transform, as postprocess() applies
   it) of n rows (row-major, stride doubles apart), as LightGBM computes them: NaN is
   missing, |x| <= kZeroThreshold (1e-35f) is 0.0. Rows go BLOCK at a time through one
   translation unit of trees after the other (the same order of the sum as predict()), so each
   unit's code stays in the instruction cache for the whole block. */
void flushrisk_rows(const double* X, long n, long stride, int margin, double* out) {
  const int k = get_num_feature();
  const double zero = (double)1e-35f;
  double* rows = (double*)malloc(sizeof(double) * BLOCK * (k > 0 ? k : 1));
  for (long lo = 0; lo < n; lo += BLOCK) {
    const long m = (n - lo < BLOCK) ? n - lo : BLOCK;
    for (long i = 0; i < m; ++i) {
      const double* x = X + (lo + i) * stride;
      double* row = rows + i * k;
      for (int j = 0; j < k; ++j) {
        const double v = x[j];
        row[j] = (v >= -zero && v <= zero) ? 0.0 : v; /* NaN compares false: stays missing */
      }
      out[lo + i] = 0.0;
    }
    for (size_t u = 0; u < N_UNITS; ++u) {
      for (long i = 0; i < m; ++i) units[u](rows + i * k, out + lo + i);
    }
    if (!margin) {
      for (long i = 0; i < m; ++i) postprocess(out + lo + i);
    }
  }
  free(rows);
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
        arr = np.ascontiguousarray(rows, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.features:
            raise ValueError(f"expected rows of {self.features} features, got shape {arr.shape}")
        out = np.empty(len(arr), dtype=np.float64)
        if len(arr):
            self._library.flushrisk_rows(
                arr.ctypes.data, len(arr), arr.shape[1], int(raw_score), out.ctypes.data
            )
        return out


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
    except OSError as err:
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
            text = _LEFT.sub(r"!(data[\1] > \2)", file.read_text())
            text = _RIGHT.sub(r"(data[\1] <= \2)", text)
            text = text.replace(_ENTRY, _ROW).replace("double* result)", "double* restrict result)")
            if ".missing" in text or ".fvalue" in text or ".qvalue" in text:
                raise RuntimeError(f"a split of another form than numerical in {file.name}")
            file.write_text(text)
        names = sorted(
            (f.stem for f in source.glob("tu*.c")), key=lambda name: int(name[2:])
        )
        units = ", ".join(f"predict_unit{name[2:]}" for name in names)
        (source / "rows.c").write_text(_ROWS_C.replace("@UNITS@", units))
        recipe = source / "recipe.json"
        document = json.loads(recipe.read_text())
        document["sources"].append({"name": "rows", "length": _ROWS_C.count("\n")})
        recipe.write_text(json.dumps(document))
        built = Path(
            tl2cgen.create_shared("gcc", str(source), nthread=1, long_build_time_warning=False)
        )
        os.replace(built, path)  # atomic: a reader sees the whole library or none


def _open(path: Path, features: int) -> CompiledTrees:
    library = ctypes.CDLL(str(path))
    entry = library.flushrisk_rows
    entry.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_long, ctypes.c_int, ctypes.c_void_p]
    entry.restype = None
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
    edge = float(np.float32(1e-35))
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
        fast = model.predict_proba(rows, booster=trees)
        ok = bool(np.all(np.abs(fast - model.predict_proba(rows)) <= _PROBABILITY_TOLERANCE))
        if not ok:
            log.warning("compiled trees: probabilities differ from the model's; LightGBM predicts")
        checked = _FOR_MODEL[model] = (trees, ok)
    return trees if checked[1] else None


__all__ = ["CompiledTrees", "check_rows", "compiled_trees", "for_model", "tree_cache"]
