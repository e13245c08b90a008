"""MLflow tracking: the sqlite store under the MLflow home, and what a training run logs.

Store. MLflow 3 refuses the plain file store for the registry, so the backend is sqlite at
``<mlflow_home>/mlflow.db`` and the experiment is created with an explicit artifact location
``<mlflow_home>/artifacts``: both live under one configurable directory that can be copied or
deleted as a whole. ``flushrisk ui`` serves exactly this store.

A run logs: params (booster, walk-forward, calibration, label spec, feature count; the feature
list as ``features.json``), the input dataset with its digest, tags (symbol, bar, label,
evaluation digest), the out-of-fold metrics (the model's bare, ``<baseline>_<metric>`` for
baselines, ``fold_<metric>`` per fold as steps), the plots, the report, and the model twice:
the Booster through ``mlflow.lightgbm`` (signature + input example; its pyfunc returns the RAW
booster probability), and the complete FlushModel directory (booster, calibrator, metadata) as
the ``flush_model`` artifact, which is what ``evaluate``, ``promote`` and serving use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.errors import FlushRiskError
from features.settings import Settings, get_settings
from features.store import normalize_symbol
from training.metrics import HEADLINE

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from models.flush_model import FlushModel

EXPERIMENT = "flushrisk"
FLUSH_MODEL_ARTIFACT = "flush_model"
BOOSTER_ARTIFACT = "model"
CHAMPION = "champion"


def model_name(symbol: str) -> str:
    """Registered model name of a symbol: ``flushrisk-BTC``."""
    return f"flushrisk-{normalize_symbol(symbol)}"


def mlflow_home(home: Path | str | None = None) -> Path:
    return Path(home) if home is not None else get_settings().mlflow_home


def tracking_uri(home: Path | str | None = None) -> str:
    return Settings(mlflow_home=mlflow_home(home)).tracking_uri


def connect(home: Path | str | None = None) -> tuple[MlflowClient, str]:
    """Point MLflow at the sqlite store under ``home``; return a client and the experiment id."""
    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = Settings(mlflow_home=mlflow_home(home))
    settings.mlflow_home.mkdir(parents=True, exist_ok=True)
    uri = settings.tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return client, experiment.experiment_id
    settings.artifact_root.mkdir(parents=True, exist_ok=True)
    experiment_id = client.create_experiment(
        EXPERIMENT, artifact_location=settings.artifact_root.as_uri()
    )
    return client, experiment_id


def evaluation_digest(X: pd.DataFrame, y: pd.Series, setup: dict[str, Any]) -> str:
    """A digest of the evaluation rows, labels and set-up: equal digests mean comparable metrics."""
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes())
    h.update(pd.util.hash_pandas_object(y, index=True).to_numpy().tobytes())
    h.update(json.dumps(setup, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def metric_dict(report: dict[str, Any]) -> dict[str, float]:
    """Flat MLflow metrics: the model's bare, baselines prefixed by their name, the lower and
    upper CI ends as ``<metric>_ci_lo/_ci_hi``, and the verdict's margin over the best baseline."""
    out: dict[str, float] = {}
    for name, metrics in report.items():
        if not isinstance(metrics, dict) or "pr_auc" not in metrics:
            continue  # setup, events, verdict, protocol: not per-predictor metrics
        prefix = "" if name == "model" else f"{name}_"
        for key, value in metrics.items():
            if _finite(value):
                out[f"{prefix}{key}"] = float(value)
        for key, (lo, hi) in (metrics.get("ci") or {}).items():
            if _finite(lo) and _finite(hi):
                out[f"{prefix}{key}_ci_lo"], out[f"{prefix}{key}_ci_hi"] = float(lo), float(hi)
    verdict = report.get("verdict") or {}
    if _finite(verdict.get("difference")):
        out["vs_best_baseline_pr_auc"] = float(verdict["difference"])
        lo, hi = verdict.get("ci") or (None, None)
        if _finite(lo) and _finite(hi):
            out["vs_best_baseline_pr_auc_ci_lo"], out["vs_best_baseline_pr_auc_ci_hi"] = float(lo), float(hi)
        out["beats_best_baseline"] = 1.0 if verdict.get("beats") else 0.0
    return out


