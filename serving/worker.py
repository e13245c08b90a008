"""The worker process's life: it dies with its server, and a bad model stops the whole server.

BentoML runs the service in worker processes under the ``bentoml serve`` process (a circus
arbiter). Two failure modes this module closes:

* ``kill -9`` of ``bentoml serve`` (or of its process group) left the worker serving, holding
  the port: a restart then failed with "Could not bind". The worker asks Linux for SIGKILL
  when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and a watchdog thread checks the parent
  pid as well (for a parent that dies before the prctl call, or a platform without it).
* A model that cannot be served made the worker fail, and the arbiter restart it, forever.
  :func:`refuse_to_start` prints the one message, stops the arbiter and exits.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading

logger = logging.getLogger("flushrisk.serving")

PR_SET_PDEATHSIG = 1
WATCHDOG_INTERVAL = 1.0
REFUSED_EXIT = 3


def die_with_parent(interval: float = WATCHDOG_INTERVAL) -> None:
    """Make this process exit when its parent process dies (whatever kills the parent)."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            threading.Event().wait(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="flushrisk-parent-watchdog", daemon=True).start()


def refuse_to_start(message: str) -> None:
    """Say why the model cannot be served, stop the server (no restart loop), and exit."""
    text = f"FlushRisk refuses to start: {message}"
    logger.critical(text)  # BentoML's log handler (or logging's last resort: stderr)
    for handler in logging.getLogger().handlers + logger.handlers:
        handler.flush()
    try:
        os.kill(os.getppid(), signal.SIGTERM)  # the arbiter: stops every worker, then exits
    except OSError:
        pass
    os._exit(REFUSED_EXIT)


__all__ = ["REFUSED_EXIT", "die_with_parent", "refuse_to_start"]
