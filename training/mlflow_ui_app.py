"""The ASGI app ``flushrisk ui`` serves: MLflow's, with ``GET /`` sent to the experiment's runs.

Imported by uvicorn in the server process (see :mod:`training.mlflow_ui`), after ``mlflow
server`` has put the store settings in the environment.
"""

from __future__ import annotations

import os

from mlflow.server.fastapi_app import app as mlflow_app

from training.mlflow_ui import EXPERIMENT_ENV, LandingRedirect

app = LandingRedirect(mlflow_app, os.environ.get(EXPERIMENT_ENV, "0"))