def _input_example(X: pd.DataFrame) -> pd.DataFrame:
    complete = X.dropna()
    rows = complete.iloc[-2:] if len(complete) >= 2 else X.iloc[-2:].fillna(0.0)
    return rows.reset_index(drop=True)


def log_training_run(
    *,
    symbol: str,
    bar: str,
    home: Path | str | None,
    params: dict[str, str],
    tags: dict[str, str],
    X: pd.DataFrame,
    y: pd.Series,
    dataset_source: str,
    report: dict[str, Any],
    plots: list[Path],
    model: FlushModel,
    register: bool = True,
) -> tuple[str, int | None]:
    """Log one training run (see the module docstring); return its run id and model version."""
    import lightgbm
    import mlflow
    from mlflow.models import infer_signature

    _, experiment_id = connect(home)
    name = model_name(symbol)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{name}-{bar}") as run:
        run_id = run.info.run_id
        model.metadata["mlflow_run_id"] = run_id
        mlflow.set_tags({**tags, "symbol": normalize_symbol(symbol), "bar": bar})
        mlflow.log_params(params)
        data = X.assign(label=y.to_numpy()).reset_index()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "source can be interpreted in multiple ways"
            dataset = mlflow.data.from_pandas(
                data, source=dataset_source, name=f"{normalize_symbol(symbol)}-{bar}", targets="label"
            )
        mlflow.log_input(dataset, context="training")
        verdict = (report.get("verdict") or {}).get("text")
        if verdict:
            mlflow.set_tags({"verdict": verdict[:5000], "mlflow.note.content": f"**Verdict:** {verdict}"})
        mlflow.log_metrics(metric_dict(report))
        for fold in report["model"].get("folds", []):
            mlflow.log_metrics(
                {f"fold_{k}": float(fold[k]) for k in HEADLINE if _finite(fold.get(k))},
                step=int(fold["fold"]),
            )
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            (tmp_path / "report.json").write_text(json.dumps(report, indent=1, default=str))
            (tmp_path / "features.json").write_text(json.dumps(model.features, indent=1))
            mlflow.log_artifact(str(tmp_path / "report.json"))
            mlflow.log_artifact(str(tmp_path / "features.json"))
            model_dir = model.save(tmp_path / FLUSH_MODEL_ARTIFACT)
            mlflow.log_artifacts(str(model_dir), FLUSH_MODEL_ARTIFACT)
        for plot in plots:
            mlflow.log_artifact(str(plot), "plots")
        example = _input_example(X)
        signature = infer_signature(example, model.booster.predict(example.to_numpy(np.float64)))
        info = mlflow.lightgbm.log_model(
            model.booster,
            name=BOOSTER_ARTIFACT,
            signature=signature,
            input_example=example,
            registered_model_name=name if register else None,
            pip_requirements=[f"lightgbm=={lightgbm.__version__}", "pandas", "numpy"],
        )
        version = info.registered_model_version
    return run_id, (int(version) if version is not None else None)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and value is not None and bool(np.isfinite(value))


def run_exists(client: MlflowClient, run_id: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_run(run_id)
        return True
    except MlflowException:
        return False


def require_store(home: Path | str | None) -> Path:
    """The MLflow home, or a clear error when no store was ever created there."""
    path = mlflow_home(home)
    if not (path / "mlflow.db").is_file():
        raise FlushRiskError(
            f"no MLflow store at {path.resolve()} (expected {path / 'mlflow.db'}); "
            "train a model first or pass --mlflow-home"
        )
    return path


__all__ = [
    "CHAMPION",
    "EXPERIMENT",
    "FLUSH_MODEL_ARTIFACT",
    "connect",
    "evaluation_digest",
    "log_training_run",
    "metric_dict",
    "model_name",
    "require_store",
    "tracking_uri",
]
