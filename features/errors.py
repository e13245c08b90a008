"""The one error type users see.

Every bad input (a malformed file, a gap, a wrong unit, a missing model) raises a
``FlushRiskError`` whose message says what is wrong and where. The CLI turns it into a red
message and a non-zero exit; the HTTP service turns the request-side ones into 400s.
"""

from __future__ import annotations


class FlushRiskError(Exception):
    """Base class for errors caused by the user's input or environment, not by a bug."""


class DataError(FlushRiskError):
    """A data file or frame is malformed: the message names the file, column, row and problem."""


class ModelNotFoundError(FlushRiskError):
    """A model, run or registry alias that was asked for does not exist."""


class UnreadableDataError(DataError):
    """One symbol's stored data cannot be read (a damaged, cut or missing file).

    Carries the symbol and the damaged file, so a job can skip that symbol and go on with the
    others (the CLI prints one line per skipped symbol; the service answers 503 for it).
    """

    def __init__(self, symbol: str, path: object, reason: str = "") -> None:
        self.symbol = str(symbol)
        self.path = str(path)
        self.reason = str(reason)
        why = f" ({self.reason})" if self.reason else ""
        super().__init__(
            f"{self.symbol}: stored data is unreadable: {self.path}{why}; restore it from a "
            "backup or import this symbol again"
        )

    def __reduce__(self) -> tuple:  # survives pickling (Dask workers send it back)
        return (type(self), (self.symbol, self.path, self.reason))
