"""Configuration from environment variables (and an optional `.env`), via pydantic-settings.

Every variable is prefixed `FOREXCRM_` except the two conventional ones, `DATABASE_URL` and
`REDIS_URL`. Leaving both unset selects the embedded PostgreSQL and Redis under `data_dir`.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only secrets: safe defaults so `forexcrm run` works with no configuration, refused
# in production so a deployment cannot forget to set real ones.
DEV_SECRET_KEY = "dev-only-secret-key-change-me-in-production-0000"  # noqa: S105


class Mode(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ConfigurationError(RuntimeError):
    """The configuration cannot be used; the message names the setting to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FOREXCRM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    mode: Mode = Mode.DEVELOPMENT
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "FOREXCRM_DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "FOREXCRM_REDIS_URL")
    )
    data_dir: Path = Path(".data")
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    public_base_url: str = "http://127.0.0.1:8000"
    allowed_ws_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000", "http://localhost:5173"]
    )
    host: str = "127.0.0.1"
    port: int = 8000

    graphiql: bool | None = None  # None: on in development, off in production
    introspection: bool | None = None

    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_s: float = 10.0
    db_connect_timeout_s: float = 5.0
    redis_connect_timeout_s: float = 5.0
    redis_db: int = 0
    queue_name: str = "forexcrm:queue"
    channel_prefix: str = "forexcrm:events:"

    # GraphQL limits
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_query_cost: int = 5000
    max_page_size: int = 100
    max_body_bytes: int = 1_000_000
    max_upload_bytes: int = 10_000_000
    parser_cache_size: int = 512
    validation_cache_size: int = 512
    subscriber_queue_size: int = 256

    # Identity
    # OWASP password storage cheat sheet: Argon2id, 19 MiB, 2 iterations, 1 lane.
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19456
    argon2_parallelism: int = 1
    password_min_length: int = 12
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 86400
    step_up_ttl_s: int = 300
    # How long an API process may keep a session's principal between requests (0: read it on every
    # request). Changes reach every process at commit through NOTIFY; this only bounds the rest.
    principal_cache_ttl_s: float = 30.0
    # Where that cache LISTENs when DATABASE_URL goes through a transaction-mode pooler (PgBouncer),
    # which would not deliver notifications: PostgreSQL itself. Unset: DATABASE_URL.
    principal_listen_url: str | None = None
    # JSON Web Key Set of private signing keys (first signs; all verify) for key rotation. Unset in
    # development: a P-256 key is derived from the secret key so every local process agrees.
    jwt_private_jwks: SecretStr | None = None
    jwt_audience: str = "forexcrm-api"
    staff_password_login: bool = True
    # Four eyes: thresholds count everything one person moved alone over this rolling window, per
    # initiator and per client, not each request on its own (domain/identity/four_eyes.py).
    four_eyes_window_s: int = Field(default=24 * 3600, ge=60)
    login_attempts_per_account: int = 10
    login_attempts_per_ip: int = 50
    rate_limit_window_s: int = 900
    smtp_url: str | None = None
    mail_from: str = "no-reply@forexcrm.local"
    # `forexcrm run` (development): trading-server simulators to start, from this port up, and demo users.
    simulators: int = 1
    simulator_port: int = 18501
    demo_data: bool = True
    heartbeat_interval_s: float = 5.0
    # Serves /bench/anchor (plain Starlette, same payload as the benchmark query) for bench/.
    bench_anchor: bool = False
    log_level: str = "INFO"
    log_json: bool = True

    @property
    def is_production(self) -> bool:
        return self.mode is Mode.PRODUCTION

    @property
    def graphiql_enabled(self) -> bool:
        return (not self.is_production) if self.graphiql is None else self.graphiql

    @property
    def introspection_enabled(self) -> bool:
        return (not self.is_production) if self.introspection is None else self.introspection

    @property
    def uses_embedded_services(self) -> bool:
        return self.database_url is None or self.redis_url is None

    def check_production(self) -> None:
        """Refuse unsafe production settings, naming the one to change."""
        if not self.is_production:
            return
        problems: list[str] = []
        key = self.secret_key.get_secret_value()
        if key == DEV_SECRET_KEY or len(key) < 32:
            problems.append("FOREXCRM_SECRET_KEY must be set to a random value of at least 32 characters")
        if self.graphiql_enabled:
            problems.append("FOREXCRM_GRAPHIQL must be false in production")
        if self.introspection_enabled:
            problems.append("FOREXCRM_INTROSPECTION must be false in production")
        if self.database_url is None:
            problems.append("DATABASE_URL must be set in production (embedded PostgreSQL is for development)")
        if self.redis_url is None:
            problems.append("REDIS_URL must be set in production (embedded Redis is for development)")
        if problems:
            raise ConfigurationError("refusing to start in production mode: " + "; ".join(problems))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
