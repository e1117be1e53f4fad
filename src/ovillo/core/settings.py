"""Ovillo's settings: one object, read from the environment (``OVILLO_*``) and ``.env``.

Groups are plain models reached with a double underscore: ``OVILLO_DB__URL``,
``OVILLO_SERVER__PORT``. Read settings only through ``get_settings()`` or ``SettingsDep``,
never through ``os.environ``.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")

# Secrets that ship in examples and docs; accepting them outside development would let
# anyone who read the README decrypt a deployment's tokens.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "development-only"})


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class DatabaseSettings(BaseModel):
    url: str = Field(
        default=f"sqlite+aiosqlite:///{DEFAULT_DATA_DIR / 'ovillo.sqlite3'}",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    echo: bool = False
    pool_size: int = Field(default=10, ge=1)
    # SQLite waits this long for the one writer lock before failing a write. Generous: the
    # receiver, the worker and the API share one writer, and a burst (a campaign's status
    # webhooks) must queue behind it, not fail with "database is locked".
    sqlite_busy_timeout_ms: int = Field(default=20_000, ge=0)


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65_535)
    public_url: str | None = Field(
        default=None, description="Where Meta and browsers reach this server (behind a proxy)."
    )
    sse_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="A comment on idle live-event streams this often, so proxies keep them open.",
    )


class EmulatorSettings(BaseModel):
    enabled: bool = Field(
        default=True, description="Run the Cloud API emulator inside `ovillo serve` (demo mode)."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65_535)


class SecuritySettings(BaseModel):
    secret_key: SecretStr = Field(
        default=SecretStr("development-only"),
        description="Signs sessions and cookies.",
    )
    encryption_keys: SecretStr | None = Field(
        default=None,
        description=(
            "Fernet keys that encrypt access tokens and app secrets at rest, comma-separated, "
            "newest first (generate one with: python -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())'). Required in production; in "
            "development a key is derived from the secret key."
        ),
    )


class WebSettings(BaseModel):
    vendor_dir: Path | None = Field(
        default=None,
        description=(
            "Where `npm ci` installed the front-end packages (node_modules/), served under "
            "/static/vendor; by default the checkout's own."
        ),
    )
    secure_cookies: bool | None = Field(
        default=None,
        description=(
            "Mark the session cookie Secure. By default it is when the page was served over "
            "TLS (directly, or behind a proxy that says so) or the public URL is https."
        ),
    )
    max_import_bytes: int = Field(
        default=200_000_000,
        gt=0,
        description="The largest contacts file an upload may bring (bytes); larger is refused.",
    )


class WorkerSettings(BaseModel):
    embedded: bool = Field(
        default=True, description="Run the background worker inside `ovillo serve`."
    )
    # A send whose answer was lost is matched to its status webhook for this long before
    # it is sent again (design.md: reconciled instead of sent twice).
    reconcile_after_seconds: float = Field(default=120.0, gt=0)
    lease_seconds: float = Field(default=15.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)


class LogSettings(BaseModel):
    level: str = "INFO"
    json_output: bool | None = Field(
        default=None, description="JSON lines; by default JSON unless stderr is a terminal."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OVILLO_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = DEFAULT_DATA_DIR
    graph_api_url: str = Field(
        default="https://graph.facebook.com",
        description="Base URL of Meta's Graph API (or of an emulator).",
    )
    graph_api_version: str = "v23.0"
    db: DatabaseSettings = DatabaseSettings()
    server: ServerSettings = ServerSettings()
    emulator: EmulatorSettings = EmulatorSettings()
    security: SecuritySettings = SecuritySettings()
    worker: WorkerSettings = WorkerSettings()
    web: WebSettings = WebSettings()
    log: LogSettings = LogSettings()
    demo: bool = Field(
        default=True,
        description="Seed a demo workspace, number and customers in the embedded emulator.",
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.environment is Environment.PRODUCTION:
            if self.security.secret_key.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    "OVILLO_SECURITY__SECRET_KEY must be set to a random value in production "
                    "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            if self.security.encryption_keys is None:
                raise ValueError(
                    "OVILLO_SECURITY__ENCRYPTION_KEYS must be set in production: access tokens "
                    "and app secrets are encrypted at rest with it"
                )
            if self.emulator.enabled:
                raise ValueError(
                    "the Cloud API emulator is for development and demos; set "
                    "OVILLO_EMULATOR__ENABLED=false in production"
                )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.db.url.startswith("sqlite")

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def encryption_keys(self) -> list[bytes]:
        """The keys for secrets at rest, newest first."""
        from ovillo.core.crypto import fernet_key_from_passphrase

        if self.security.encryption_keys is not None:
            raw = self.security.encryption_keys.get_secret_value()
            return [key.strip().encode() for key in raw.split(",") if key.strip()]
        return [fernet_key_from_passphrase(self.security.secret_key.get_secret_value())]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
