"""``flushrisk train | evaluate | promote | models | ui``: training, the registry and its UI.

The heavy imports (lightgbm, sklearn, mlflow) happen inside the commands, so ``flushrisk
--help`` and the other commands stay quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self

import typer
from rich import box
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.errors import DataError
from features.label_defaults import DEFAULT_BTC_THRESHOLD_USD, resolve_threshold_usd
from features.settings import Settings
from training.cli.app import DataDirOption, app, console, resolve_data_dir

if TYPE_CHECKING:
    from training.fit import FoldResult
    from training.tuning import TrialRecord, TuningResult

COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("pr_auc", "PR-AUC", "{:.3f}"),
    ("pr_auc_lift", "lift", "{:.2f}x"),
    ("roc_auc", "ROC-AUC", "{:.3f}"),
    ("brier", "Brier", "{:.4f}"),
    ("brier_skill", "BSS", "{:+.3f}"),
    ("log_loss", "log loss", "{:.4f}"),
    ("ece", "ECE (equal-mass)", "{:.4f}"),
    ("calibration_slope", "calib. slope", "{:.2f}"),
    ("precision_at_alert", "prec@alert", "{:.3f}"),
    ("recall_at_alert", "recall@alert", "{:.3f}"),
    ("alerts_per_week", "alerts/wk", "{:.1f}"),
)


class LabelKind(str, Enum):
    liquidation = "liquidation"
    proxy = "proxy"


class Scheme(str, Enum):
    expanding = "expanding"
    rolling = "rolling"


DataDir = DataDirOption
SymbolOpt = Annotated[str, typer.Option("--symbol", help="Symbol in the store, e.g. BTC.")]
MlflowHome = Annotated[
    Path | None,
    typer.Option("--mlflow-home", help="MLflow sqlite store + artifacts (default: settings mlflow_home)."),
]
ReportOpt = Annotated[Path | None, typer.Option("--report", help="Write the JSON report here.")]
EventsOpt = Annotated[
    Path | None,
    typer.Option("--events", help="Public flush days CSV (date_utc column); default: the list shipped with FlushRisk. Only days inside the data are studied."),
]


MinTrainOpt = Annotated[
    float | None,
    typer.Option("--min-train", min=1, help=(
        "Days of data before the first test fold (default: the first 40 % of the span); the folds "
        "share the rest, so an early crash can be tested.")),
]


def min_train_days(days: float | None) -> Any:
    """--min-train DAYS as a duration (None: the default first 40 % of the span)."""
    import pandas as pd

    return None if days is None else pd.Timedelta(days=days)


def _fmt(value: Any, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _with_ci(value: Any, ci: Any, pattern: str) -> str:
    if value is None:
        return "n/a"  # undefined here (e.g. ROC-AUC or a calibration slope of a constant)
    text = _fmt(value, pattern)
    if not ci or ci[0] is None:
        return text
    return f"{text} [{pattern.format(ci[0])}, {pattern.format(ci[1])}]"


def metrics_table(report: dict[str, Any], title: str) -> Table:
    """Model against baselines: one column per predictor, the headline metrics as rows.

    Bootstrapped metrics carry their interval in brackets; the last row is the model's paired
    PR-AUC advantage over each baseline with its interval (same rows, same day blocks).
    """
    names = [n for n, m in report.items() if isinstance(m, dict) and "pr_auc" in m]
    level = (report.get("verdict") or {}).get("level", 0.9)
    table = Table(title=title, title_justify="left")
    table.add_column("metric", style="bold")
    for name in names:
        table.add_column(name, justify="right", style="green" if name == "model" else None)
    for key, header, pattern in COLUMNS:
        cis = [(report[name].get("ci") or {}).get(key) for name in names]
        table.add_row(header, *(_with_ci(report[n].get(key), ci, pattern) for n, ci in zip(names, cis, strict=True)))
    if any("vs_model" in report[n] for n in names):
        cells = []
        for name in names:
            d = (report[name].get("vs_model") or {}).get("pr_auc")
            cells.append("" if d is None else _with_ci(d["value"], d["ci"], "{:+.3f}"))
        table.add_row(f"model - this, PR-AUC ({level:.0%} CI)", *cells)
    return table


def _short_time(text: str) -> str:
    return text[:16]


def events_table(events: dict[str, Any]) -> Table:
    """Per predictor, each at its own threshold for the model's alert budget: warned before
    onsets and continuations, the alert hours spent, false-alarm hours per week, and the model's
    onset advantage with its CI."""
    equal = events.get("equal_budget") or {}
    level = equal.get("level", 0.9)
    table = Table(
        title=(f"Event study on the data's own squeezes ({events['source']}): {events['events_total']} events, "
               f"{events['onsets']} onsets, {events['continuations']} continuations (onset: none in the "
               f"{events['onset_window_hours']:g} h before); warned = an alert in the "
               f"{events['lookback_hours']:g} h up to it; every predictor at the model's alert budget "
               "(own threshold, chosen on its training rows); false alarm = an alert hour with no squeeze "
               "within the horizon"
               + ("; the model alerts in calm hours only (silent while a squeeze of its label runs)"
                  if events.get("same_rule") else "")),
        title_justify="left",
    )
    for col in ("predictor", "onsets warned", "continuations warned", "alert hours", "false alarm h/wk",
                f"model - this, onsets ({level:.0%} CI)"):
        table.add_column(col, justify="left" if col == "predictor" else "right")
    for name, m in events["predictors"].items():
        d = (equal.get("differences") or {}).get(name)
        gap = "" if d is None else _with_ci(d["value"] * 100, [None if v is None else v * 100 for v in d["ci"]],
                                            "{:+.1f}") + " pts"
        table.add_row(
            name,
            "-" if m["onset_hit_rate"] is None else f"{m['onset_hits']}/{events['onsets']} ({m['onset_hit_rate']:.0%})",
            "-" if m["continuation_hit_rate"] is None
            else f"{m['continuation_hits']}/{events['continuations']} ({m['continuation_hit_rate']:.0%})",
            _fmt(m.get("alert_share"), "{:.1%}"),
            _fmt(m["false_alarms_per_week"], "{:.1f}"),
            gap,
            style="green" if name == "model" else None,
        )
    return table


def largest_events_table(events: dict[str, Any]) -> Table:
    table = Table(title="Largest events (model's out-of-fold probability)", title_justify="left")
    for col in ("time", "size", "kind", "p", "p 1h before", "max p 6h", "lead time h"):
        table.add_column(col)
    for e in events["largest"]:
        table.add_row(
            _short_time(e["time"]), f"{e['size']:.1f}x", e["kind"], f"{e['p']:.3f}",
            _fmt(e["p_1h_before"], "{:.3f}"), f"{e['max_p_lookback']:.3f}",
            "no alert" if e["lead_time_hours"] is None else f"{e['lead_time_hours']:.0f}",
        )
    return table


def public_table(public: dict[str, Any]) -> Table:
    table = Table(title=f"Public flush list: {public['inside_data']} of {public['listed']} days inside the data",
                  title_justify="left")
    for col in ("date", "onset", "max p 6h before", "first alert", "lead time h"):
        table.add_column(col)
    for day in public["days"]:
        table.add_row(
            day["date"], _short_time(day["onset"]), f"{day['max_p_lookback']:.3f}",
            _short_time(day["first_alert"]) if day["first_alert"] else "no alert",
            "-" if day["lead_time_hours"] is None else f"{day['lead_time_hours']:.1f}",
        )
    return table


def print_events(events: dict[str, Any] | None) -> None:
    """The event study: onsets separately, then the largest events, then the public days that
    fall inside the data (and nothing about days outside it)."""
    if not events:
        return
    if events.get("events_total"):
        console.print(events_table(events))
        console.print(f"[bold]{escape(events['summary'])}[/]", highlight=False)
        console.print(largest_events_table(events))
    else:
        console.print("event study: no positive label in the evaluated rows", highlight=False)
    public = events.get("public")
    if public and public["inside_data"]:
        console.print(public_table(public))
    elif public:
        console.print(
            f"public flush list: none of its {public['listed']} days fall inside the evaluated rows",
            highlight=False,
        )


def verdict_line(report: dict[str, Any]) -> str:
    verdict = report.get("verdict") or {}
    return f"verdict: {verdict.get('text', 'none')}"


def fold_lines(setup: dict[str, Any]) -> list[str]:
    """The period each fold tested, one short line each."""
    return [
        f"fold {f['fold']} tests {f['test_from'][:16]} .. {f['test_to'][:16]} ({f['test_rows']} rows, "
        f"{f['test_positives']} positives), trained on {f['train_from'][:10]} .. {f['train_to'][:16]}"
        for f in setup.get("fold_periods") or []
    ]


def _print_report(report: dict[str, Any], title: str) -> None:
    verdict = report.get("verdict") or {}
    style = "bold green" if verdict.get("beats") else "bold yellow"
    for k, line in enumerate(verdict.get("lines") or [verdict.get("text", "none")]):
        console.print(f"[{style}]{'verdict: ' if k == 0 else '         '}{escape(line)}[/]", highlight=False)
    console.print(metrics_table(report, title))
    seeds = (report.get("protocol") or {}).get("seeds")
    if seeds and seeds.get("n", 0) > 1:
        s = seeds["pr_auc"]
        console.print(
            f"booster seeds: {seeds['n']}, model PR-AUC mean {s['mean']:.3f} (sd {s['std']:.3f}, "
            f"range {s['min']:.3f} to {s['max']:.3f}); the table shows the first seed (the deployed one)",
            highlight=False,
        )
    setup = report.get("setup", {})
    console.print(
        f"label: {setup.get('label')}; evaluated {setup.get('evaluated_rows')} rows "
        f"{setup.get('evaluated_from')} .. {setup.get('evaluated_to')}, base rate "
        f"{report['model'].get('base_rate', 0):.4f}, {setup.get('folds')} fold(s)",
        highlight=False,
    )
    for line in fold_lines(setup):
        console.print(line, highlight=False)
    print_events(report.get("events"))


def _short_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


class FoldProgress:
    """A rich progress bar advanced once per walk-forward fold, with one line per fold; with
    tuning, first one bar over the trials with one line per trial (:meth:`trial`)."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=False,
        )
        self.task: Any = None
        self.trials: Any = None

    def trial(self, record: TrialRecord, result: TuningResult | None, total: int) -> None:
        if self.trials is None:
            self.trials = self.progress.add_task("tuning", total=total)
        score = "-" if record.pr_auc is None else f"{record.pr_auc:.3f}, log loss {record.log_loss:.4f}"
        best = "" if result is None else f" (best so far: trial {result.best.number})"
        tag = " (defaults)" if record.number == 0 else ""
        self.progress.console.print(
            f"trial {record.number}{tag}: {record.state}, inner PR-AUC {score}{best}, {record.seconds:.1f} s; "
            f"{_short_params({**record.params, 'blend': record.blend})}",
            highlight=False,
        )
        self.progress.advance(self.trials)

    def __enter__(self) -> Self:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, result: FoldResult, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task("walk-forward", total=total)
        m = result.metrics["model"]
        pr = "-" if m["pr_auc"] != m["pr_auc"] else f"{m['pr_auc']:.3f}"
        # evaluate scores an existing model: nothing is fitted, so no rounds are chosen
        fitted = (
            f"{result.best_iteration} rounds, {result.calibration} calibration"
            if result.best_iteration > 0
            else "existing model scored as is (not refitted)"
        )
        self.progress.console.print(
            f"{result.fold.describe()}: model PR-AUC {pr} (base rate {m['base_rate']:.3f}), {fitted}",
            highlight=False,
        )
        self.progress.advance(self.task)


