"""Every tutorial runs from start to end as written, on a fresh home, with no network.

Each page under ``docs/tutorials/`` is a list of fenced ```` ```bash ```` blocks run in order by
one ``bash -eu`` script, in a new empty directory that is also ``$HOME`` (so the default
``./data``, ``./mlflow`` and ``~/bentoml`` start empty) holding a copy of the clone's
``examples/`` (the tutorials' example files), with the ``flushrisk`` of this checkout first on
``PATH`` and no ``FLUSHRISK_*`` variable set. A page says how the test treats a block with an
HTML comment on the line before it (invisible on the site):

* ``<!-- docs-test: skip: REASON -->``: shown, not run (a command that reaches an exchange or
  the internet; the page shows the offline twin that is run right after it);
* ``<!-- docs-test: may-fail: REASON -->``: run, and its exit status is not held against the
  page (a promotion gate that may refuse, which the next block overrides);

and ``<!-- docs-test: continues PAGE -->`` anywhere on a page runs PAGE's blocks first in the
same home (a tutorial that starts where another one ends). The one substitution: the port
3000 of the examples becomes a free port, because other servers may run beside the tests.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIALS = sorted((DOCS / "tutorials").glob("*.md"))
FENCE = re.compile(r"^[ \t]*```bash[ \t]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
MARK = re.compile(r"<!--\s*docs-test:\s*(skip|may-fail):\s*(.*?)\s*-->\s*$")
CONTINUES = re.compile(r"<!--\s*docs-test:\s*continues\s+(\S+?)\s*-->")
EXAMPLE_PORT = "3000"
GUARD_S = 1800  # a hang guard only, never a speed check


@dataclass(frozen=True)
class Block:
    """One fenced bash block of a page: its commands and how the test treats it."""

    page: str
    line: int
    code: str
    mode: str = "run"  # run | skip | may-fail
    reason: str = ""


def blocks(page: Path) -> list[Block]:
    """The bash blocks of a page in order, each with the mark on the line before it."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").splitlines()
        mark = MARK.search(before[-1]) if before else None
        found.append(
            Block(
                page=str(page.relative_to(DOCS)) if page.is_relative_to(DOCS) else page.name,
                line=text.count("\n", 0, match.start()) + 1,
                code=textwrap.dedent(match.group(1)),
                mode=mark.group(1) if mark else "run",
                reason=mark.group(2) if mark else "",
            )
        )
    return found


def chain(page: Path) -> list[Path]:
    """The pages to run for ``page``: the ones it continues from (recursively), then itself."""
    first = CONTINUES.search(page.read_text(encoding="utf-8"))
    return [*chain(DOCS / first.group(1)), page] if first else [page]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def script(pages: list[Path], port: int) -> str:
    """One bash script running every block of ``pages`` in order (background jobs are stopped
    at the end, as a reader closes the terminal that runs a server)."""
    lines = [
        "set -eu",
        "trap 'jobs -p | xargs -r kill 2>/dev/null || true' EXIT",
    ]
    for page in pages:
        for block in blocks(page):
            code = block.code.replace(EXAMPLE_PORT, str(port))
            lines.append(f"echo '>>> {block.page}:{block.line}'")
            if block.mode == "skip":
                lines.append(f"echo '    not run: {block.reason}'")
            elif block.mode == "may-fail":
                lines.append(f"( set -e\n{code}) || echo '    allowed to fail: {block.reason}'")
            else:
                lines.append(code)
    return "\n".join(lines) + "\n"


def fresh_home(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An empty home with the clone's examples/, and the environment of a new shell there."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copytree(ROOT / "examples", home / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLUSHRISK_", "BENTOML_HOME"))}
    env.update(
        HOME=str(home),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),  # this checkout's code, as the editable install of CI has it
        BENTOML_DO_NOT_TRACK="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        NO_COLOR="1",
        COLUMNS="120",
    )
    return home, env


