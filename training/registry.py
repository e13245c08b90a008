"""The model registry: versions, the ``champion`` alias, and the export to BentoML for serving.

Promotion gate. A candidate is refused, with the reason, when its label spec, bar or symbol set
differ from the champion's (the served probability would quietly mean something else), when it
does not CLEARLY beat the best baseline on its own out-of-fold rows (its run's protocol verdict:
the lower end of the 90 % CI of its PR-AUC margin must be above zero; a positive point estimate
whose interval includes zero is not enough), when its evaluated rows held no positive, and when
the rows it would be compared on include rows either model trained on. ``force`` overrides and
the result says what it overrode.

Exit codes (``flushrisk promote``, :attr:`PromoteResult.exit_code`): 0 promoted (or already the
champion), 3 refused by the gate, 4 not promoted because it does not beat the champion or the two
cannot be compared; 2 is a user error (no store, no such version), as for every command.

Promotion rule. A candidate becomes champion only if it beats the current champion on the SAME
evaluation data: metrics from different periods, symbols or label specs say nothing about which
model is better. Two runs whose evaluation digests (rows, labels, walk-forward set-up; see
:func:`training.tracking.evaluation_digest`) agree are compared on their logged out-of-fold
PR-AUC (Brier score breaks a tie). Otherwise both models are scored on data the caller names
(``data_dir`` + ``eval_from``), or the promotion is refused, saying why. ``force`` overrides.

Export. The champion's FlushModel directory (native booster, calibrator, metadata) is written
into the BentoML model store as ``flushrisk-<symbol lower>`` with labels symbol,
mlflow_version and mlflow_run_id; ``FlushModel.load(bentoml.models.get(name).path)`` restores it
without mlflow.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.errors import DataError, ModelNotFoundError
from features.settings import get_settings
from features.store import normalize_symbol
from models.flush_model import FlushModel
from training.tracking import CHAMPION, FLUSH_MODEL_ARTIFACT, connect, model_name, require_store

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

PRIMARY = "pr_auc"
TIEBREAK = "brier"
EXIT_PROMOTED = 0
EXIT_GATE_REFUSED = 3
EXIT_NOT_BETTER = 4
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class VersionInfo:
    """One registered version, as ``flushrisk models`` shows it."""

    name: str
    version: int
    run_id: str
    aliases: list[str]
    created: pd.Timestamp
    metrics: dict[str, float]
    tags: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)

    @property
    def is_champion(self) -> bool:
        return CHAMPION in self.aliases

    @property
    def label(self) -> str:
        """The label in short, with its threshold: 'liq >= $1.75M / 1h', 'liq >= 0.30% OI / 1h'."""
        p = self.params
        kind = p.get("label_kind") or self.tags.get("label_kind") or "?"
        horizon = p.get("label_horizon", "?")
        onset = p.get("label_onset")
        onset = f", onset {onset}" if onset not in (None, "None", "") else ""
        if kind == "liquidation":
            usd = p.get("label_threshold_usd")
            if usd not in (None, "None", ""):
                return f"liq >= ${float(usd) / 1e6:,.3g}M / {horizon}{onset}"
            frac = p.get("label_threshold_oi_fraction")
            return f"liq >= {float(frac):.2%} OI / {horizon}{onset}" if frac else f"liq / {horizon}{onset}"
        if kind == "proxy":
            return f"proxy {p.get('label_k_vol', '?')} vol / {horizon}{onset}"
        return kind

    @property
    def verdict(self) -> str:
        """The PR-AUC verdict in short: status, margin over the best baseline and its CI."""
        m = self.metrics
        margin = m.get("vs_best_baseline_pr_auc")
        if margin is None:
            return "no verdict"
        lo, hi = m.get("vs_best_baseline_pr_auc_ci_lo"), m.get("vs_best_baseline_pr_auc_ci_hi")
        ci = "" if lo is None or hi is None else f" [{lo:+.3f}, {hi:+.3f}]"
        status = "beats" if lo is not None and lo > 0 else ("not clear" if margin > 0 else "loses")
        return f"{status} {margin:+.3f}{ci}"


@dataclass
class PromoteResult:
    """What promote decided, and why (printed by the CLI)."""

    name: str
    version: int
    promoted: bool
    reason: str
    previous: int | None = None
    exported: str | None = None
    comparison: dict[str, Any] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 promoted, 3 refused by the gate, 4 not better than the champion (or not comparable)."""
        if self.promoted:
            return EXIT_PROMOTED
        return EXIT_GATE_REFUSED if self.refusals else EXIT_NOT_BETTER