def print_tuning(tuning: dict[str, Any] | None) -> None:
    """What tuning chose and how (the design is in the report and the MLflow run too)."""
    if not tuning:
        return
    best = tuning["best"]
    default = tuning.get("default_score")
    console.print(
        f"tuning: {len(tuning['trials'])} trials in {tuning['seconds']:.0f} s (stopped by {tuning['stopped_by']}) on "
        f"{tuning['rows']} rows {tuning['tuned_from'][:16]} .. {tuning['tuned_to'][:16]}, before the first "
        f"outer test block {tuning['outer_test_from'][:16]}; objective {best['objective']}: best "
        f"{best['score']:.4f} (trial {best['number']}), defaults {'-' if default is None else f'{default:.4f}'}",
        highlight=False,
    )
    guard = tuning.get("guard")
    if guard:
        lo, hi = guard["ci"]
        ci = "CI n/a" if lo is None else f"{guard['level']:.0%} CI {lo:+.4f} to {hi:+.4f}"
        console.print(
            f"guard: best searched trial {guard['trial']} vs the defaults on the tuning rows, {guard['metric']} "
            f"{guard['difference']:+.4f} ({ci}): {'clearly better' if guard['clear'] else 'not clearly better'}",
            highlight=False,
        )
    if best.get("defaults_kept"):
        console.print("chosen: the defaults (trial 0), kept unchanged", highlight=False)
    else:
        console.print(f"chosen: {_short_params({**best['params'], 'blend': best['blend']})}", highlight=False)
    console.print(f"design: {tuning['design']}", highlight=False, style="dim")


