"""Wall-clock timing shared by the benchmark scripts, so every script measures the same way."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import Any


def time_calls(call: Callable[[], Any], n: int) -> list[float]:
    """Seconds taken by each of ``n`` back-to-back calls of ``call``."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out


def cpu_seconds(processes: Iterable[Any]) -> float:
    """User and system CPU seconds of ``processes`` (psutil), those gone counting no more:
    what a server spent, whatever its clients cost."""
    import psutil

    total = 0.0
    for p in processes:
        with suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total