def _info(client: MlflowClient, mv: ModelVersion, aliases: dict[str, str]) -> VersionInfo:
    run = client.get_run(mv.run_id)
    return VersionInfo(
        name=mv.name,
        version=int(mv.version),
        run_id=mv.run_id,
        aliases=sorted(a for a, v in aliases.items() if str(v) == str(mv.version)),
        created=pd.Timestamp(mv.creation_timestamp, unit="ms", tz="UTC"),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        params=dict(run.data.params),
    )


def list_versions(home: Path | str | None = None, symbol: str | None = None) -> list[VersionInfo]:
    """All registered versions (of one symbol's model, or every flushrisk model), newest first."""
    require_store(home)
    client, _ = connect(home)
    names = (
        [model_name(symbol)]
        if symbol
        else sorted(m.name for m in client.search_registered_models() if m.name.startswith("flushrisk-"))
    )
    infos: list[VersionInfo] = []
    from mlflow.exceptions import MlflowException

    for name in names:
        try:
            aliases = dict(client.get_registered_model(name).aliases or {})
        except MlflowException:
            continue  # no such model (yet)
        for mv in client.search_model_versions(f"name = '{name}'"):
            infos.append(_info(client, mv, aliases))
    return sorted(infos, key=lambda v: (v.name, -v.version))


def _version(client: MlflowClient, name: str, version: int | None) -> ModelVersion:
    from mlflow.exceptions import MlflowException

    try:
        if version is None:
            versions = client.search_model_versions(f"name = '{name}'")
            if not versions:
                raise ModelNotFoundError(f"no registered versions of {name}; train one first")
            return max(versions, key=lambda mv: int(mv.version))
        return client.get_model_version(name, str(version))
    except MlflowException as err:
        raise ModelNotFoundError(f"{name} version {version}: {err.message}") from None