def promote_hint(symbol: str, version: int, verdict: dict[str, Any], mlflow_home: Path | None) -> str:
    """How to promote the version just registered, with the store it went to, or, when its
    verdict does not clear the gate (CI above zero), that the gate will refuse it and why."""
    from training.registry import verdict_refusals

    home = f" --mlflow-home {mlflow_home}" if mlflow_home is not None else ""
    command = f"flushrisk promote --symbol {symbol} --version {version}{home}"
    lo, hi = (verdict.get("ci") or [None, None])[:2]
    metrics = {"vs_best_baseline_pr_auc": verdict.get("difference"),
               "vs_best_baseline_pr_auc_ci_lo": lo, "vs_best_baseline_pr_auc_ci_hi": hi}
    refusals = verdict_refusals(version, {k: v for k, v in metrics.items() if v is not None}, verdict.get("text"))
    if not refusals:
        return f"promote it with: {command}"
    return f"the promotion gate will refuse it ({refusals[0]}); {command} --force overrides"


@app.command("train")
def train(
    data_dir: DataDir = None,
    symbol: SymbolOpt = "BTC",
    symbols: Annotated[
        str | None,
        typer.Option("--symbols", help="Train ONE pooled model on several symbols: BTC,ETH,SOL or 'all'."),
    ] = None,
    bar: Annotated[str, typer.Option("--bar", help="Bar to train at (resampled from finer data).")] = "1h",
    label: Annotated[LabelKind, typer.Option("--label", help="liquidation, or proxy (price drop).")] = LabelKind.liquidation,
    threshold_usd: Annotated[float | None, typer.Option("--threshold-usd", help=(
        f"liquidation: USD threshold. Default: the quickstart's label, ${DEFAULT_BTC_THRESHOLD_USD / 1e6:g}M on BTC scaled by market size "
        "for other symbols (--symbols: 0.30 % of open interest, one label for every symbol)."))] = None,
    threshold_oi_fraction: Annotated[
        float | None, typer.Option("--threshold-oi-fraction", help="liquidation: threshold / open interest.")
    ] = None,
    horizon: Annotated[str, typer.Option("--horizon", help="Label horizon, e.g. 1h.")] = "1h",
    k_vol: Annotated[float | None, typer.Option("--k-vol", help="proxy: drop in volatility units.")] = None,
    oi_drop_pct: Annotated[float | None, typer.Option("--oi-drop-pct", help="proxy: also an OI drop (%).")] = None,
    onset: Annotated[
        str | None,
        typer.Option("--onset", help="Onset label: positive only after this long without a squeeze (e.g. 6h); rows inside a running cascade are left out."),
    ] = None,
    events_top: Annotated[int | None, typer.Option("--events-top", min=1, help="Event study: only the N largest squeezes.")] = None,
    test_from: Annotated[
        str | None, typer.Option("--test-from", help="One split: train before DATE, test from it.")
    ] = None,
    folds: Annotated[int, typer.Option("--folds", min=1, max=50, help="Walk-forward folds.")] = 5,
    min_train: MinTrainOpt = None,
    scheme: Annotated[Scheme, typer.Option("--scheme", help="expanding or rolling training window.")] = Scheme.expanding,
    window: Annotated[str | None, typer.Option("--window", help="rolling: training window, e.g. 120D.")] = None,
    embargo: Annotated[str | None, typer.Option("--embargo", help="Extra gap after the purge (default: horizon).")] = None,
    stride: Annotated[str | None, typer.Option("--stride", help="Keep one training row per STRIDE.")] = None,
    calibration: Annotated[str, typer.Option("--calibration", help="auto, isotonic or platt.")] = "auto",
    max_rounds: Annotated[int, typer.Option("--max-rounds", min=1, help="Most boosting rounds (early stopping picks fewer).")] = 1000,
    seeds: Annotated[int, typer.Option("--seeds", min=1, max=20, help="Booster seeds per fold (the spread is reported).")] = 3,
    resamples: Annotated[int, typer.Option("--bootstrap", min=20, max=10000, help="Day-block bootstrap resamples for the CIs.")] = 200,
    events: EventsOpt = None,
    report: ReportOpt = None,
    mlflow_home: MlflowHome = None,
    register: Annotated[bool, typer.Option("--register/--no-register", help="Log to MLflow and register.")] = True,
    tune: Annotated[
        int,
        typer.Option("--tune", min=0, max=2000, help=(
            "Tune the booster with N Optuna trials first (0, the default: no tuning). Tuning sees only the "
            "rows before the first test block (an inner walk-forward there); every fold and the final model "
            "then use the chosen parameters. Each trial is an MLflow child run. Off by default: on simulated "
            "symbol-years tuned parameters scored below the defaults (README).")),
    ] = 0,
    tune_timeout: Annotated[
        float | None,
        typer.Option("--tune-timeout", min=1, help="Stop starting tuning trials after SECONDS."),
    ] = None,
    tune_guard: Annotated[
        bool,
        typer.Option("--tune-guard/--no-tune-guard", help=(
            "Keep the defaults unless the best trial beats them clearly (paired 90% CI above zero on "
            "the tuning rows).")),
    ] = True,
) -> None:
    """Walk-forward train and evaluate a calibrated model against baselines; log it to MLflow."""
    import pydantic

    from models.lgbm import BoosterConfig
    from training.events import EventOptions
    from training.fit import TrainConfig
    from training.jobs import DataRequest, LabelRequest, TrainRequest, train_job
    from training.protocol import ProtocolConfig
    from training.tuning import TuneConfig
    from training.walkforward import WalkForwardConfig

    if calibration not in ("auto", "isotonic", "platt"):
        raise DataError(f"--calibration must be auto, isotonic or platt, not {calibration!r}")
    try:
        wf = WalkForwardConfig(
            scheme=scheme.value, n_folds=folds, window=window, embargo=embargo, test_from=test_from, horizon=horizon,
            min_train=min_train_days(min_train),
        )
        request = TrainRequest(
            data=DataRequest(data_dir=resolve_data_dir(data_dir), symbol=symbol, bar=bar),
            label=LabelRequest(
                kind=label.value, horizon=horizon,
                threshold_usd=threshold_usd if symbols is not None
                else resolve_threshold_usd(label.value, threshold_usd, threshold_oi_fraction, symbol),
                threshold_oi_fraction=threshold_oi_fraction, k_vol=k_vol, oi_drop_pct=oi_drop_pct,
                onset=onset,
            ),
            config=TrainConfig(
                walk_forward=wf, calibration=calibration, booster=BoosterConfig(num_boost_round=max_rounds),
                seeds=seeds, protocol=ProtocolConfig(resamples=resamples),
            ),
            stride=stride,
            events=events,
            event_options=EventOptions(top=events_top, onset_window=onset or "6h"),
            mlflow_home=mlflow_home,
            log_to_mlflow=register,
            report=report,
            tune=TuneConfig(trials=tune, timeout=tune_timeout, guard=tune_guard) if tune > 0 else None,
        )
    except (pydantic.ValidationError, ValueError) as err:
        raise DataError(f"invalid option: {err}") from None
    if symbols is not None and tune > 0:
        raise DataError("--tune works on one symbol's training (--symbol), not yet with --symbols")
    if symbols is not None:
        from training.cli.pooled import train_pooled

        train_pooled(request, symbols, FoldProgress, _print_report)
        return
    with FoldProgress() as progress:
        outcome = train_job(request, on_fold=progress, on_trial=progress.trial)
    print_tuning(outcome.report.get("tuning"))
    _print_report(outcome.report, f"{symbol} {bar}: out-of-sample, model vs baselines")
    if outcome.version is not None:
        from training.tracking import model_name

        console.print(
            f"registered [bold]{model_name(symbol)}[/] v{outcome.version} (run {outcome.run_id}); "
            + escape(promote_hint(symbol, outcome.version, outcome.report.get("verdict") or {}, mlflow_home)),
            highlight=False,
        )
    if report is not None:
        console.print(f"report written to {report}", highlight=False)


