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
    max_bars: int = Field(5000, gt=0, le=100_000, description="Most bars one request may carry.")
    max_batch: int = Field(256, gt=0, le=10_000, description="Most items in one batch request.")

    @property
    def tracking_uri(self) -> str:
        """The sqlite URI of the MLflow backend store."""
        return f"sqlite:///{(self.mlflow_home / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        """Where MLflow experiments keep their artifacts (set explicitly, see DEVELOPERS)."""
        return (self.mlflow_home / "artifacts").resolve()


def get_settings() -> Settings:
    """The settings as the environment gives them now (cheap; read at each call)."""
    return Settings()
