"""The docs site's generated pages: the CLI reference names every command the app registers,
the HTTP reference every route of /docs.json, the settings page every setting.

``mkdocs build --strict`` itself runs in ``.ci/run`` (a broken link or a missing page fails CI);
these check what the build hook (``docs/hooks/reference.py``) puts into the pages.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference_hook", ROOT / "docs/hooks/reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def registered_commands() -> set[str]:
    """Every command path of the typer app, read from typer's own registry (not by --help)."""
    from training.cli import app

    def walk(typer_app, prefix: str) -> set[str]:
        names = {f"{prefix} {c.name or c.callback.__name__.replace('_', '-')}" for c in typer_app.registered_commands}
        for group in typer_app.registered_groups:
            names.add(f"{prefix} {group.name}")
            names |= walk(group.typer_instance, f"{prefix} {group.name}")
        return names

    return walk(app, "flushrisk")


def test_cli_reference_has_every_commands_help(hook: ModuleType) -> None:
    page = hook.cli_reference()
    missing = sorted(c for c in registered_commands() if f"`{c}`" not in page)
    assert not missing, f"commands absent from the CLI reference: {missing}"
    assert "Usage: flushrisk data import" in page and "--threshold-usd" in page


def test_http_reference_lists_every_route_of_the_openapi_document(hook: ModuleType) -> None:
    from serving.openapi import openapi_document
    from serving.service import FlushRiskService

    spec = openapi_document(FlushRiskService)
    page = hook.openapi_reference(spec)
    for path, operations in spec["paths"].items():
        for method in operations:
            assert f"`{method.upper()} {path}`" in page, (method, path)
    assert "**FlushRisk**" in page


def test_settings_page_lists_every_setting(hook: ModuleType) -> None:
    from features.settings import Settings

    table = hook.settings_reference()
    for name in Settings.model_fields:
        assert f"`FLUSHRISK_{name.upper()}`" in table


def test_the_site_needs_no_network_and_every_page_is_in_the_nav() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    plugins = {next(iter(p)) if isinstance(p, dict) else p for p in config.get("plugins", [])}
    assert not plugins & {"social", "privacy", "material/social", "material/privacy"}
    assert config["theme"].get("font") is False  # no Google Fonts at view time

    def pages(nav) -> set[str]:
        out: set[str] = set()
        for item in nav:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            out |= pages(value) if isinstance(value, list) else {value}
        return out

    on_disk = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert on_disk - {p for p in on_disk if p.startswith("hooks/")} == pages(config["nav"])