@app.command("evaluate")
def evaluate(
    model: Annotated[str, typer.Argument(help="Run id, NAME/VERSION, NAME@ALIAS (e.g. BTC@champion), a bare NAME (its champion) or a model directory.")],
    data_dir: DataDir = None,
    symbol: SymbolOpt = "BTC",
    bar: Annotated[str | None, typer.Option("--bar", help="Default: the model's bar.")] = None,
    start: Annotated[str | None, typer.Option("--start", help="First date of the data to use.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last date of the data to use.")] = None,
    folds: Annotated[int, typer.Option("--folds", min=1, max=50, help="Folds for the baselines.")] = 5,
    min_train: MinTrainOpt = None,
    test_from: Annotated[str | None, typer.Option("--test-from", help="Score only from DATE.")] = None,
    events: EventsOpt = None,
    report: ReportOpt = None,
    mlflow_home: MlflowHome = None,
) -> None:
    """Score an existing model on other data (another period or symbol), beside the baselines."""
    from training.fit import TrainConfig
    from training.jobs import DataRequest, evaluate_job
    from training.walkforward import WalkForwardConfig

    config = TrainConfig(walk_forward=WalkForwardConfig(
        n_folds=folds, test_from=test_from, min_train=min_train_days(min_train)))
    with FoldProgress() as progress:
        result = evaluate_job(
            model,
            DataRequest(data_dir=resolve_data_dir(data_dir), symbol=symbol, bar=bar, start=start, end=end),
            config=config,
            events_path=events,
            mlflow_home=mlflow_home,
            report_path=report,
            on_fold=progress,
        )
    source = result["setup"].get("model") or {}
    console.print(f"scored {escape(str(source.get('source', model)))}", highlight=False)
    _print_report(result, f"{model} on {symbol}: model vs baselines")
    in_sample = result["setup"].get("in_sample", 0)
    if in_sample:
        console.print(
            f"[yellow]warning:[/] {in_sample} evaluated rows are in-sample ("
            f"{escape(str(result['setup'].get('in_sample_reason')))}): the model's figures are optimistic",
            highlight=False,
        )
    if report is not None:
        console.print(f"report written to {report}", highlight=False)


