"""The check every importer and validator test makes of bad input: a DataError that says where.

A user fixing a file needs the message to name the file (or source) and the problem; one
helper keeps that check the same in every test of bad input.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from features.errors import DataError


@contextmanager
def fails_naming(*fragments: object) -> Iterator[None]:
    """Expect the block to raise DataError whose message contains every fragment (as str)."""
    with pytest.raises(DataError) as err:
        yield
    message = str(err.value)
    for fragment in fragments:
        assert str(fragment) in message, f"{str(fragment)!r} not in {message!r}"