def run_pages(pages: list[Path], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    home, env = fresh_home(tmp_path)
    text = script(pages, free_port())
    (home / "tutorial.sh").write_text(text)
    return subprocess.run(
        ["bash", str(home / "tutorial.sh")],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=GUARD_S,
        check=False,
    )


def test_every_tutorial_has_commands_and_every_exception_says_why() -> None:
    assert TUTORIALS, "no tutorial pages under docs/tutorials"
    for page in TUTORIALS:
        found = blocks(page)
        assert any(b.mode == "run" for b in found), f"{page.name}: no bash block is run"
        for block in found:
            assert block.mode == "run" or len(block.reason) > 10, (
                f"{block.page}:{block.line}: a {block.mode} block must say why"
            )
        for earlier in chain(page)[:-1]:
            assert earlier.exists(), f"{page.name} continues {earlier}, which does not exist"


def shown_commands(page: Path, name: str) -> list[str]:
    """Every ``flushrisk NAME ...`` command of a page's bash blocks, run or only shown, with its
    backslash continuations joined."""
    found = []
    for block in blocks(page):
        for line in block.code.replace("\\\n", " ").splitlines():
            if line.strip().startswith(f"flushrisk {name} "):
                found.append(line.strip())
    return found


def test_every_watch_command_shown_parses_and_watches_the_bar_its_champion_was_trained_on() -> None:
    """The watch commands a reader copies, the exchange ones too (shown, not run: they reach an
    exchange): their options parse as written, and a ``--bar`` is the bar of the champion the
    page starts from (a model never scores another bar), i.e. the bar of the ``flushrisk train``
    the page continues from, else the quickstart's hourly model."""
    import shlex

    from typer.main import get_command

    from training.cli import app

    watch = get_command(app).commands["watch"]
    checked = 0
    for page in TUTORIALS:
        trained = {
            shlex.split(cmd)[shlex.split(cmd).index("--bar") + 1]
            for earlier in chain(page)
            for cmd in shown_commands(earlier, "train")
            if "--bar" in shlex.split(cmd)
        } or {"1h"}
        for cmd in shown_commands(page, "watch"):
            ctx = watch.make_context("watch", shlex.split(cmd)[2:])
            bar = ctx.params["bar"]
            assert bar is None or bar in trained, (
                f"{page.name}: `{cmd}` watches {bar} bars; the champion it starts from is {trained}"
            )
            checked += 1
    assert checked >= 4, "the tutorials show the exchange and replay watch commands"


def test_the_harness_stops_at_a_failing_command(tmp_path: Path) -> None:
    """A broken command fails its page, skipped blocks are not run, may-fail ones may fail."""
    page = tmp_path / "broken.md"
    page.write_text(
        "<!-- docs-test: skip: would reach the internet -->\n```bash\necho skipped-ran\n```\n"
        "<!-- docs-test: may-fail: the gate may refuse -->\n```bash\nfalse\n```\n"
        "```bash\nflushrisk data inspect NOPE\necho after\n```\n"
    )
    result = run_pages([page], tmp_path)
    assert result.returncode != 0
    assert "skipped-ran" not in result.stdout and "allowed to fail" in result.stdout
    assert "after" not in result.stdout


def leaves() -> list[list[Path]]:
    """One chain per tutorial that no other tutorial continues: each page runs once."""
    continued = {p for page in TUTORIALS for p in chain(page)[:-1]}
    return [chain(page) for page in TUTORIALS if page not in continued]


@pytest.mark.slow
@pytest.mark.parametrize(
    "pages", leaves(), ids=["+".join(p.stem for p in pages) for pages in leaves()]
)
def test_tutorial_runs_start_to_end_on_a_fresh_home(pages: list[Path], tmp_path: Path) -> None:
    result = run_pages(pages, tmp_path)
    tail = "\n".join((result.stdout + "\n" + result.stderr).splitlines()[-40:])
    assert result.returncode == 0, (
        f"{' -> '.join(p.name for p in pages)} failed (exit {result.returncode}):\n{tail}"
    )
    assert "Traceback" not in result.stderr, tail
