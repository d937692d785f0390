"""Service settings: `ADUAN_*` environment variables and `.env`, validated once at start-up."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """The environment holds a value the service cannot start with."""


class Settings(BaseSettings):
    """Everything the composition root needs to build the service."""

    model_config = SettingsConfigDict(
        env_prefix="ADUAN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite+aiosqlite:///./data/aduan.db"
    # PostgreSQL only: keep every table in this schema (one database, several deployments).
    database_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str = "http://127.0.0.1:8000"
    timezone: str = "Asia/Jakarta"
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")

    # Intake
    merge_window_minutes: int = Field(default=10, ge=0, le=24 * 60)
    reopen_window_days: int = Field(default=7, ge=0)
    max_text_chars: int = Field(default=10_000, ge=500)
    max_request_bytes: int = Field(default=256 * 1024, ge=16 * 1024)
    sla_days: int = Field(default=2, ge=1)

    # Outbox
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_backoff_seconds: float = Field(default=5.0, gt=0)
    outbox_claim_seconds: int = Field(default=120, ge=5)

    agencies_file: Path | None = None
    rules_file: Path | None = None
    rules_refresh_seconds: float = Field(default=2.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Asia/Jakarta)"
            ) from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {value.split('://', 1)[0]}://)"
            )
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "ADUAN_" + "_".join(str(part) for part in error["loc"]).upper()
            lines.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None
