"""Atomic writes: a failed write keeps the previous file and leaves no temp file behind."""

from __future__ import annotations

import pytest

from features.atomic import atomic_path, write_text_atomic


def test_a_write_replaces_the_file_only_when_it_completes(tmp_path):
    target = tmp_path / "nested" / "report.json"
    assert write_text_atomic(target, "first") == target
    assert target.read_text() == "first"

    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of the second")
        raise RuntimeError("disk full")

    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]

    write_text_atomic(target, "second")
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]
