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
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.errors import FlushRiskError
from features.settings import Settings, get_settings
from features.store import normalize_symbol

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from models.flush_model import FlushModel

EXPERIMENT = "flushrisk"
FLUSH_MODEL_ARTIFACT = "flush_model"
BOOSTER_ARTIFACT = "model"
CHAMPION = "champion"
# MLflow 3's UI picks the experiment page by this tag; "custom_model_development" is the
# model-training view (runs, metrics, models) instead of the GenAI traces view.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


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

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in CLI output
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
        if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            _label_experiment(client, experiment.experiment_id)  # stores made before this setting
        return client, experiment.experiment_id
    settings.artifact_root.mkdir(parents=True, exist_ok=True)
    experiment_id = client.create_experiment(
        EXPERIMENT, artifact_location=settings.artifact_root.as_uri()
    )
    _label_experiment(client, experiment_id)
    return client, experiment_id


def _label_experiment(client: MlflowClient, experiment_id: str) -> None:
    """Open the experiment in MLflow's model-training view (not the GenAI traces view), with a
    description saying what its runs are."""
    client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    client.set_experiment_tag(
        experiment_id,
        "mlflow.note.content",
        "FlushRisk training runs: walk-forward LightGBM against baselines (base rate, logistic, "
        "rule, persistence, volatility). Each run's name says symbol, bar, label and data; its "
        "description leads with the verdict against the best baseline.",
    )


