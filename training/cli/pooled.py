"""``flushrisk train --symbols ...``: the pooled model's run, pooled and per-symbol tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table

from features.store import MarketStore
from training.cli.app import console


def symbols_table(report: dict[str, Any]) -> Table:
    """One row per symbol: its rows, positives, the model's and the best baseline's PR-AUC."""
    table = Table(title="Per symbol (out-of-fold rows of the pooled walk-forward)", title_justify="left")
    for col in ("symbol", "rows", "positives", "model PR-AUC [90% CI]", "best baseline", "model - best [90% CI]"):
        table.add_column(col, justify="left" if col in ("symbol", "best baseline") else "right")
    for symbol, sub in report["symbols"].items():
        model = sub["model"]
        verdict = sub.get("verdict") or {}
        best = verdict.get("best_baseline")
        diff = (sub.get(best) or {}).get("vs_model", {}).get("pr_auc") if best else None
        ci = (model.get("ci") or {}).get("pr_auc") or [None, None]
        table.add_row(
            symbol,
            str(int(model.get("rows", 0) or 0)),
            str(int(model.get("positives", 0) or 0)),
            f"{model['pr_auc']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci[0] is not None else ""),
            f"{best} {sub[best]['pr_auc']:.3f}" if best else "-",
            "-" if not diff else f"{diff['value']:+.3f}"
            + (f" [{diff['ci'][0]:+.3f}, {diff['ci'][1]:+.3f}]" if diff["ci"][0] is not None else ""),
        )
    return table


def train_pooled(
    request: Any, symbols: str, progress: Callable[[], Any], print_report: Callable[[dict, str], None]
) -> None:
    """Run the pooled job with the options of a single-symbol TrainRequest and print it."""
    from training.pooled import PooledRequest, parse_symbols, pooled_train_job

    data = request.data
    names = parse_symbols(symbols, MarketStore(data.data_dir), data.bar)
    pooled = PooledRequest(
        data_dir=data.data_dir, symbols=names, bar=data.bar or "1h", start=data.start, end=data.end,
        label=request.label, config=request.config, stride=request.stride,
        mlflow_home=request.mlflow_home, log_to_mlflow=request.log_to_mlflow, report=request.report,
    )
    with progress() as on_fold:
        outcome = pooled_train_job(pooled, on_fold=on_fold)
    print_report(outcome.report, f"pooled {','.join(names)} {pooled.bar}: out-of-sample, model vs baselines")
    console.print(symbols_table(outcome.report))
    for s, model in outcome.models.items():
        scope = model.metadata["pooled"]
        version = outcome.versions.get(s)
        where = f"registered flushrisk-{s} v{version}" if version is not None else "not registered"
        console.print(
            f"{s}: {where}; calibration {scope['calibration']}, risk thresholds {scope['thresholds']}",
            highlight=False,
        )
    if request.report is not None:
        console.print(f"report written to {request.report}", highlight=False)
