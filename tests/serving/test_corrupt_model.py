"""A corrupt exported model is refused with one clear message, before LightGBM reads it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from serving.champions import CorruptModelError, file_digests, verify_model


def _truncate(name: str, keep: float) -> Callable[[Path], None]:
    def corrupt(directory: Path) -> None:
        data = (directory / name).read_bytes()
        (directory / name).write_bytes(data[: int(len(data) * keep)])

    return corrupt


def _garbage(name: str) -> Callable[[Path], None]:
    def corrupt(directory: Path) -> None:
        (directory / name).write_bytes(b"\x00\xffnot a model\x13" * 50)

    return corrupt


def _remove(name: str) -> Callable[[Path], None]:
    return lambda directory: (directory / name).unlink()


def _edit_json(name: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def corrupt(directory: Path) -> None:
        data = json.loads((directory / name).read_text())
        change(data)
        (directory / name).write_text(json.dumps(data))

    return corrupt


def _nan_calibrator(data: dict) -> None:
    data.update(method="platt", a=float("nan"), b=float("nan"))


def _reorder(data: dict) -> None:
    data["features"][0], data["features"][1] = data["features"][1], data["features"][0]


def _bad_bar(data: dict) -> None:
    data["metadata"]["bar"] = "-1 hours"


def _edit_booster(directory: Path) -> None:
    text = (directory / "booster.txt").read_text()
    (directory / "booster.txt").write_text(text.replace("shrinkage=", "shrinkage=9", 1))


CORRUPTIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated booster": (_truncate("booster.txt", 0.5), "booster.txt"),
    "empty booster": (_truncate("booster.txt", 0.0), "booster.txt"),
    "garbage booster": (_garbage("booster.txt"), "booster.txt"),
    "missing booster": (_remove("booster.txt"), "booster.txt"),
    "edited booster": (_edit_booster, "booster.txt"),
    "garbage calibrator": (_garbage("calibrator.json"), "calibrator.json"),
    "NaN calibrator": (_edit_json("calibrator.json", _nan_calibrator), "calibrator.json"),
    "missing calibrator": (_remove("calibrator.json"), "calibrator.json"),
    "truncated metadata": (_truncate("metadata.json", 0.6), "metadata.json"),
    "missing metadata": (_remove("metadata.json"), "metadata.json"),
    "invalid bar": (_edit_json("metadata.json", _bad_bar), "metadata.json"),
    "reordered features": (_edit_json("metadata.json", _reorder), "metadata.json"),
}


@pytest.fixture
def exported(model_dir: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    directory = tmp_path / "model"
    shutil.copytree(model_dir, directory)
    return directory, file_digests(directory)


def test_an_intact_model_passes_every_check(exported: tuple[Path, dict[str, str]]) -> None:
    directory, digests = exported
    verify_model(directory, digests)  # checksums, documents and a trial prediction


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_each_kind_of_corruption_is_refused_naming_the_file(
    exported: tuple[Path, dict[str, str]], kind: str
) -> None:
    directory, digests = exported
    corrupt, file = CORRUPTIONS[kind]
    corrupt(directory)
    with pytest.raises(CorruptModelError) as caught:
        verify_model(directory, digests)
    assert file in str(caught.value), caught.value


@pytest.mark.parametrize(
    "kind",
    ["truncated booster", "garbage booster", "NaN calibrator", "invalid bar", "reordered features"],
)
def test_corruption_is_refused_even_without_checksums(
    exported: tuple[Path, dict[str, str]], kind: str
) -> None:
    """An export from before checksums (or a Bento) still never reaches LightGBM unchecked."""
    directory, _ = exported
    CORRUPTIONS[kind][0](directory)
    with pytest.raises(CorruptModelError) as caught:
        verify_model(directory, None)
    message = str(caught.value)
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
