"""Settings, read once from the environment (and a ``.env`` file) and passed in to what needs them."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("signpost", appauthor=False))


class Settings(BaseSettings):
    """Every setting has a safe default for the embedded set-up (SQLite in a per-user data directory).

    An empty value (``SIGNPOST_DATA_DIR=`` as in .env.example) means unset, the default: not ``Path("")``, the
    current directory, where the generated secret and the database would land wherever a command is run.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Field(default_factory=_default_data_dir, validation_alias="SIGNPOST_DATA_DIR")
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    log_level: str = Field(default="WARNING", validation_alias="SIGNPOST_LOG_LEVEL")

    telegram_bot_token: str | None = Field(default=None, validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_base_url: str | None = Field(default=None, validation_alias="TELEGRAM_BASE_URL")
    telegram_base_file_url: str | None = Field(default=None, validation_alias="TELEGRAM_BASE_FILE_URL")
    telegram_webhook_url: str | None = Field(default=None, validation_alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: str | None = Field(default=None, validation_alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_webhook_listen: str = Field(default="127.0.0.1", validation_alias="TELEGRAM_WEBHOOK_LISTEN")
    telegram_webhook_port: int = Field(default=8443, validation_alias="TELEGRAM_WEBHOOK_PORT")

    geocoder_enabled: bool = Field(default=False, validation_alias="SIGNPOST_GEOCODER")
    geocoder_user_agent: str = Field(default="signpost", validation_alias="SIGNPOST_GEOCODER_USER_AGENT")

    population_source: str | None = Field(default=None, validation_alias="SIGNPOST_POPULATION")
    census_source: str | None = Field(default=None, validation_alias="SIGNPOST_CENSUS")
    # As the report's --lsoa-lookup and --partial: an ONS LSOA -> LAD lookup, and accepting a partial population.
    lsoa_lookup_source: str | None = Field(default=None, validation_alias="SIGNPOST_LSOA_LOOKUP")
    population_partial: bool = Field(default=False, validation_alias="SIGNPOST_POPULATION_PARTIAL")

    conversation_ttl_hours: int = Field(default=24, validation_alias="SIGNPOST_CONVERSATION_TTL_HOURS")
    # HMAC secret for conversation keys; unset = generated once in data_dir (set it when workers share a database).
    chat_key_secret: str | None = Field(default=None, validation_alias="SIGNPOST_CHAT_KEY_SECRET")
    stale_after_days: int = Field(default=183, validation_alias="SIGNPOST_STALE_AFTER_DAYS")

    # The web console (`signpost web`): its public address (sign-in links are built on it), where it listens.
    web_url: str = Field(default="http://127.0.0.1:8000", validation_alias="SIGNPOST_WEB_URL")
    web_host: str = Field(default="127.0.0.1", validation_alias="SIGNPOST_WEB_HOST")
    web_port: int = Field(default=8000, validation_alias="SIGNPOST_WEB_PORT")
    # Secure cookies are sent over HTTPS only; turn off only for http://127.0.0.1 (tests, a laptop).
    web_secure_cookies: bool = Field(default=True, validation_alias="SIGNPOST_WEB_SECURE_COOKIES")
    web_session_hours: int = Field(default=8, ge=1, le=24, validation_alias="SIGNPOST_WEB_SESSION_HOURS")
    web_tiles_url: str = Field(default="", validation_alias="SIGNPOST_WEB_TILES_URL")
    web_tiles_attribution: str = Field(default="", validation_alias="SIGNPOST_WEB_TILES_ATTRIBUTION")

    @cached_property
    def effective_database_url(self) -> str:
        """``DATABASE_URL`` if set, otherwise a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'signpost.sqlite3'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")
