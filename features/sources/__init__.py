"""Where market data comes from: importers of files, fetchers of exchanges, the simulator.

Importers are registered here by format name (the ``--format`` of ``flushrisk data import``).
Each is a function ``(path, **options) -> canonical frame`` that either returns a frame that
passes :func:`features.schema.validate_frame` or raises a ``DataError`` naming the file, row,
column and problem. Modules are imported on first use, so importing this package (for
example for the simulator) stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import DataError

Importer = Callable[..., pd.DataFrame]

IMPORTERS: dict[str, str] = {
    "okx-hourly": "features.sources.okx:import_okx_hourly",
    "coinglass": "features.sources.coinglass:import_coinglass",
    "binance-archive": "features.sources.binance_archive:import_binance_archive",
    "csv": "features.sources.csv_mapped:import_csv",
}

# The options each format understands (anything else is a user mistake worth naming).
IMPORTER_OPTIONS: dict[str, tuple[str, ...]] = {
    "okx-hourly": (),
    "coinglass": (),
    "binance-archive": ("bar",),
    "csv": ("mapping",),
}


def formats() -> list[str]:
    """The registered import formats."""
    return list(IMPORTERS)


def get_importer(fmt: str) -> Importer:
    """The importer function of a format, or a DataError listing the formats."""
    if fmt not in IMPORTERS:
        raise DataError(f"unknown import format {fmt!r}; use one of {', '.join(IMPORTERS)}")
    module, _, name = IMPORTERS[fmt].partition(":")
    return getattr(importlib.import_module(module), name)


def import_path(path: Path | str, fmt: str, **options: Any) -> pd.DataFrame:
    """Import ``path`` in format ``fmt`` into a validated canonical frame (nothing is stored)."""
    importer = get_importer(fmt)
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(IMPORTER_OPTIONS[fmt]))
    if unknown:
        raise DataError(f"format {fmt!r} does not take option(s) {unknown}")
    return importer(Path(path), **given)


__all__ = ["IMPORTERS", "Importer", "formats", "get_importer", "import_path"]
