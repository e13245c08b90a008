"""Wall-clock timing shared by the benchmark scripts, so every script measures the same way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def time_calls(call: Callable[[], Any], n: int) -> list[float]:
    """Seconds taken by each of ``n`` back-to-back calls of ``call``."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out
