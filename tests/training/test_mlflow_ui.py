# ruff: noqa: F811  (pytest fixtures imported from tests.serving.browser)
"""``flushrisk ui`` opens on the FlushRisk experiment's runs, not on MLflow 3's home page.

The server is started exactly as ``flushrisk ui`` starts it (:func:`training.cli.train.
ui_command`) over a temporary MLflow home holding one run; a browser opens its root.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving.browser import browser, page  # noqa: F401 (fixtures)
from tests.serving.server_process import free_port, running_server

pytestmark = pytest.mark.slow  # starts MLflow's server

RUN_NAME = "BTC 1h liq>=$5M test-run"


@pytest.fixture(scope="module")
def ui(mlflow_template: Path, tmp_path_factory: Any) -> Any:
    """One UI server for the module (starting MLflow's server is the slow part)."""
    from training.cli.train import ui_command
    from training.tracking import connect

    tmp_path = tmp_path_factory.mktemp("ui")
    mlflow_home = tmp_path / "mlflow"
    mlflow_home.mkdir()
    shutil.copy(mlflow_template, mlflow_home / "mlflow.db")
    client, experiment_id = connect(mlflow_home)
    run = client.create_run(experiment_id, run_name=RUN_NAME)
    client.set_terminated(run.info.run_id)
    cmd, env = ui_command(mlflow_home, "127.0.0.1", free_port(), experiment_id)
    with running_server(cmd, env, tmp_path / "ui.log", timeout=300, name="flushrisk ui",
                        ready_path="/health") as (url, _process, _ready_s):
        yield url, experiment_id


def test_the_root_redirects_to_the_experiments_runs_and_the_rest_is_mlflow(ui: Any) -> None:
    url, experiment_id = ui
    root = httpx.get(url + "/", follow_redirects=False, timeout=30)
    assert root.status_code == 302
    assert root.headers["location"].endswith(f"#/experiments/{experiment_id}/runs")
    landed = httpx.get(url + "/", follow_redirects=True, timeout=30)
    assert landed.status_code == 200 and "static-files/static/js/main" in landed.text, (
        "the redirect lands on MLflow's own UI page, once (no loop)"
    )
    api = httpx.get(f"{url}/ajax-api/2.0/mlflow/experiments/get", params={"experiment_id": experiment_id},
                    timeout=30)
    assert api.json()["experiment"]["name"] == "flushrisk", "MLflow's API is served untouched"


def test_a_browser_opening_the_root_sees_the_runs_list(ui: Any, page: Any) -> None:
    url, experiment_id = ui
    p, _log = page
    p.goto(url + "/", timeout=120_000)
    p.wait_for_selector(f"text={RUN_NAME}", timeout=120_000)
    assert p.evaluate("location.hash").startswith(f"#/experiments/{experiment_id}/runs")