@app.command("promote")
def promote(
    symbol: SymbolOpt = "BTC",
    version: Annotated[int | None, typer.Option("--version", help="Version to promote (default: latest).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Promote despite the gate (label/bar/symbols, verdict CI above zero, training rows) and the comparison with the champion; says what it overrode.")] = False,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Score candidate and champion on this data when their evaluations differ.")
    ] = None,
    eval_from: Annotated[str | None, typer.Option("--eval-from", help="With --data-dir: score from DATE.")] = None,
    mlflow_home: MlflowHome = None,
    bentoml_home: Annotated[Path | None, typer.Option("--bentoml-home", help="BentoML store (default: settings / BENTOML_HOME).")] = None,
) -> None:
    """Make a version the champion if it beats the current one on the same data; export it to BentoML.

    The gate needs the version's verdict CI above zero (it clearly beats the best baseline), the
    champion's label, bar and symbols, and a win over the champion on the same rows. Exit codes:
    0 promoted, 3 refused by the gate, 4 does not beat the champion (or not comparable), 2 a user
    error. --force overrides the gate and the comparison, and says what it overrode.
    """
    from training.jobs import promote_job

    result = promote_job(symbol, version, force, mlflow_home, data_dir, eval_from, bentoml_home)
    if result.promoted:
        console.print(f"[bold green]champion:[/] {result.name} v{result.version}: {escape(result.reason)}", highlight=False)
        console.print(f"exported to BentoML as {result.exported}", highlight=False)
        return
    console.print(f"[bold yellow]not promoted:[/] {result.name} v{result.version}: {escape(result.reason)}", highlight=False)
    if result.previous is not None:
        console.print(f"champion stays v{result.previous}", highlight=False)
    raise typer.Exit(result.exit_code)


