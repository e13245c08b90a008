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
