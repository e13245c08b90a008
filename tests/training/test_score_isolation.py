"""One symbol with a damaged partition never stops the others in ``flushrisk score``.

Issue 22: a cut footer in one symbol's partition made the whole batch refuse; damaged pages
printed Dask's "Compute Failed" block and a traceback, and the output did not say which symbols
were skipped. Now the damaged symbol gets one line naming it and the damaged file, the others
are scored, nothing is written for the damaged one, and the exit code says symbols were skipped.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.distributed import LOCAL_PROCESS, dask_client
from features.scores import ScoreStore
from features.sources.simulator import simulate
from features.store import MarketStore
from tests.serving.conftest import train_tiny_model
from training.cli import app
from training.cli.app import EXIT_SYMBOLS_SKIPPED

SYMBOLS = ("BTC", "ETH", "SOL")


@pytest.fixture(scope="module")
def universe(tmp_path_factory):
    """Three symbols x 62 days of hourly bars (three month partitions each) and a model."""
    from features import build_features

    root = tmp_path_factory.mktemp("score-isolation")
    frames = {s: simulate(s, days=62, bar="1h", seed=k) for k, s in enumerate(SYMBOLS)}
    for symbol, frame in frames.items():
        MarketStore(root / "data").write(symbol, frame)
    model = train_tiny_model(build_features(frames["BTC"]))
    return root / "data", model.save(root / "model")


def damage(data_dir, symbol: str, how: str = "cut"):
    """Damage the newest month's data file of ``symbol``; return the file."""
    folder = MarketStore(data_dir).path(symbol, "1h")
    newest = max(folder.glob("month=*"))
    target = max(newest.glob("*.parquet"))
    raw = target.read_bytes()
    if how == "cut":  # a cut footer
        target.write_bytes(raw[: len(raw) // 2])
    else:  # damaged data pages, the footer intact
        middle = len(raw) // 3
        target.write_bytes(raw[:4] + b"\xff" * (middle - 4) + raw[middle:])
    return target


@pytest.mark.parametrize(
    ("scheduler", "how"),
    [(None, "cut"), (LOCAL_PROCESS, "cut"), ("dask", "pages")],
)
def test_a_damaged_symbol_is_skipped_with_one_line_and_the_others_are_scored(
    universe, tmp_path, capfd, scheduler, how
):
    source, model_dir = universe
    data = tmp_path / "data"
    shutil.copytree(source, data)
    damaged = damage(data, "ETH", how)
    args = ["score", "--symbols", ",".join(SYMBOLS), "--model", str(model_dir),
            "--data-dir", str(data)]
    if scheduler == "dask":
        with dask_client(None, workers=2) as client:
            result = CliRunner().invoke(app, [*args, "--scheduler", client.scheduler.address])
    elif scheduler is not None:
        result = CliRunner().invoke(app, [*args, "--scheduler", scheduler])
    else:
        result = CliRunner().invoke(app, args)
    printed = result.output + "".join(capfd.readouterr())
    assert result.exit_code == EXIT_SYMBOLS_SKIPPED, printed
    lines = [line for line in printed.splitlines() if line.startswith("skipped: ")]
    assert len(lines) == 1 and "ETH" in lines[0] and damaged.name in lines[0], printed
    assert "1 symbol(s) skipped: ETH" in printed
    assert "Traceback" not in printed and "Compute Failed" not in printed
    scores = ScoreStore(data)
    assert scores.symbols("1h") == ["BTC", "SOL"]  # nothing written for ETH
    for symbol in ("BTC", "SOL"):
        assert len(scores.read(symbol, "1h")) == 62 * 24


def test_scores_written_before_the_damage_was_met_are_taken_back(universe, tmp_path):
    """One task per month: ETH's first months are scored and written before its damaged third
    month is read; they are taken back, and ETH's earlier scores are as they were."""
    from training.score import ScoreRequest, score_job

    source, model_dir = universe
    data = tmp_path / "data"
    shutil.copytree(source, data)
    scores = ScoreStore(data)
    assert scores.read("ETH", "1h").empty  # none yet
    t0 = MarketStore(data).read("ETH").index[24 * 40]
    first = score_job(ScoreRequest(data_dir=data, symbols=["ETH"], model=str(model_dir),
                                   start=str(t0), end=str(t0 + pd.Timedelta(hours=5))))
    assert first.symbols["ETH"]["rows"] == 6 and not first.skipped
    before = scores.read("ETH", "1h")
    damage(data, "ETH")
    outcome = score_job(ScoreRequest(data_dir=data, symbols=list(SYMBOLS), model=str(model_dir),
                                     scheduler=LOCAL_PROCESS, months_per_task=1))
    assert list(outcome.skipped) == ["ETH"] and sorted(outcome.symbols) == ["BTC", "SOL"]
    assert scores.read("ETH", "1h").equals(before)  # nothing partial stays
    assert len(scores.read("SOL", "1h")) == 62 * 24