@app.command("models")
def models(
    symbol: Annotated[str | None, typer.Option("--symbol", help="Only this symbol's model.")] = None,
    mlflow_home: MlflowHome = None,
) -> None:
    """List registered versions with their out-of-sample metrics; the champion is marked."""
    from training.registry import list_versions

    versions = list_versions(mlflow_home, symbol)
    if not versions:
        console.print("no registered models yet: run `flushrisk train`")
        return
    table = Table(
        title=("Registered models (flushrisk-<SYMBOL>; metrics out of fold; verdict: PR-AUC margin over the "
               "best baseline [90% CI]; figures of different labels are not comparable)"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    for col in ("symbol", "v", "alias", "created", "bar", "label", "PR-AUC", "lift", "ECE", "verdict"):
        right = col in ("v", "PR-AUC", "lift", "ECE")
        table.add_column(col, justify="right" if right else "left", no_wrap=col != "verdict")
    for v in versions:
        m = v.metrics
        table.add_row(
            v.name.removeprefix("flushrisk-"),
            str(v.version),
            ",".join(v.aliases),
            f"{v.created:%m-%d %H:%M}",
            v.tags.get("bar", "-"),
            v.label,
            _fmt(m.get("pr_auc"), "{:.3f}"),
            _fmt(m.get("pr_auc_lift"), "{:.2f}x"),
            _fmt(m.get("ece"), "{:.4f}"),
            v.verdict,
            style="bold green" if v.is_champion else None,
        )
    console.print(table)


def ui_command(home: Path, host: str, port: int, experiment_id: str) -> tuple[list[str], dict[str, str]]:
    """The MLflow server command on this store (one worker, no job runner), whose root lands on
    the experiment's runs list (:mod:`training.mlflow_ui`)."""
    from training.mlflow_ui import EXPERIMENT_ENV

    settings = Settings(mlflow_home=home)
    cmd = [
        sys.executable, "-m", "training.mlflow_ui", "server",
        "--backend-store-uri", settings.tracking_uri,
        "--registry-store-uri", settings.tracking_uri,
        "--default-artifact-root", settings.artifact_root.as_uri(),
        "--host", host,
        "--port", str(port),
        "--workers", "1",
    ]
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        EXPERIMENT_ENV: experiment_id,
    }
    return cmd, env


@app.command("ui")
def ui(
    mlflow_home: MlflowHome = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 5000,
) -> None:
    """Start the MLflow UI on the FlushRisk store, opening on the training runs (one worker, no
    job runner); Ctrl-C stops it."""
    from training.tracking import connect, require_store
    from training.tracking import mlflow_home as resolve_home

    home = require_store(resolve_home(mlflow_home))
    _, experiment_id = connect(home)
    cmd, env = ui_command(home, host, port, experiment_id)
    console.print(
        f"MLflow UI for {home.resolve()}: [bold]http://{host}:{port}/[/] opens on the training "
        f"runs (experiment {experiment_id}); Ctrl-C stops", highlight=False, soft_wrap=True,
    )
    try:
        completed = subprocess.run(cmd, env=env, check=False)
    except KeyboardInterrupt:
        return
    if completed.returncode not in (0, -2, 130):
        raise typer.Exit(completed.returncode)
