"""Every command of the README, in the README's order, as written, on a fresh home.

The README's ```` ```bash ```` blocks are, in order:

1. the main job, ``python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/flushrisk
   quickstart``;
2. the test command, which ``.ci/run`` runs verbatim (checked here: running the suite from
   inside the suite would only recurse);
3. the first request to the served model, ``curl ... /predict -d @requests/btc_bars.json``,
   asked while the quickstart serves.

What is substituted in (1), and why:

* ``python3 -m venv .venv && .venv/bin/pip install -q -e .``: the environment this test runs in
  was made by the same install (``.ci/run``, with the ``test`` extra); installing again needs the
  package registry and minutes, and tests nothing the CI's own install does not;
* ``--days 60`` is added: the default year trains about six times longer; the steps are the same;
* ``--port`` is added (a free port), and every ``3000`` of the README becomes that port: other
  servers may run beside the tests;
* Ctrl-C is a SIGINT to the quickstart's process group, as a terminal sends it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from tests.test_docs_commands import FENCE, free_port, fresh_home

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SETUP = "python3 -m venv .venv && .venv/bin/pip install -q -e . && "
MAIN_JOB = SETUP + ".venv/bin/flushrisk quickstart"
READY_GUARD_S = 1200  # a hang guard for a loaded machine, never a speed check


def readme_blocks() -> list[str]:
    """The README's bash blocks, in order, each as one command line."""
    text = README.read_text(encoding="utf-8")
    found = [textwrap.dedent(m.group(1)).replace("\\\n", " ").strip() for m in FENCE.finditer(text)]
    assert len(found) == 3, f"the README's bash blocks changed: {found}"
    return found


def test_the_readme_has_the_two_setup_commands_and_ci_runs_the_test_one_verbatim() -> None:
    blocks = readme_blocks()
    assert blocks[0] == MAIN_JOB
    assert blocks[1].startswith("python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert blocks[1] in ci, ".ci/run must run the README's test command verbatim"
    assert "mkdocs build --strict" in blocks[1], "the test command builds the docs site"
    assert len(README.read_text().splitlines()) <= 160, "the README stays short: details go to docs/"


def test_the_readme_links_every_page_of_the_site() -> None:
    text = README.read_text(encoding="utf-8")
    pages = sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md") if "hooks" not in p.parts
    )
    missing = [p for p in pages if f"]({p})" not in text]
    assert not missing, f"README lacks links to: {missing}"
    for target in re.findall(r"\]\(((?!https?:)[^)#]+)", text):
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"


@pytest.mark.slow
def test_readme_commands_run_in_order_on_a_fresh_home(tmp_path: Path) -> None:
    blocks = readme_blocks()
    assert blocks[0] == MAIN_JOB  # (1), run below with the substitutions the docstring names
    home, env = fresh_home(tmp_path)
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "flushrisk"),
        "quickstart",
        "--days",
        "60",
        "--port",
        str(port),
    ]
    log = home / "quickstart.log"
    with log.open("w") as out:
        quickstart = subprocess.Popen(
            command, cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_ready(quickstart, port, log)
        # the file the README posts exists once the quickstart says "ready ... ask it" (curl
        # would post an EMPTY body for a missing file, and the answer would be a 400)
        assert (home / "requests" / "btc_bars.json").is_file(), log.read_text()[-3000:]
        # (3) the first request, as the README writes it, in the quickstart's home
        # -w adds the status on a line of its own, so a failure names it
        curl = blocks[2].replace("3000", str(port)).replace("curl ", "curl -sS -w '\\n%{http_code}' ", 1)
        asked = subprocess.run(
            curl, shell=True, cwd=home, env=env, capture_output=True, text=True, timeout=120,
            check=False,
        )
        assert asked.returncode == 0, asked.stderr
        body, _, status = asked.stdout.rstrip().rpartition("\n")
        answer = json.loads(body)
        assert status == "200", f"HTTP {status}: {body[:2000]}"
        assert 0.0 <= answer["probability"] <= 1.0 and answer["risk_level"], answer
        assert answer["drivers"] and answer["model"]["version"], answer
        radar = httpx.get(f"http://127.0.0.1:{port}/risk", timeout=30).json()
        assert "symbols" in radar
    finally:
        if quickstart.poll() is None:
            os.killpg(quickstart.pid, signal.SIGINT)  # Ctrl-C
        try:
            quickstart.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(quickstart.pid, signal.SIGKILL)
            quickstart.wait(timeout=30)
    output = log.read_text()
    assert "Traceback" not in output, output[-3000:]
    assert "radar stopped" in output, output[-3000:]


def _wait_until_ready(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + READY_GUARD_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the quickstart exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200
            if ready and "ask it" in log.read_text():  # the quickstart printed its requests
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    pytest.fail(f"the quickstart was not serving after {READY_GUARD_S} s:\n{log.read_text()[-3000:]}")
