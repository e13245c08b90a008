"""MkDocs hook: the CLI and HTTP reference pages, generated from the code at build time.

``docs/operations/settings.md`` holds ``<!-- settings-reference -->``, replaced by the table of
``features.settings.Settings``; ``docs/reference/cli.md`` holds the marker ``<!-- cli-reference -->``, replaced by every
``flushrisk`` command's ``--help`` (walked from the typer app, so a new command appears by
itself); ``docs/reference/http-api.md`` holds ``<!-- openapi-reference -->``, replaced by every
route of the service's OpenAPI document (what ``GET /docs.json`` serves) with its parameters,
request and answer schemas. Generating the pages from the code is what keeps them true.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the reference documents this checkout, not an installed copy
    sys.path.insert(0, str(ROOT))

CLI_MARKER = "<!-- cli-reference -->"
OPENAPI_MARKER = "<!-- openapi-reference -->"
SETTINGS_MARKER = "<!-- settings-reference -->"
HELP_WIDTH = 100


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path of a click group, depth first, in the order ``--help`` lists them."""
    import click

    yield path
    if hasattr(group, "list_commands"):  # a group (typer vendors its own click: no isinstance)
        ctx = click.Context(group)
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            if sub is not None and not getattr(sub, "hidden", False):
                yield from _commands(sub, (*path, name))


def cli_help_pages() -> list[tuple[str, str]]:
    """``(command, --help text)`` for ``flushrisk`` and each of its commands, at a fixed width."""
    import typer
    from typer import rich_utils
    from typer.testing import CliRunner

    from training.cli import app

    saved = (rich_utils.MAX_WIDTH, rich_utils.FORCE_TERMINAL)
    rich_utils.MAX_WIDTH, rich_utils.FORCE_TERMINAL = HELP_WIDTH, False
    try:
        runner = CliRunner()
        pages = []
        for path in _commands(typer.main.get_command(app)):
            result = runner.invoke(app, [*path, "--help"], prog_name="flushrisk", env={"NO_COLOR": "1"})
            if result.exit_code != 0:
                raise RuntimeError(f"flushrisk {' '.join(path)} --help failed: {result.output}")
            text = "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())
            pages.append((" ".join(("flushrisk", *path)), text))
        return pages
    finally:
        rich_utils.MAX_WIDTH, rich_utils.FORCE_TERMINAL = saved


def cli_reference() -> str:
    """The CLI reference as Markdown: one section per command with its ``--help``."""
    parts = []
    for command, text in cli_help_pages():
        level = "##" if command.count(" ") <= 1 else "###"
        parts.append(f"{level} `{command}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def _ref_name(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else None


def _schema_text(schema: dict[str, Any]) -> str:
    """A schema in one phrase: a link to a named component, else its JSON."""
    name = _ref_name(schema)
    if name:
        return f"[`{name}`](#schema-{name.lower()})"
    return f"`{json.dumps(schema, separators=(', ', ': '))}`"


def _body_schema(part: dict[str, Any]) -> str:
    content = part.get("content") or {}
    for media, body in content.items():
        if "schema" in body:
            return f"{_schema_text(body['schema'])} ({media})"
    return ""


def openapi_reference(spec: dict[str, Any] | None = None) -> str:
    """Every route of the OpenAPI document as Markdown, then every named schema."""
    if spec is None:
        from serving.openapi import openapi_document
        from serving.service import FlushRiskService

        spec = openapi_document(FlushRiskService)
    info = spec.get("info", {})
    heading = f"**{info.get('title', '')}** {info.get('version', '')}"
    parts = [f"{heading} (OpenAPI {spec.get('openapi')}): {info.get('description', '')}\n"]
    for path, operations in sorted(spec.get("paths", {}).items()):
        for method, op in operations.items():
            if method not in {"get", "post", "put", "delete", "patch"}:
                continue
            parts.append(f"### `{method.upper()} {path}`\n\n{op.get('summary', '')}\n")
            if op.get("description"):
                parts.append(f"{op['description']}\n")
            params = op.get("parameters") or []
            if params:
                parts.append("| parameter | in | required | schema | description |\n|---|---|---|---|---|")
                for p in params:
                    parts.append(
                        f"| `{p['name']}` | {p['in']} | {'yes' if p.get('required') else 'no'} | "
                        f"{_schema_text(p.get('schema', {}))} | {p.get('description', '')} |"
                    )
                parts.append("")
            if op.get("requestBody"):
                parts.append(f"Request body: {_body_schema(op['requestBody'])}\n")
            parts.append("| status | meaning | body |\n|---|---|---|")
            for status, response in sorted(op.get("responses", {}).items(), key=lambda kv: str(kv[0])):
                parts.append(
                    f"| {status} | {response.get('description', '')} | {_body_schema(response)} |"
                )
            parts.append("")
    schemas = spec.get("components", {}).get("schemas", {})
    if schemas:
        parts.append("## Schemas\n")
        for name, schema in sorted(schemas.items()):
            body = json.dumps(schema, indent=2)
            parts.append(f'### `{name}` {{ #schema-{name.lower()} }}\n\n```json\n{body}\n```\n')
    return "\n".join(parts)


def settings_reference() -> str:
    """The settings table, from ``features.settings.Settings`` (the one place they live)."""
    from features.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    rows = ["| environment variable | default | what it sets |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = "unset" if field.default is None else f"`{field.default}`"
        description = (field.description or "").replace("|", "\\|").replace("<", "&lt;")
        rows.append(f"| `{prefix}{name.upper()}` | {default} | {description} |")
    return "\n".join(rows) + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill the reference pages' markers (MkDocs calls this for every page)."""
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with warnings.catch_warnings():  # the libraries' deprecation notes are not the site's
        warnings.simplefilter("ignore")
        if CLI_MARKER in markdown:
            markdown = markdown.replace(CLI_MARKER, cli_reference())
        if SETTINGS_MARKER in markdown:
            markdown = markdown.replace(SETTINGS_MARKER, settings_reference())
        if OPENAPI_MARKER in markdown:
            markdown = markdown.replace(OPENAPI_MARKER, openapi_reference())
    return markdown
