"""Load every champion this service should serve, checked, and reload them when promote says so.

What to serve, in order:

* ``FLUSHRISK_SERVE_MODEL`` set (a Bento, a container, ``flushrisk serve --version``): exactly
  those BentoML tags (comma-separated);
* otherwise the champion index (:mod:`serving.champions`) of this project
  (``FLUSHRISK_PROJECT``, default: this project's MLflow tracking URI): one model per symbol
  that has a champion. A pooled model serving several symbols is loaded once.

Every model is verified (checksums, documents, a trial prediction in a child process) before
this process lets LightGBM read it. :class:`Reloader` re-reads the index when promote rewrites
it, on SIGHUP, or on ``POST /admin/reload``, and swaps the served set at once; a model that
fails its checks on reload is left out with an error in the log, and the others keep serving.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.errors import ModelNotFoundError
from features.settings import get_settings
from serving.champions import (
    CHECKSUMS_FILE,
    CorruptModelError,
    index_path,
    read_champions,
    verify_model,
)
from serving.predictor import Predictor
from serving.state import STATE, symbol_key

logger = logging.getLogger("flushrisk.serving")


@dataclass(frozen=True)
class Wanted:
    """One model to serve: its BentoML tag, the symbol, and the checksums promote recorded."""

    tag: str
    symbol: str | None
    sha256: tuple[tuple[str, str], ...] = ()


def bentoml_home() -> Path:
    from bentoml._internal.configuration.containers import BentoMLContainer

    return Path(BentoMLContainer.bentoml_home.get())


def project() -> str:
    """The project whose champions this service serves (its MLflow tracking URI)."""
    return os.environ.get("FLUSHRISK_PROJECT") or get_settings().tracking_uri


def wanted_models() -> list[Wanted]:
    """The models to serve now (see the module docstring)."""
    explicit = [t.strip() for t in (get_settings().serve_model or "").split(",") if t.strip()]
    if explicit:
        return [Wanted(tag, None) for tag in explicit]
    home = bentoml_home()
    records = read_champions(home, project())
    if not records:
        raise ModelNotFoundError(
            f"no champion of project {project()} is exported to the BentoML store {home}: train "
            "and promote one first (flushrisk quickstart, or flushrisk train + flushrisk "
            "promote), or point FLUSHRISK_PROJECT / BENTOML_HOME / FLUSHRISK_SERVE_MODEL at it"
        )
    return [
        Wanted(r.bentoml_tag, symbol, tuple(sorted(r.sha256.items())))
        for symbol, r in sorted(records.items())
    ]


def require_model(tag: str) -> Any:
    """The stored BentoML model, or a clear error (BentoModel would try BentoCloud instead)."""
    import bentoml
    from bentoml.exceptions import BentoMLException, NotFound

    try:
        return bentoml.models.get(tag)
    except UnicodeError as err:  # a ValueError, but of the stored record, not of the tag
        raise CorruptModelError(_damaged_record(tag, err)) from None
    except (NotFound, BentoMLException, ValueError):
        raise ModelNotFoundError(
            f"no BentoML model {tag!r} in {bentoml_home()}: train and promote one first "
            "(flushrisk quickstart, or flushrisk train + flushrisk promote), "
            "or point FLUSHRISK_SERVE_MODEL / BENTOML_HOME at it"
        ) from None
    except Exception as err:  # noqa: BLE001 - e.g. a YAML error from a garbled model.yaml
        raise CorruptModelError(_damaged_record(tag, err)) from None


def _damaged_record(tag: str, err: Exception) -> str:
    reason = (str(err).splitlines() or [""])[0][:200]
    return (
        f"{tag} in {bentoml_home()}: unreadable BentoML model record (model.yaml: "
        f"{type(err).__name__}: {reason}); export the model again with `flushrisk promote`"
    )


def load_checked(want: Wanted, trial: bool = True) -> Predictor:
    """The Predictor of one wanted model, after every check (CorruptModelError otherwise)."""
    stored = require_model(want.tag)
    path = Path(stored.path)
    expected = dict(want.sha256) or _own_checksums(path)
    if trial:
        verify_model(path, expected)
    labels = dict(getattr(stored.info, "labels", {}) or {})
    try:
        predictor = Predictor.load(path, stored.tag.name, str(stored.tag.version), labels)
        predictor.warm_up()
    except CorruptModelError:
        raise
    except Exception as err:  # noqa: BLE001 - any load failure is a model problem, said once
        raise CorruptModelError(f"{stored.tag} ({path}): {err}") from None
    if want.symbol and predictor.symbol and symbol_key(predictor.symbol) != symbol_key(want.symbol):
        raise CorruptModelError(
            f"{stored.tag} is recorded as {want.symbol}'s champion but its files are for "
            f"{predictor.symbol}"
        )
    logger.info("loaded %s for %s", stored.tag, want.symbol or predictor.symbol)
    return predictor


def _own_checksums(path: Path) -> dict[str, str] | None:
    """The checksums written beside the files at export (a Bento carries no index)."""
    file = path / CHECKSUMS_FILE
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise CorruptModelError(f"{file}: unreadable ({err})") from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def load_all(
    wanted: list[Wanted], cache: dict[Wanted, Predictor] | None = None
) -> dict[str, Predictor]:
    """Symbol -> Predictor for every wanted model (a model loaded once, shared by its symbols)."""
    cache = cache if cache is not None else {}
    by_tag: dict[str, Predictor] = {}
    out: dict[str, Predictor] = {}
    for want in wanted:
        predictor = cache.get(want) or by_tag.get(want.tag) or load_checked(want)
        cache[want] = by_tag[want.tag] = predictor
        symbols = [want.symbol] if want.symbol else []
        symbols += [s for s in predictor.symbols if s]
        if not symbols:
            symbols = ["*"]  # a model that names no symbol answers any
        for symbol in symbols:
            out.setdefault(symbol_key(symbol), predictor)
    return out


class Reloader:
    """Keeps STATE in step with the champion index: on its change, SIGHUP or a request."""

    def __init__(self, interval: float = 2.0) -> None:
        self.interval = interval
        self._cache: dict[Wanted, Predictor] = {}
        self._lock = threading.Lock()
        self._stamp = self._index_stamp()
        self._stop = threading.Event()

    def load_initial(self) -> None:
        """Load every wanted model; any failure is fatal (the caller refuses to start)."""
        STATE.replace(load_all(wanted_models(), self._cache))

    def reload(self) -> dict[str, Any]:
        """Re-read what to serve; load new or changed models; keep serving on failure."""
        with self._lock:
            self._stamp = self._index_stamp()
            try:
                wanted = wanted_models()
            except (ModelNotFoundError, CorruptModelError) as err:
                logger.error("reload: %s; still serving %s", err, STATE.symbols)
                return {"reloaded": False, "error": str(err), "symbols": STATE.symbols}
            ok: list[Wanted] = []
            errors: list[str] = []
            for want in wanted:
                try:
                    load_all([want], self._cache)
                    ok.append(want)
                except (ModelNotFoundError, CorruptModelError) as err:
                    errors.append(str(err))
                    logger.error("reload: refused %s: %s", want.tag, err)
            fresh = load_all(ok, self._cache)
            self._cache = {w: p for w, p in self._cache.items() if w in ok}
            STATE.replace(fresh)
            logger.info("reload: serving %s", STATE.symbols)
            return {"reloaded": True, "symbols": STATE.symbols, "errors": errors}

    def start(self) -> None:
        """Watch the index file, and reload on SIGHUP (main thread only)."""
        thread = threading.Thread(target=self._watch, name="flushrisk-reload", daemon=True)
        thread.start()
        if threading.current_thread() is threading.main_thread():
            try:
                signal.signal(signal.SIGHUP, lambda *_: self._async_reload())
            except (ValueError, OSError):  # not allowed here (an embedded interpreter)
                pass

    def _async_reload(self) -> None:
        threading.Thread(target=self.reload, name="flushrisk-reload-now", daemon=True).start()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            if self._index_stamp() != self._stamp:
                self.reload()

    def _index_stamp(self) -> tuple[float, int] | None:
        try:
            stat = index_path(bentoml_home()).stat()
        except OSError:
            return None
        return (stat.st_mtime, stat.st_size)


__all__ = ["Reloader", "Wanted", "load_all", "load_checked", "require_model", "wanted_models"]