def evaluation_digest(X: pd.DataFrame, y: pd.Series, setup: dict[str, Any]) -> str:
    """A digest of the evaluation rows, labels and set-up: equal digests mean comparable metrics."""
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes())
    h.update(pd.util.hash_pandas_object(y, index=True).to_numpy().tobytes())
    h.update(json.dumps(setup, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


MODEL_METRICS = ("pr_auc", "pr_auc_lift", "roc_auc", "brier", "brier_skill", "log_loss", "ece",
                 "calibration_slope", "calibration_intercept", "precision_at_alert", "recall_at_alert",
                 "alerts_per_week", "base_rate", "rows", "positives")
FOLD_METRICS = ("pr_auc", "pr_auc_lift", "roc_auc", "brier_skill", "ece")


def metric_dict(report: dict[str, Any]) -> dict[str, float]:
    """The run's metrics, few and named for what matters (the full tables are in report.json):

    * the model's out-of-fold metrics, bare (``pr_auc``, ...), with ``<metric>_ci_lo/_ci_hi``;
    * the verdict: ``vs_best_baseline_pr_auc`` (+ CI ends) and ``beats_best_baseline`` (1/0);
    * each baseline's PR-AUC as ``<baseline>_pr_auc`` and its paired gap ``model_minus_<baseline>_pr_auc``;
    * the event study: ``onset_hit_rate``, ``continuation_hit_rate``, ``false_alarms_per_week``.
    Per-fold and per-seed figures are logged as steps of one series each (see log_training_run).
    """
    out: dict[str, float] = {}
    model = report.get("model") or {}
    for key in MODEL_METRICS:
        if _finite(model.get(key)):
            out[key] = float(model[key])
    for key, pair in (model.get("ci") or {}).items():
        if pair and _finite(pair[0]) and _finite(pair[1]):
            out[f"{key}_ci_lo"], out[f"{key}_ci_hi"] = float(pair[0]), float(pair[1])
    verdict = report.get("verdict") or {}
    if _finite(verdict.get("difference")):
        out["vs_best_baseline_pr_auc"] = float(verdict["difference"])
        lo, hi = verdict.get("ci") or (None, None)
        if _finite(lo) and _finite(hi):
            out["vs_best_baseline_pr_auc_ci_lo"], out["vs_best_baseline_pr_auc_ci_hi"] = float(lo), float(hi)
        out["beats_best_baseline"] = 1.0 if verdict.get("beats") else 0.0
    onsets = verdict.get("onsets") or {}
    if _finite(onsets.get("difference")):  # the second lead line: onsets at equal alert budget
        out["vs_best_baseline_onset_rate"] = float(onsets["difference"])
        lo, hi = onsets.get("ci") or (None, None)
        if _finite(lo) and _finite(hi):
            out["vs_best_baseline_onset_rate_ci_lo"], out["vs_best_baseline_onset_rate_ci_hi"] = float(lo), float(hi)
    for name, metrics in report.items():
        if name == "model" or not isinstance(metrics, dict) or "pr_auc" not in metrics:
            continue
        if _finite(metrics.get("pr_auc")):
            out[f"{name}_pr_auc"] = float(metrics["pr_auc"])
        gap = ((metrics.get("vs_model") or {}).get("pr_auc") or {}).get("value")
        if _finite(gap):
            out[f"model_minus_{name}_pr_auc"] = float(gap)
    events = (report.get("events") or {}).get("predictors", {}).get("model") or {}
    for key in ("onset_hit_rate", "continuation_hit_rate", "false_alarms_per_week"):
        if _finite(events.get(key)):
            out[key] = float(events[key])
    return out


def run_name(report: dict[str, Any], data_source: str, started_ms: int | None = None) -> str:
    """What an engineer scanning the run list needs: symbol, bar, label and when it ran (UTC);
    the data source is in the run's description and tags, not its name."""
    setup = report.get("setup") or {}
    spec = setup.get("label_spec") or {}
    kind = spec.get("kind", "?")
    if kind == "liquidation":
        label = (f"liq>={spec['threshold_usd']:,.0f}USD" if spec.get("threshold_usd")
                 else f"liq>={spec.get('threshold_oi_fraction', 0):.2%}OI")
    else:
        label = f"proxy {spec.get('k_vol', '?')}vol"
    label += f"/{spec.get('horizon', '?')}" + (f" onset {spec['onset']}" if spec.get("onset") else "")
    when = pd.Timestamp(started_ms if started_ms is not None else _now_ms(), unit="ms", tz="UTC")
    return f"{setup.get('symbol', '?')} {label} {setup.get('bar', '?')} · {when:%Y-%m-%d %H:%M} UTC"


def run_description(report: dict[str, Any], data_source: str) -> str:
    """The run page's description (markdown): the verdict first, then what and on what."""
    setup = report.get("setup") or {}
    verdict = (report.get("verdict") or {}).get("text", "no verdict").replace("\n", "  \n")
    model = report.get("model") or {}
    events = (report.get("events") or {}).get("summary")
    lines = [
        f"**Verdict:** {verdict}",
        "",
        f"**Label:** {setup.get('label', '?')}",
        (
            f"**Data:** {setup.get('symbol', '?')} {setup.get('bar', '?')} from {data_source}, "
            f"{str(setup.get('data_start', '?'))[:16]} to {str(setup.get('data_end', '?'))[:16]}, "
            f"signal groups {', '.join(setup.get('groups') or []) or '-'}"
        ),
        (
            f"**Evaluation:** {setup.get('folds', '?')} walk-forward fold(s), "
            f"{setup.get('evaluated_rows', '?')} out-of-fold rows, base rate "
            f"{model.get('base_rate', float('nan')):.4f}; ECE (equal-mass) "
            f"{model.get('ece', float('nan')):.4f}, calibration slope "
            f"{model.get('calibration_slope', float('nan')):.2f}"
        ),
    ]
    if events:
        lines.append(f"**Event study:** {events}")
    note = (report.get("setup") or {}).get("design_note")
    if note:
        lines.append(f"**Design, measured on real data:** {note}")
    lines.append("")
    lines.append("Full tables (every baseline with CIs, per fold, reliability, events): `report.json`.")
    return "\n".join(lines)


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
    tuning: dict[str, Any] | None = None,
    started_ms: int | None = None,
) -> tuple[str, int | None]:
    """Log one training run (see the module docstring); return its run id and model version.

    Any failure of the store (deleted, read-only, full disk) is one clear error, never a
    traceback, and a registration is verified before it is returned.
    """
    try:
        run_id, version = _log_run(
            symbol=symbol, bar=bar, home=home, params=params, tags=tags, X=X, y=y,
            dataset_source=dataset_source, report=report, plots=plots, model=model, register=register,
            tuning=tuning, started_ms=started_ms,
        )
    except FlushRiskError:
        raise
    except Exception as err:  # noqa: BLE001 - sqlite / MLflow / OS errors of a store that went away mid-run
        db = mlflow_home(home) / "mlflow.db"
        if not db.is_file():
            raise FlushRiskError(
                f"the MLflow store {db.resolve()} disappeared during training: {model_name(symbol)} "
                "was NOT registered. Train again with a store that stays in place (--mlflow-home)"
            ) from None
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FlushRiskError(
            f"MLflow could not log the training run in {db.resolve()} ({first}); nothing was registered"
        ) from None
    if register:
        verify_registration(home, model_name(symbol), version, run_id)
    return run_id, (int(version) if version is not None else None)


def _log_run(
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
    register: bool,
    tuning: dict[str, Any] | None = None,
    started_ms: int | None = None,
) -> tuple[str, Any]:
    import lightgbm
    import mlflow
    from mlflow.models import infer_signature

    client, experiment_id = connect(home)
    name = model_name(symbol)
    source = Path(tags.get("data_dir") or dataset_source).name or dataset_source
    description = run_description(report, source)
    # the run starts when the training started, so its duration is the training's
    created = client.create_run(
        experiment_id, start_time=started_ms, run_name=run_name(report, source, started_ms)
    )
    with mlflow.start_run(run_id=created.info.run_id) as run:
        run_id = run.info.run_id
        model.metadata["mlflow_run_id"] = run_id
        mlflow.set_tags({**tags, "symbol": normalize_symbol(symbol), "bar": bar})
        verdict = report.get("verdict") or {}
        mlflow.set_tags({
            "mlflow.note.content": description,
            "verdict": str(verdict.get("text", ""))[:5000],
            "verdict_status": str(verdict.get("status", "")),
            "label": str((report.get("setup") or {}).get("label", ""))[:5000],
        })
        mlflow.log_params(params)
        if tuning is not None:
            log_tuning(client, experiment_id, run_id, tuning)
        data = X.assign(label=y.to_numpy()).reset_index()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "source can be interpreted in multiple ways"
            dataset = mlflow.data.from_pandas(
                data, source=dataset_source, name=f"{normalize_symbol(symbol)}-{bar}", targets="label"
            )
        mlflow.log_input(dataset, context="training")
        mlflow.log_metrics(metric_dict(report))
        for fold in report["model"].get("folds", []):  # one series per metric, step = fold
            mlflow.log_metrics(
                {f"fold_{k}": float(fold[k]) for k in FOLD_METRICS if _finite(fold.get(k))},
                step=int(fold["fold"]),
            )
        seeds = ((report.get("protocol") or {}).get("seeds") or {}).get("per_seed") or []
        for k, seed in enumerate(seeds):  # one series, step = booster seed
            if _finite(seed.get("pr_auc")):
                mlflow.log_metric("seed_pr_auc", float(seed["pr_auc"]), step=k)
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
    if version is not None:
        describe_registration(client, name, str(version), report, source, description)
    return run_id, version


def log_tuning(client: MlflowClient, experiment_id: str, parent_run_id: str, tuning: dict[str, Any]) -> list[str]:
    """The tuning of a training run: one child run per trial (its params, inner score, per-fold
    scores as steps, duration, state, with its real start and end time), and on the parent the
    design, the best params and scores. Returns the child run ids."""
    from mlflow.entities import Metric, Param, RunTag

    best = tuning["best"]
    client.set_tag(parent_run_id, "tuning_design", str(tuning["design"])[:5000])
    client.log_batch(
        parent_run_id,
        metrics=[Metric(k, float(v), _now_ms(), 0) for k, v in (
            ("tune_best_inner_pr_auc", best["pr_auc"]), ("tune_best_inner_log_loss", best["log_loss"]),
            ("tune_default_inner_objective", tuning.get("default_score")),
            ("tune_trials_run", len(tuning["trials"])), ("tune_seconds", tuning["seconds"]),
        ) if _finite(v)],
        params=[Param(f"tune_best_{k}", str(v)) for k, v in {**best["params"], "blend": best["blend"],
                                                               "trial": best["number"]}.items()]
        + [Param("tune_rows", f"{tuning['tuned_from']} .. {tuning['tuned_to']} ({tuning['rows']} rows)"),
           Param("tune_defaults_kept", str(bool(best.get("defaults_kept"))).lower())],
    )
    children = []
    for trial in tuning["trials"]:
        start = int(trial["started"] * 1000)
        end = start + int(trial["seconds"] * 1000)
        child = client.create_run(
            experiment_id, start_time=start, run_name=f"trial {trial['number']}",
            tags={"mlflow.parentRunId": parent_run_id, "trial_state": trial["state"],
                  "best_trial": str(trial["number"] == best["number"]).lower()},
        )
        cid = child.info.run_id
        metrics = [Metric("inner_fold_pr_auc", float(v), end, k)
                   for k, v in enumerate(trial["fold_scores"]) if _finite(v)]
        metrics.append(Metric("duration_seconds", float(trial["seconds"]), end, 0))
        for key in ("pr_auc", "log_loss"):
            if _finite(trial.get(key)):
                metrics.append(Metric(f"inner_{key}", float(trial[key]), end, 0))
        client.log_batch(
            cid, metrics=metrics,
            params=[Param(k, str(v)) for k, v in {**trial["params"], "blend": trial["blend"]}.items()],
            tags=[RunTag("seen_until", str(trial.get("seen_until")))],
        )
        status = "FAILED" if trial["state"] == "failed" else "FINISHED"
        client.set_terminated(cid, status=status, end_time=end)
        children.append(cid)
    return children


def _now_ms() -> int:
    return int(time.time() * 1000)


def describe_registration(
    client: MlflowClient, name: str, version: str, report: dict[str, Any], source: str, description: str
) -> None:
    """Descriptions and tags on the registered model and the version, so the registry page says
    what the model predicts, for which market, and whether it beat its baselines."""
    setup = report.get("setup") or {}
    symbol, bar = str(setup.get("symbol", "")), str(setup.get("bar", ""))
    client.update_registered_model(
        name,
        description=(
            f"FlushRisk model for {symbol}: the calibrated probability of a large long squeeze. "
            "Each version's description says which label it predicts, on which data, and its "
            "verdict against the baselines. The `champion` alias is the version in service."
        ),
    )
    for key, value in {"symbol": symbol, "product": "flushrisk"}.items():
        client.set_registered_model_tag(name, key, value)
    client.update_model_version(name, version, description=description)
    verdict = report.get("verdict") or {}
    model = report.get("model") or {}
    tags = {
        "symbol": symbol,
        "bar": bar,
        "label": str(setup.get("label", ""))[:5000],
        "label_kind": str((setup.get("label_spec") or {}).get("kind", "")),
        "data": f"{source} {str(setup.get('data_start', ''))[:10]}..{str(setup.get('data_end', ''))[:10]}",
        "verdict": str(verdict.get("text", ""))[:5000],
        "beats_best_baseline": str(bool(verdict.get("beats"))).lower(),
        "pr_auc": f"{model.get('pr_auc', float('nan')):.4f}",
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def verify_registration(home: Path | str | None, name: str, version: Any, run_id: str) -> None:
    """Check the registration really is in the store before anyone says "registered".

    The store can vanish under a running job (deleted, disk unmounted): sqlite then keeps
    writing to an unlinked file and MLflow reports success. So the database file must still be
    there, and a fresh query must find the version pointing at this run.
    """
    from mlflow.exceptions import MlflowException

    db = mlflow_home(home) / "mlflow.db"
    if version is None:
        raise FlushRiskError(f"MLflow did not register {name} for run {run_id}; nothing was registered")
    if not db.is_file():
        raise FlushRiskError(
            f"the MLflow store {db.resolve()} disappeared during training: {name} v{version} was "
            "NOT registered. Train again with a store that stays in place (--mlflow-home)"
        )
    try:
        import mlflow

        uri = tracking_uri(home)
        mv = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version(name, str(version))
    except MlflowException as err:
        raise FlushRiskError(
            f"{name} v{version} is not in the MLflow store {db.resolve()} after registering it "
            f"({err.message}); train again"
        ) from None
    if mv.run_id != run_id:
        raise FlushRiskError(
            f"{name} v{version} in {db.resolve()} belongs to run {mv.run_id}, not to this run "
            f"{run_id}: another writer changed the store; train again"
        )


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
    "log_tuning",
    "metric_dict",
    "model_name",
    "require_store",
    "tracking_uri",
    "verify_registration",
]
