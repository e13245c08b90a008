"""Tree-SHAP of ONE row through LightGBM's single-row C API, for /predict's latency.

``Booster.predict(row, pred_contrib=True)`` builds a predictor object, converts and checks its
input and reads the booster's class count on every call: about a quarter of the time of a
one-row explanation. LightGBM's own fast path for that case
(``LGBM_BoosterPredictForMatSingleRowFastInit`` once, then ``...SingleRowFast`` per row) does
the same computation without the set-up. The Python package does not wrap it, so this module
calls it through the same ``ctypes`` handle the package uses.

It is an optimisation only: :meth:`SingleRowContributions.create` checks on sample rows that
it returns exactly what ``Booster.predict(pred_contrib=True)`` returns and gives None
otherwise (another LightGBM, a booster it cannot serve), and callers then use the booster.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np

_PREDICT_CONTRIB = 3  # C_API_PREDICT_CONTRIB
_DTYPE_FLOAT64 = 1  # C_API_DTYPE_FLOAT64


class SingleRowContributions:
    """``booster.predict(row[None, :], pred_contrib=True, num_threads=1)[0]`` for one row."""

    def __init__(self, booster: Any, lib: Any, handle: ctypes.c_void_p, width: int) -> None:
        self._booster = booster  # the C config points into it: keep it alive as long as this
        self._lib = lib
        self._handle = handle
        self._row = np.empty(booster.num_feature(), dtype=np.float64)
        self._out = np.empty(width, dtype=np.float64)
        self._out_len = ctypes.c_int64(0)
        self._call = lib.LGBM_BoosterPredictForMatSingleRowFast
        self._args = (
            handle,
            self._row.ctypes.data_as(ctypes.c_void_p),
            ctypes.byref(self._out_len),
            self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        )
        self._lock = threading.Lock()  # one input/output buffer: one call at a time

    @classmethod
    def create(cls, booster: Any, samples: np.ndarray) -> SingleRowContributions | None:
        """The fast path for ``booster``, if it reproduces pred_contrib exactly on ``samples``."""
        try:
            from lightgbm.basic import _LIB

            width = booster.num_feature() + 1
            if booster.num_model_per_iteration() != 1:
                return None  # multiclass: another output layout
            best = int(getattr(booster, "best_iteration", 0) or 0)
            handle = ctypes.c_void_p()
            status = _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_PREDICT_CONTRIB),
                ctypes.c_int(0),
                ctypes.c_int(best if best > 0 else -1),  # as Booster.predict chooses
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(booster.num_feature()),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(handle),
            )
            if status != 0:
                return None
            fast = cls(booster, _LIB, handle, width)
            for row in np.atleast_2d(samples):
                expected = booster.predict(row[None, :], pred_contrib=True, num_threads=1)[0]
                if not np.array_equal(fast(row), expected, equal_nan=True):
                    return None
            return fast
        except (AttributeError, ImportError, OSError, TypeError, ValueError):
            return None

    def __call__(self, row: np.ndarray) -> np.ndarray:
        """The contributions and, last, the bias of one row (a new array)."""
        with self._lock:
            self._row[:] = row
            if self._call(*self._args) != 0 or self._out_len.value != len(self._out):
                raise RuntimeError("LightGBM single-row prediction failed")
            return self._out.copy()

    def __del__(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle is not None and getattr(self, "_lib", None) is not None:
            self._lib.LGBM_FastConfigFree(handle)


__all__ = ["SingleRowContributions"]
