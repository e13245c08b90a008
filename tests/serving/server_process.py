"""A real server process for tests and benchmarks: start it, wait until ready, stop its group.

Used by tests/serving/test_bentoml_serve.py and benchmarks/bench_serving.py, so both start and
stop servers the same way: in a new session (process group), polled on ``/readyz`` with a
deadline, and stopped by the group id (SIGTERM, then SIGKILL), never by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


class ServerFailed(RuntimeError):
    """The server exited or was not ready in time; the message ends with its log's tail."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(
    command: list[str],
    env: dict[str, str],
    log: Path,
    timeout: float,
    poll: float = 0.25,
    name: str = "the server",
    ready_path: str = "/readyz",
) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """Run ``command`` (which has ``--port N``); yield (url, process, seconds until ready)."""
    port = int(command[command.index("--port") + 1])
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise ServerFailed(
                    f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{url}{ready_path}", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServerFailed(
                    f"{name} was not ready after {timeout:g} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(poll)
        yield url, process, time.perf_counter() - started
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL it after 20 s; a group already gone is fine."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    except ProcessLookupError:
        pass  # the server exited by itself (and ServerFailed says so)