def _champion(client: MlflowClient, name: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def load_run_model(client: MlflowClient, run_id: str) -> FlushModel:
    """The FlushModel a training run logged (downloaded from its artifacts)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=FLUSH_MODEL_ARTIFACT, dst_path=tmp,
                tracking_uri=client.tracking_uri,
            )
        except (MlflowException, OSError) as err:
            raise ModelNotFoundError(f"run {run_id} has no {FLUSH_MODEL_ARTIFACT} artifact ({err})") from None
        return FlushModel.load(local)


def resolve_model(ref: str, home: Path | str | None = None) -> tuple[FlushModel, dict[str, Any]]:
    """A model from a reference: a model directory, a run id, ``NAME/VERSION``, ``NAME@ALIAS``,
    ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` (NAME may be a symbol such as BTC).
    A bare NAME is the champion (the latest version only when there is no champion yet); the
    returned source says which version it is."""
    path = Path(ref)
    if path.is_dir():
        return FlushModel.load(path), {"source": str(path.resolve())}
    require_store(home)
    client, _ = connect(home)
    text = ref.removeprefix("models:/")
    if _RUN_ID.match(text):
        from mlflow.exceptions import MlflowException

        try:
            client.get_run(text)
        except MlflowException:
            raise ModelNotFoundError(f"no run {text} in the MLflow store") from None
        model = load_run_model(client, text)
        return model, {"source": f"run {text}", "mlflow_run_id": text}
    match = re.match(r"^([^/@]+)(?:/(\d+)|@([A-Za-z0-9_-]+))?$", text)
    if not match:
        raise ModelNotFoundError(
            f"cannot read model reference {ref!r}: use a directory, a run id, NAME/VERSION or NAME@ALIAS"
        )
    name, version, alias = match.groups()
    name = name if name.startswith("flushrisk-") else model_name(name)
    if alias:
        from mlflow.exceptions import MlflowException

        try:
            mv = client.get_model_version_by_alias(name, alias)
        except MlflowException:
            raise ModelNotFoundError(f"{name} has no version with alias @{alias}") from None
    elif version:
        mv = _version(client, name, int(version))
    else:
        # A bare name means the model in service: the champion, not merely the newest version.
        mv = _champion(client, name)
        alias = CHAMPION if mv is not None else None
        if mv is None:
            mv = _version(client, name, None)
    model = load_run_model(client, mv.run_id)
    model.metadata.update(mlflow_version=int(mv.version), mlflow_run_id=mv.run_id)
    what = f"{name} v{mv.version}" + (f" (@{alias})" if alias else " (latest; no champion yet)")
    return model, {"source": what, "mlflow_run_id": mv.run_id, "mlflow_version": int(mv.version)}


def why_no_champion(symbol: str, home: Path | str | None, error: str) -> str:
    """Why ``symbol`` has no champion to score with, and the way on: no model trained yet, or a
    latest version the gate refuses (named), or one never promoted."""
    from mlflow.exceptions import MlflowException

    try:
        require_store(home)
        client, _ = connect(home)
        versions = client.search_model_versions(f"name = '{model_name(symbol)}'")
    except (MlflowException, ModelNotFoundError, DataError):
        return f"{error}; train one: flushrisk train --symbol {symbol}"
    if not versions:
        return f"no trained model; train one: flushrisk train --symbol {symbol}"
    latest = max(versions, key=lambda mv: int(mv.version))
    run = client.get_run(latest.run_id)
    refusals = verdict_refusals(int(latest.version), dict(run.data.metrics), run.data.tags.get("verdict"))
    if refusals:
        return (f"no champion: the promotion gate refuses its latest version ({refusals[0]}); retrain "
                f"(more data, another label) or serve it anyway: flushrisk promote --symbol {symbol} --force")
    return f"no champion: v{latest.version} was never promoted; flushrisk promote --symbol {symbol}"


def _compare(
    cand: dict[str, float], champ: dict[str, float], where: str, cand_v: int, champ_v: int
) -> tuple[bool, str]:
    a, b = cand.get(PRIMARY), champ.get(PRIMARY)
    if a is None or b is None or not np.isfinite(a) or not np.isfinite(b):
        return False, f"{PRIMARY} is missing for v{cand_v} or v{champ_v} on {where}"
    if a > b + 1e-12:
        return True, f"v{cand_v} {PRIMARY} {a:.4f} > champion v{champ_v} {b:.4f} on {where}"
    if abs(a - b) <= 1e-12 and cand.get(TIEBREAK, np.inf) < champ.get(TIEBREAK, np.inf):
        return True, (
            f"v{cand_v} ties champion v{champ_v} on {PRIMARY} ({a:.4f}) and has the lower "
            f"{TIEBREAK} ({cand[TIEBREAK]:.5f} < {champ[TIEBREAK]:.5f}) on {where}"
        )
    verb = "only ties" if abs(a - b) <= 1e-12 else "does not beat"
    return False, f"v{cand_v} {PRIMARY} {a:.4f} {verb} champion v{champ_v} {b:.4f} on {where}"


def _score_on(model: FlushModel, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    from training.metrics import binary_metrics

    return binary_metrics(y.to_numpy(np.float64), model.predict_proba(X), model.alert_threshold)


def promote(
    symbol: str,
    version: int | None = None,
    force: bool = False,
    home: Path | str | None = None,
    data_dir: Path | str | None = None,
    eval_from: str | None = None,
    bentoml_home: Path | str | None = None,
) -> PromoteResult:
    """Set the champion alias per the promotion rule and export the champion to BentoML."""
    require_store(home)
    client, _ = connect(home)
    name = model_name(symbol)
    cand = _version(client, name, version)
    cand_v = int(cand.version)
    champ = _champion(client, name)
    result = PromoteResult(name=name, version=cand_v, promoted=False, reason="")
    if champ is not None:
        result.previous = int(champ.version)
    if champ is not None and int(champ.version) == cand_v:
        result.promoted, result.reason = True, f"v{cand_v} is already the champion (re-exported)"
        return _finish(client, result, cand, symbol, bentoml_home)
    cand_model = load_run_model(client, cand.run_id)
    champ_model = load_run_model(client, champ.run_id) if champ is not None else None
    refusals = gate_refusals(client, cand, cand_model, champ, champ_model)
    if refusals and not force:
        result.reason = "refused: " + "; ".join(refusals) + ". --force overrides"
        result.refusals = refusals
    elif force:
        result.promoted = True
        result.overridden = refusals
        result.reason = (
            f"--force: v{cand_v} set as champion, overriding: " + "; ".join(refusals)
            if refusals else f"--force: v{cand_v} set as champion without comparison"
        )
    elif champ is None:
        result.promoted, result.reason = True, f"no current champion of {name}: v{cand_v} becomes champion"
    else:
        champ_v = int(champ.version)
        cand_run, champ_run = client.get_run(cand.run_id), client.get_run(champ.run_id)
        cand_digest = cand_run.data.tags.get("eval_digest")
        champ_digest = champ_run.data.tags.get("eval_digest")
        if cand_digest and cand_digest == champ_digest:
            # both figures are out of fold on the same rows: no model scored rows it trained on
            result.promoted, result.reason = _compare(
                cand_run.data.metrics, champ_run.data.metrics,
                f"the same walk-forward evaluation (digest {cand_digest})", cand_v, champ_v,
            )
        elif data_dir is not None:
            result.promoted, result.reason, result.comparison = _compare_on_data(
                cand, cand_model, champ, champ_model, symbol, data_dir, eval_from
            )
        else:
            result.reason = (
                f"v{cand_v} and champion v{champ_v} were evaluated on different data "
                f"(digests {cand_digest} vs {champ_digest}): their metrics are not comparable. "
                "Pass --data-dir (and --eval-from DATE) to score both on the same data, or --force"
            )
    return _finish(client, result, cand, symbol, bentoml_home)


def _finish(
    client: MlflowClient, result: PromoteResult, cand: ModelVersion, symbol: str,
    bentoml_home: Path | str | None,
) -> PromoteResult:
    """Set the alias and export, when promoted."""
    cand_v = result.version
    name = result.name
    if result.promoted:
        client.set_registered_model_alias(name, CHAMPION, str(cand_v))
        model = load_run_model(client, cand.run_id)
        result.exported = export_bentoml(
            model, symbol, cand_v, cand.run_id, bentoml_home, tracking_uri=client.tracking_uri
        )
    return result


def _symbols(model: FlushModel) -> list[str]:
    meta = model.metadata
    symbols = meta.get("symbols") or ([meta["symbol"]] if meta.get("symbol") else [])
    return sorted(normalize_symbol(str(s)) for s in symbols)


def _label(model: FlushModel) -> Any:
    from features import LabelSpec

    return LabelSpec.model_validate(model.label_spec)


def gate_refusals(
    client: MlflowClient,
    cand: ModelVersion,
    cand_model: FlushModel,
    champ: ModelVersion | None,
    champ_model: FlushModel | None,
) -> list[str]:
    """Why the candidate must not become champion (empty: it may, subject to the comparison).

    1. A different label spec, bar or symbol set from the champion's: the served probability
       would quietly start meaning something else.
    2. The candidate does not beat the best baseline on its own out-of-fold rows (its run's
       protocol verdict: PR-AUC margin over the best baseline not above zero), or its run has no
       verdict at all (trained before the protocol).
    The third rule (no comparison on rows either model trained on) is applied where rows are
    compared: :func:`_compare_on_data`.
    """
    refusals: list[str] = []
    cv = int(cand.version)
    if champ is not None and champ_model is not None:
        pv = int(champ.version)
        cand_label, champ_label = _label(cand_model), _label(champ_model)
        if cand_label != champ_label:
            refusals.append(
                f"v{cv} predicts '{cand_label.describe()}' but champion v{pv} predicts "
                f"'{champ_label.describe()}' (label spec differs: promoting it would change what the "
                f"served probability means). To compete with the champion, train with "
                f"{label_flags(champ_label)}; to switch the served label on purpose, promote with --force"
            )
        cand_bar, champ_bar = cand_model.metadata.get("bar"), champ_model.metadata.get("bar")
        if cand_bar != champ_bar:
            refusals.append(f"v{cv} is for {cand_bar} bars but champion v{pv} for {champ_bar} bars")
        cand_syms, champ_syms = _symbols(cand_model), _symbols(champ_model)
        if cand_syms != champ_syms:
            refusals.append(
                f"v{cv} was trained on symbols {','.join(cand_syms) or '?'} but champion v{pv} on "
                f"{','.join(champ_syms) or '?'}"
            )
    run = client.get_run(cand.run_id)
    refusals.extend(verdict_refusals(cv, run.data.metrics, run.data.tags.get("verdict")))
    return refusals


def verdict_refusals(version: int, metrics: dict[str, float], verdict: str | None) -> list[str]:
    """The gate's reading of a run's verdict: refused unless the 90 % CI of its PR-AUC margin over
    the best baseline lies above zero (and its evaluated rows held positives at all)."""
    margin = metrics.get("vs_best_baseline_pr_auc")
    lo = metrics.get("vs_best_baseline_pr_auc_ci_lo")
    hi = metrics.get("vs_best_baseline_pr_auc_ci_hi")
    first = (verdict or "").splitlines()[0] if verdict else "no verdict"
    if metrics.get("positives") == 0:
        return [f"v{version}'s evaluated rows held no positive label: no verdict, nothing to promote on"]
    if margin is None:
        return [(f"v{version}'s run has no evaluation-protocol verdict (trained before it): retrain it to "
                "check it beats the best baseline")]
    if not margin > 0:
        return [f"v{version} does not beat the best baseline on its own out-of-fold rows ({first})"]
    if lo is None or not lo > 0:
        ci = "no CI" if lo is None or hi is None else f"90% CI {lo:+.3f} to {hi:+.3f} includes zero"
        return [(f"v{version} is ahead of the best baseline by {margin:+.3f} PR-AUC but not clearly ({ci}); "
                "the gate needs the CI above zero")]
    return []


def label_flags(spec: Any) -> str:
    """The ``flushrisk train`` options that give exactly this label spec."""
    from features.labels import format_duration

    parts = [f"--label {spec.kind}", f"--horizon {format_duration(spec.horizon)}"]
    if spec.kind == "liquidation":
        parts.append(f"--threshold-usd {spec.threshold_usd:g}" if spec.threshold_usd is not None
                     else f"--threshold-oi-fraction {spec.threshold_oi_fraction:g}")
    else:
        parts.append(f"--k-vol {spec.k_vol:g}")
        if spec.oi_drop_pct is not None:
            parts.append(f"--oi-drop-pct {spec.oi_drop_pct:g}")
    if spec.onset is not None:
        parts.append(f"--onset {format_duration(spec.onset)}")
    return " ".join(parts)


def _compare_on_data(
    cand: ModelVersion,
    cand_model: FlushModel,
    champ: ModelVersion,
    champ_model: FlushModel,
    symbol: str,
    data_dir: Path | str,
    eval_from: str | None,
) -> tuple[bool, str, dict[str, Any]]:
    """Score both models on the same rows of ``data_dir``; refuse rows either trained on."""
    from features import labelled_windows
    from features.store import MarketStore

    bar = str(cand_model.metadata.get("bar", "1h"))
    spec = _label(cand_model)
    frame = MarketStore(data_dir).read(symbol, bar)
    X, y, _ = labelled_windows(frame, spec)
    ends = [pd.Timestamp(m.metadata["data_end"]) for m in (cand_model, champ_model) if m.metadata.get("data_end")]
    start = pd.Timestamp(eval_from, tz="UTC") if eval_from else (max(ends) if ends else None)
    if start is not None:
        keep = X.index > start
        X, y = X[keep], y[keep]
    if len(X) == 0 or y.sum() == 0:
        raise DataError(
            f"no labelled rows with positives in {data_dir} for {symbol} after {start}: "
            "pass an earlier --eval-from, or --force"
        )
    where = f"{len(X)} rows of {normalize_symbol(symbol)} {bar} from {X.index[0]:%Y-%m-%d} to {X.index[-1]:%Y-%m-%d}"
    trained_on = [
        f"v{mv.version} (trained until {m.metadata['data_end'][:16]})"
        for mv, m in ((cand, cand_model), (champ, champ_model))
        if m.metadata.get("data_end") and pd.Timestamp(m.metadata["data_end"]) >= X.index[0]
        and normalize_symbol(symbol) in _symbols(m)
    ]
    if trained_on:
        return False, (
            f"refused: the comparison rows ({where}) include rows {' and '.join(trained_on)} trained on; "
            "pass a later --eval-from (or none: after both models' data), or --force"
        ), {}
    scores = {"candidate": _score_on(cand_model, X, y), "champion": _score_on(champ_model, X, y)}
    promoted, reason = _compare(scores["candidate"], scores["champion"], where, int(cand.version), int(champ.version))
    return promoted, reason, scores


def export_bentoml(
    model: FlushModel,
    symbol: str,
    version: int,
    run_id: str,
    bentoml_home: Path | str | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Write the FlushModel into the BentoML store as ``flushrisk-<symbol lower>``; return its tag.

    Also records it as the symbol's champion in the store's champion index
    (:mod:`serving.champions`): MLflow model name, version and run, the project (tracking
    URI), and the sha256 of every exported file, so the service serves this export and no
    other project's, and refuses the files if they change afterwards.
    """
    import bentoml
    from bentoml._internal.configuration.containers import BentoMLContainer

    from serving.champions import CHECKSUMS_FILE, ChampionRecord, file_digests, record_champion
    from training.tracking import model_name

    project = tracking_uri or get_settings().tracking_uri
    mlflow_name = model_name(symbol)
    model = FlushModel(  # a copy: the caller's model keeps its own metadata
        model.booster,
        model.features,
        model.calibrator,
        model.label_spec,
        {
            **model.metadata,
            "mlflow_version": int(version),
            "mlflow_run_id": run_id,
            "mlflow_name": mlflow_name,
            "project": project,
        },
    )
    home = bentoml_home if bentoml_home is not None else get_settings().bentoml_home
    store_kwargs: dict[str, Any] = {}
    if home is not None:
        from bentoml._internal.models import ModelStore

        models_dir = Path(home) / "models"
        models_dir.mkdir(parents=True, exist_ok=True)
        store_kwargs["_model_store"] = ModelStore(str(models_dir))
    else:
        home = BentoMLContainer.bentoml_home.get()
    meta = model.metadata
    summary = {
        k: meta[k]
        for k in ("bar", "data_start", "data_end", "base_rate", "alert_threshold", "calibration")
        if k in meta
    }
    summary["metrics"] = {k: v for k, v in (meta.get("metrics") or {}).items() if isinstance(v, int | float)}
    with bentoml.models.create(
        f"flushrisk-{normalize_symbol(symbol).lower()}",
        labels={
            "symbol": normalize_symbol(symbol),
            "mlflow_name": mlflow_name,
            "mlflow_version": str(version),
            "mlflow_run_id": run_id,
        },
        metadata={**summary, "project": project},
        **store_kwargs,
    ) as bento_model:
        model.save(bento_model.path)
        digests = file_digests(bento_model.path)
        (Path(bento_model.path) / CHECKSUMS_FILE).write_text(json.dumps(digests, indent=1))
    record_champion(
        home,
        ChampionRecord(
            symbol=normalize_symbol(symbol),
            bentoml_tag=str(bento_model.tag),
            mlflow_name=mlflow_name,
            mlflow_version=str(version),
            mlflow_run_id=run_id,
            project=project,
            sha256=digests,
        ),
    )
    return str(bento_model.tag)


__all__ = [
    "EXIT_GATE_REFUSED",
    "EXIT_NOT_BETTER",
    "EXIT_PROMOTED",
    "PromoteResult",
    "VersionInfo",
    "export_bentoml",
    "gate_refusals",
    "label_flags",
    "list_versions",
    "load_run_model",
    "promote",
    "resolve_model",
    "verdict_refusals",
    "why_no_champion",
]
