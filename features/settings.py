"""All configuration, in one place, validated.

Values come from arguments, then ``FLUSHRISK_*`` environment variables, then defaults. Every
CLI command and the service read paths and limits from here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where FlushRisk keeps its data, experiments and models, and how the service behaves."""

    model_config = SettingsConfigDict(env_prefix="FLUSHRISK_", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Parquet market-data store.")
    mlflow_home: Path = Field(
        Path("mlflow"), description="MLflow sqlite database and artifact store."
    )
    bentoml_home: Path | None = Field(
        None, description="BentoML model store; None keeps BentoML's own default (BENTOML_HOME)."
    )
    api_key: SecretStr | None = Field(
        None, description="When set, the HTTP service requires it in the X-API-Key header."
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="A token that opens only /metrics (Prometheus: 'Authorization: Bearer "
        "TOKEN'); /metrics also takes the API key, and is open when neither is set.",
    )
    serve_model: str | None = Field(
        None,
        description="BentoML model(s) the HTTP service loads, comma-separated "
        "(flushrisk-<symbol>[:version]); unset: every champion of this project that promote "
        "exported (the BentoML store's flushrisk-champions.json).",
    )
    serve_host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Interface `flushrisk serve` and the quickstart bind (0.0.0.0 for all).",
    )
    serve_port: int = Field(
        3000, ge=1, le=65535, description="Port `flushrisk serve` and the quickstart listen on."
    )
    page_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+",
        description="The service's base URL as its readers reach it, for the links in alerts "
        "and `flushrisk predict`; unset: http://SERVE_HOST:SERVE_PORT (127.0.0.1 when the "
        "service binds every interface).",
    )
    compile_trees: bool = Field(
        True,
        description="Batch scoring predicts with the booster compiled to C (treelite + tl2cgen, "
        "gcc) when it can; false: always LightGBM's own predict (same numbers, slower).",
    )
    tree_cache: Path | None = Field(
        None,
        description="Where compiled boosters are kept; None: $XDG_CACHE_HOME/flushrisk/trees "
        "(~/.cache/flushrisk/trees).",
    )
    max_bars: int = Field(5000, gt=0, le=100_000, description="Most bars one request may carry.")
    max_batch: int = Field(256, gt=0, le=10_000, description="Most items in one batch request.")
    access_log: bool = Field(
        False,
        description="Log one line per HTTP request (BentoML's access log). Off by default: it "
        "cost about 5 % of a small /predict's server CPU (py-spy), and the Prometheus metrics at /metrics "
        "(requests, latency, status by route) do not depend on it.",
    )

    @property
    def tracking_uri(self) -> str:
        """The sqlite URI of the MLflow backend store."""
        return f"sqlite:///{(self.mlflow_home / 'mlflow.db').resolve()}"

    @property
    def service_url(self) -> str:
        """Where the service started with these settings answers: the pages, ``/predict``."""
        if self.page_url:
            return self.page_url.rstrip("/")
        host = "127.0.0.1" if self.serve_host in ("0.0.0.0", "::") else self.serve_host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.serve_port}"

    @property
    def artifact_root(self) -> Path:
        """Where MLflow experiments keep their artifacts (set explicitly, see DEVELOPERS)."""
        return (self.mlflow_home / "artifacts").resolve()


def get_settings() -> Settings:
    """The settings as the environment gives them now (cheap; read at each call)."""
    return Settings()
