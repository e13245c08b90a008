"""Real `bentoml serve` processes: a corrupt model stops the server once; kill -9 frees the port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.serving.server_process import ServerFailed, free_port, running_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _env(home: Path | str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FLUSHRISK_API_KEY", "PROMETHEUS_MULTIPROC_DIR", "FLUSHRISK_SERVE_MODEL")
    }
    env.update(BENTOML_HOME=str(home), PYTHONPATH=str(ROOT), **extra)
    return env


def _bentoml_serve(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "serving.service:FlushRiskService",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--working-dir",
        str(ROOT),
    ]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def corrupt_home(tiny_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BentoML store whose BTC champion's booster was truncated after promote."""
    from training.registry import export_bentoml

    home = tmp_path_factory.mktemp("corrupt-bentoml")
    tag = export_bentoml(tiny_model, "BTC", 1, "c" * 32, bentoml_home=home)
    name, version = tag.split(":")
    booster = home / "models" / name / version / "booster.txt"
    booster.write_bytes(booster.read_bytes()[: booster.stat().st_size // 2])
    return home


def test_a_corrupt_model_stops_bentoml_serve_with_one_message(
    corrupt_home: Path, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            _bentoml_serve(free_port()),
            cwd=ROOT,
            env=_env(corrupt_home),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"the server kept running on a corrupt model:\n{log.read_text()[-2000:]}")
    text = log.read_text()
    assert text.count("FlushRisk refuses to start") == 1, text[-3000:]  # no restart loop
    assert "booster.txt changed since promote" in text


def test_flushrisk_serve_refuses_a_corrupt_model_before_starting(corrupt_home: Path) -> None:
    from training.cli import app

    result = CliRunner().invoke(app, ["serve", "--bentoml-home", str(corrupt_home)])
    assert result.exit_code == 2
    assert "booster.txt" in result.output and "changed since promote" in result.output


def test_the_worker_dies_with_its_server_and_the_port_can_be_reused(
    bento_tag: str, tmp_path: Path
) -> None:
    import psutil
    from bentoml._internal.configuration.containers import BentoMLContainer

    port = free_port()
    env = _env(BentoMLContainer.bentoml_home.get(), FLUSHRISK_SERVE_MODEL=bento_tag)
    try:
        with running_server(_bentoml_serve(port), env, tmp_path / "a.log", 120) as (_, proc, _):
            workers = psutil.Process(proc.pid).children(recursive=True)
            assert workers, "bentoml serve runs its service in worker processes"
            os.kill(proc.pid, signal.SIGKILL)  # the server only, not its process group
            proc.wait(timeout=10)
            _, alive = psutil.wait_procs(workers, timeout=15)
            assert not alive, f"workers still running after their server died: {alive}"
            deadline = time.monotonic() + 15
            while not _port_free(port):
                assert time.monotonic() < deadline, f"port {port} still held"
                time.sleep(0.2)
        with running_server(_bentoml_serve(port), env, tmp_path / "b.log", 120):
            pass  # a restart on the same port is ready
    except ServerFailed as err:
        pytest.fail(str(err))
