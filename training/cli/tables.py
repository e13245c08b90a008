"""``flushrisk data history`` and ``flushrisk data compact``: the Delta tables' versions and upkeep.

Every dataset (market data per symbol and bar, the scores, the features output) is a Delta
table: each write is a version. ``history`` lists a symbol's versions (what wrote them, rows
added); a training run logs the versions it read (MLflow tags ``data_version.SYMBOL.bar``).
``compact`` merges the many small files of appends into large ones and vacuums files that no
version kept for ``--retain-hours`` needs.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from features.errors import DataError
from features.partitioned import VACUUM_RETENTION_HOURS, compact, table_history
from features.store import dataset_tables, normalize_symbol
from training.cli.app import DataDirOption, console, data_app, resolve_data_dir


@data_app.command("history")
def history(
    symbol: Annotated[str, typer.Argument(help="Dataset name, e.g. BTC.")],
    data_dir: DataDirOption = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest versions to show per table.")] = 20,
) -> None:
    """List the versions of a symbol's tables (market data per bar, scores, features)."""
    root = resolve_data_dir(data_dir)
    name = normalize_symbol(symbol)
    tables = [t for t in dataset_tables(root) if t.symbol == name]
    if not tables:
        have = ", ".join(sorted({t.symbol for t in dataset_tables(root)})) or "none"
        raise DataError(f"no tables for {name} in {root} (stored symbols: {have})")
    for t in tables:
        out = Table(title=f"{t.kind} {t.symbol} {t.bar}: {t.path}", title_justify="left")
        for col in ("version", "time (UTC)", "operation", "rows added", "files +/-", "source"):
            out.add_column(col, justify="right" if col in ("version", "rows added") else "left")
        for c in table_history(t.path, limit):
            files = f"+{c['files_added'] or 0}/-{c['files_removed'] or 0}"
            rows = "-" if c["rows_added"] is None else f"{int(c['rows_added']):,}"
            out.add_row(str(c["version"]), c["time"].strftime("%Y-%m-%d %H:%M:%S"),
                        c["operation"], rows, files, str(c["source"]))
        console.print(out)


@data_app.command("compact")
def compact_command(
    data_dir: DataDirOption = None,
    symbols: Annotated[
        str | None, typer.Option(help="Only these symbols (comma-separated); default: all.")
    ] = None,
    retain_hours: Annotated[
        int,
        typer.Option(min=0, help="Keep files older versions need for this long (time travel)."),
    ] = VACUUM_RETENTION_HOURS,
    vacuum: Annotated[
        bool, typer.Option("--vacuum/--no-vacuum", help="Delete files no kept version needs.")
    ] = True,
) -> None:
    """Merge small files into large ones and vacuum old files, table by table."""
    root = resolve_data_dir(data_dir)
    wanted = {normalize_symbol(s) for s in symbols.split(",") if s.strip()} if symbols else None
    out = Table(title=f"compacted tables in {root}", title_justify="left")
    for col in ("table", "symbol", "bar", "files before", "files after", "vacuumed", "version"):
        out.add_column(col, justify="left" if col in ("table", "symbol", "bar") else "right")
    for t in dataset_tables(root):
        if wanted is not None and t.symbol not in wanted:
            continue
        done = compact(t.path, retention_hours=retain_hours, vacuum=vacuum)
        out.add_row(t.kind, t.symbol, t.bar, str(done.files_before), str(done.files_after),
                    str(done.vacuumed), str(done.version))
    console.print(out)


__all__ = ["compact_command", "history"]
