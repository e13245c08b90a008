"""The ``flushrisk`` command tree. Command modules register themselves on these apps.

Every command is wrapped so that a :class:`~features.errors.FlushRiskError` (bad input, missing
model, ...) prints one red line naming the problem and exits with status 2, instead of a
traceback. Bugs still show their traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from features.errors import FlushRiskError
from features.settings import get_settings

console = Console()
err_console = Console(stderr=True)

EXIT_USER_ERROR = 2
EXIT_SYMBOLS_SKIPPED = 3
"""Some symbols were skipped (their stored data is unreadable); the others were processed."""

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Market-data store (default: FLUSHRISK_DATA_DIR or ./data)."),
]
"""The ``--data-dir`` option every command that reads or writes market data takes."""


def resolve_data_dir(value: Path | None) -> Path:
    """The ``--data-dir`` given, else the configured one, so that every command sees one store."""
    return value if value is not None else get_settings().data_dir


def print_error(message: str) -> None:
    """Print one error line exactly as written.

    The message is user data (paths, row text, symbols): it is printed as plain text, never
    read as rich markup (``[/]`` in a path) or emoji codes (``:x:`` in a file name).
    """
    line = Text("error: ", style="bold red")
    line.append(message)
    err_console.print(line, highlight=False, soft_wrap=True, emoji=False, markup=False)


def print_skipped(skipped: dict[str, str], reasons: bool = True) -> None:
    """One line per skipped symbol (its reason names the damaged file), then the list.

    ``reasons=False`` prints the list only (a watcher logged each reason when it happened).
    """
    for reason in skipped.values() if reasons else ():
        line = Text("skipped: ", style="bold yellow")
        line.append(reason)
        err_console.print(line, highlight=False, soft_wrap=True, emoji=False, markup=False)
    names = ", ".join(sorted(skipped))
    err_console.print(
        Text(f"{len(skipped)} symbol(s) skipped: {names}; the others were processed"),
        highlight=False, soft_wrap=True, emoji=False, markup=False,
    )


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn FlushRiskError (and the environment's OSError) into a clear message and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FlushRiskError as err:
            print_error(str(err))
            raise typer.Exit(EXIT_USER_ERROR) from None
        except OSError as err:  # a full disk, a file where a directory should be, no permission
            where = f"{err.filename}: " if err.filename else ""
            print_error(f"{where}{err.strerror or err}")
            raise typer.Exit(EXIT_USER_ERROR) from None

    return wrapper


class FlushRiskTyper(typer.Typer):
    """A Typer app whose commands all report user errors the same way."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        register = super().command(*args, **kwargs)
        return lambda func: register(user_errors(func))


def _app(help_text: str) -> FlushRiskTyper:
    return FlushRiskTyper(help=help_text, no_args_is_help=True, add_completion=False)


app = _app("FlushRisk: calibrated probability of a large long squeeze in the next hour.")
data_app = _app("Import, fetch, simulate and inspect market data.")
features_app = _app("Build features and labelled training windows.")
app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")
