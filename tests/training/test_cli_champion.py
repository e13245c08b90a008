"""`flushrisk serve` / `build` serve the registry's champion, and refuse when the store disagrees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from training.cli import app
from training.cli import serve as serve_cli

runner = CliRunner()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from features import build_features
    from features.sources.simulator import simulate
    from tests.serving.conftest import train_tiny_model

    frame: pd.DataFrame = simulate("BTC", days=40, bar="1h", seed=3)
    return train_tiny_model(build_features(frame))


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(serve_cli, "_exec_server", lambda *args: seen.update(args=args))
    return seen


def test_another_projects_export_is_never_served(
    model: Any, tmp_path: Path, started: dict[str, Any]
) -> None:
    """Two projects share one BentoML store: this one has promoted nothing yet."""
    from training.registry import export_bentoml

    export_bentoml(model, "BTC", 4, "b" * 32, bentoml_home=tmp_path, tracking_uri="sqlite:///other")
    result = runner.invoke(app, ["serve", "--bentoml-home", str(tmp_path)])
    assert result.exit_code == 2 and not started
    assert "sqlite:///other" in result.output and "promote" in result.output
    result = runner.invoke(app, ["build", "--bentoml-home", str(tmp_path)])
    assert result.exit_code == 2


def test_a_store_that_disagrees_with_the_registry_is_refused(
    model: Any, tmp_path: Path, started: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.registry import export_bentoml

    export_bentoml(model, "BTC", 1, "a" * 32, bentoml_home=tmp_path)
    # the registry's champion is v2: promoted elsewhere, or its export failed
    monkeypatch.setattr(serve_cli, "registry_champions", lambda _: {"BTC": ("2", "c" * 32)})
    result = runner.invoke(app, ["serve", "--bentoml-home", str(tmp_path)])
    assert result.exit_code == 2 and not started
    assert "champion of flushrisk-BTC is v2" in result.output
    assert "holds v1" in result.output and "flushrisk promote" in result.output

    monkeypatch.setattr(serve_cli, "registry_champions", lambda _: {"BTC": ("1", "a" * 32)})
    result = runner.invoke(app, ["serve", "--bentoml-home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "BTC (flushrisk-BTC v1)" in result.output

    monkeypatch.setattr(serve_cli, "registry_champions", lambda _: {})
    result = runner.invoke(app, ["serve", "--bentoml-home", str(tmp_path)])
    assert result.exit_code == 2 and "no champion for them" in result.output


def test_serve_and_build_work_per_symbol(
    model: Any, tmp_path: Path, started: dict[str, Any]
) -> None:
    from training.registry import export_bentoml

    export_bentoml(model, "BTC", 1, "a" * 32, bentoml_home=tmp_path)
    model.metadata["symbol"] = "ETH"
    try:
        eth = export_bentoml(model, "ETH", 1, "e" * 32, bentoml_home=tmp_path)
    finally:
        model.metadata["symbol"] = "BTC"
    result = runner.invoke(app, ["serve", "--symbol", "ETH", "--bentoml-home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert started["args"][0] == [eth]  # pinned to ETH's champion
    result = runner.invoke(app, ["serve", "--bentoml-home", str(tmp_path)])
    assert result.exit_code == 0 and started["args"][0] is None
    assert "BTC (flushrisk-BTC v1), ETH (flushrisk-ETH v1)" in result.output
    tags = [r.bentoml_tag for r in serve_cli.resolve_champions(tmp_path, ["eth", "BTC"])]
    assert serve_cli.bentofile(tags)["models"] == tags
