"""Atomic file writes: a temp file beside the target, renamed into place only on success.

A reader never sees a half-written dataset, model or report, and a failed write leaves the
previous file as it was (the temp file is removed). Temp files carry their writer's pid in
their name (``.<name>.<pid>.<random>.tmp``), so a later writer can tell the leftovers of a
killed process from a live writer's (see :func:`features.partitioned.clean_stale_temps`).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_SUFFIX = ".tmp"
_PID = re.compile(r"\.pid(\d+)\.")


def temp_path(path: Path | str) -> Path:
    """A new, empty temp file beside ``path`` whose name carries this process's pid."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.pid{os.getpid()}.", suffix=TEMP_SUFFIX, dir=path.parent
    )
    os.close(fd)
    return Path(tmp)


def temp_file_pid(tmp: Path | str) -> int | None:
    """The pid of the process that made a temp file, or None for a name without one."""
    match = _PID.search(Path(tmp).name)
    return int(match.group(1)) if match else None


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on a clean exit it replaces ``path``, else it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Write text to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
