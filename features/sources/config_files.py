"""Reading the YAML/JSON files users hand-write (CSV mappings, simulator configs).

Both kinds are read the same way and fail the same way: an error that names the file and says
whether it could not be read, could not be parsed, or which field is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from features.errors import DataError


def read_config_file(path: Path, what: str) -> Any:
    """The parsed content of a JSON (by suffix) or YAML file; ``what`` names it in errors."""
    try:
        text = path.read_text()
    except OSError as err:
        raise DataError(f"{path}: cannot read {what} ({err.strerror or err})") from None
    is_json = path.suffix.lower() == ".json"
    try:
        return json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise DataError(f"{path}: not valid {'JSON' if is_json else 'YAML'} ({err})") from None


def validation_problems(err: ValidationError, whole: str = "") -> str:
    """Every field error as ``dotted.field: message``; ``whole`` names a field-less error."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or whole}: {e['msg']}" for e in err.errors()
    )
