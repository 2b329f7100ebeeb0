"""Configuration from environment variables (and an optional `.env`), via pydantic-settings.

Every variable is prefixed `FOREXCRM_` except the two conventional ones, `DATABASE_URL` and
`REDIS_URL`. Leaving both unset selects the embedded PostgreSQL and Redis under `data_dir`.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from collections import Counter
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.shared.actor import ActorKind

# Development-only secrets: safe defaults so `forexcrm run` works with no configuration, refused
# in production so a deployment cannot forget to set real ones.
DEV_SECRET_KEY = "dev-only-secret-key-change-me-in-production-0000"  # noqa: S105


# What a production secret must carry at least, as estimated by `estimated_entropy_bits`: a random
# hex string of 32 characters estimates 96 to 125 bits, 32 x "a" 0 and "abcd" repeated 64.
MIN_SECRET_BITS = 80


def estimated_entropy_bits(value: str) -> float:
    """Shannon entropy of the characters times the length: an upper bound on a secret's strength,
    low for repeated or patterned values (it cannot see that a random-looking value is not)."""
    if not value:
        return 0.0
    counts = Counter(value)
    per_char = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return per_char * len(value)


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
    # DATABASE_URL is the runtime role (API, worker): it may only insert audit rows and owns no
    # table. Migrations run as the owner through this URL, then grant the runtime role what it
    # needs (api/migrate.py). Unset: migrations use DATABASE_URL (one role, nothing separated).
    migration_database_url: str | None = None
    data_dir: Path = Path(".data")
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    # Unset: both follow `port` (see _port_defaults): the token issuer and e-mail links use
    # public_base_url, subscriptions and CORS accept allowed_ws_origins.
    public_base_url: str = "http://127.0.0.1:8000"
    # Where e-mailed links point (FOREXCRM_PORTAL_URL): the client portal, which reads `token` from
    # <portal>/verify-email, /reset-password and /confirm-email and calls the matching mutation.
    # Unset: the API's public_base_url, which answers those paths with a page saying so.
    portal_url: str | None = None
    allowed_ws_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000", "http://localhost:5173"]
    )
    # Where `GET /r/<code>` (IB referral links) sends visitors; unset: public_base_url + /register or /.
    ib_referral_registration_url: str = ""
    ib_referral_home_url: str = ""
    # The public origin IB referral links are written with (`IbManagedLink.referralUrl` =
    # <origin>/r/<code>; FOREXCRM_IB_REFERRAL_BASE_URL). Unset: the origin the request reached (a
    # portal proxying /graphql and /r/ to the API, or the API itself).
    ib_referral_base_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    # One line per request in the API's log (uvicorn's access log): off unless asked (`--access-log`).
    access_log: bool = False

    graphiql: bool | None = None  # None: on in development, off in production
    introspection: bool | None = None
    # Resolve every plain leaf field by both the fast path and graphql-core's generic one and fail
    # on a difference (schema/plain_fields.py): on in the test suite, off in production.
    executor_check: bool = False

    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_s: float = 10.0
    db_connect_timeout_s: float = 5.0
    # A streaming replica for heavy reads (reports; FOREXCRM_READ_REPLICA_URL, the runtime role's URL on the
    # standby). Unset: they read the primary. Used while it answers within `read_replica_timeout_s` and lags
    # the primary by at most `read_replica_max_lag_s`; checked at most every `read_replica_check_interval_s`
    # (domain/shared/replica.py). Otherwise reads fall back to the primary, and the answer says so.
    read_replica_url: str | None = None
    read_replica_max_lag_s: float = Field(default=30.0, ge=0)
    read_replica_timeout_s: float = Field(default=1.0, gt=0)
    # A report read on the replica taking longer is abandoned and read again on the primary (a frozen standby).
    read_replica_read_timeout_s: float = Field(default=30.0, gt=0)
    read_replica_check_interval_s: float = Field(default=1.0, ge=0)
    read_replica_pool_size: int = Field(default=5, ge=1)
    redis_connect_timeout_s: float = 5.0
    redis_db: int = 0
    queue_name: str = "forexcrm:queue"
    # How often each worker writes its job counts to Redis for the API's /metrics.
    job_stats_interval_s: float = 5.0
    # Every client re-screened against every list this often (hours; checked hourly; 0: never).
    screening_full_interval_h: float = 168.0
    channel_prefix: str = "forexcrm:events:"

    # GraphQL limits
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    max_query_cost: int = 5000
    max_page_size: int = 100
    max_body_bytes: int = 1_000_000
    max_upload_bytes: int = 10_000_000
    # Any string input (variables and literals) longer than this is refused before any work (statement
    # and report imports, which carry whole files as text, are bounded by max_body_bytes instead).
    max_string_length: int = 10_000
    parser_cache_size: int = 512
    # How long shared caches may keep a public GET answer (a query read without a credential).
    graphql_public_max_age_s: int = Field(default=30, ge=0)
    # Callers that may run only trusted documents (sent by hash), by kind: anonymous, client, ib,
    # staff, api_token (e.g. '["anonymous","client","ib"]': the portals are first-party apps whose
    # every operation is in their build's manifest). Empty: any caller may send a document's text.
    trusted_documents_required: list[ActorKind] = Field(default_factory=list)
    # How long an API process keeps a trusted document it looked up: another process's revocation
    # applies here within this time (the revoking process's at once).
    trusted_document_cache_s: float = Field(default=10.0, ge=0)
    validation_cache_size: int = 512
    subscriber_queue_size: int = 256
    # Slow clients: the request line and headers must arrive within header_timeout_s, each chunk of
    # the body within body_timeout_s; an idle kept-alive connection closes after keep_alive_timeout_s.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_timeout_s: float = 5.0

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
    # Failed guesses before slowing down (exponential delay from 1 s up to the window); successes do not
    # count. Per account from one IP (what one attacker meets; the owner elsewhere is not affected),
    # per IP over all accounts, per account over all IPs, and TOTP codes per user and per session.
    login_attempts_per_account: int = 10
    login_attempts_per_ip: int = 50
    login_failures_per_account_all_ips: int = 100
    totp_attempts_free: int = 5
    rate_limit_window_s: int = 900
    # Prefix of this deployment's own Redis keys (rate limits): deployments sharing one Redis need
    # distinct ones, like their queue names and channel prefixes.
    redis_namespace: str = "forexcrm"
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IPs or CIDRs, e.g.
    # ["10.0.0.0/8"]). Empty: forwarded headers are ignored and the peer address is the client.
    trusted_proxies: list[str] = Field(default_factory=list)
    # The request header a trusted proxy or CDN sets to the caller's country (e.g. "CF-IPCountry"); a
    # sign-in's session records it (transaction monitoring: sign-in from a new country). Unset: none.
    country_header: str | None = None
    smtp_url: str | None = None
    # Production refuses to start without `smtp_url` unless mail is switched off on purpose (emails are
    # then dropped, and the worker logs that one was, never its content). Development without
    # `smtp_url` logs that an email was sent (recipient masked, no body: it carries links).
    mail_disabled: bool = False
    # Log lines: each field (and a traceback, four times this) is cut to this many characters.
    log_field_max_chars: int = 2000
    mail_from: str = "no-reply@forexcrm.local"
    # How long a scheduled report's e-mailed download link stays valid (domain/reporting/schedules.py).
    report_link_ttl_s: int = Field(default=7 * 86400, ge=60, le=90 * 86400)
    # `forexcrm run` (development): trading-server simulators to start, from this port up, and demo users.
    simulators: int = 1
    simulator_port: int = 18501
    demo_data: bool = True
    # ... the providers' stand-ins (sandbox/launcher.py STAND_INS) from this port up, and where they
    # listen: `forexcrm run` hands the API and worker {"psp": "http://127.0.0.1:18601", ...}.
    stand_ins: bool = True
    stand_in_port: int = 18601
    sandbox_urls: dict[str, str] = Field(default_factory=dict)
    heartbeat_interval_s: float = 5.0
    # Serves /bench/anchor (plain Starlette, same payload as the benchmark query) for bench/.
    bench_anchor: bool = False
    # Bearer token a Prometheus scraper presents to read /metrics (required in production; unset in
    # development: loopback callers only).
    metrics_token: SecretStr | None = None
    log_level: str = "INFO"
    log_json: bool = True
    # Daily audit seals are signed with this Ed25519 private key (PEM; the database never holds it)
    # and exported to `audit_seal_export`: a folder, or s3://bucket/prefix on an S3-compatible
    # store. Unset in development: a key and a folder under data_dir, made on first use.
    audit_seal_key_file: Path | None = None
    # Verifiers that must not hold the private key: the raw 32-byte public key, hex.
    audit_seal_public_key: str | None = None
    audit_seal_export: str | None = None
    audit_seal_s3_endpoint: str = ""
    audit_seal_s3_region: str = "us-east-1"
    audit_seal_s3_access_key: SecretStr = SecretStr("")
    audit_seal_s3_secret_key: SecretStr = SecretStr("")
    # Outbound webhooks (domain/webhooks): requests go to public addresses only; loopback and private
    # networks only when this is set outside production (tests, a developer's receiver). Production
    # refuses to start with it set.
    webhook_allow_private_networks: bool = False
    webhook_connect_timeout_s: float = 5.0
    webhook_timeout_s: float = 15.0
    # Seconds before each retry of a failed delivery (the Standard Webhooks schedule, 3.2 days in all);
    # when the last retry fails the endpoint is disabled.
    webhook_retry_schedule_s: list[float] = Field(default_factory=lambda: [
        5.0, 300.0, 1800.0, 7200.0, 18000.0, *[36000.0] * 7])
    # After a rotation the previous secret still signs (a second signature) for this long.
    webhook_secret_overlap_s: int = 86400
    # Push (domain/notifications/push): FCM HTTP v1 through a service account (its client e-mail and private key,
    # the key a secret from the environment, never logged) and APNs with a token-auth key (.p8, ES256). A provider
    # with no project/team set is off: its devices' deliveries are logged as skipped.
    push_fcm_project_id: str = ""
    push_fcm_base_url: str = "https://fcm.googleapis.com"
    push_fcm_token_uri: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
    push_fcm_client_email: str = ""
    push_fcm_private_key: SecretStr = SecretStr("")
    push_apns_base_url: str = "https://api.push.apple.com"
    push_apns_team_id: str = ""
    push_apns_key_id: str = ""
    push_apns_private_key: SecretStr = SecretStr("")
    push_apns_topic: str = ""  # the iOS app's bundle id
    push_timeout_s: float = 10.0
    push_ttl_s: int = 86400  # after this the provider stops trying to reach an offline device
    # Seconds before each retry of a push answered 429/5xx (a longer Retry-After wins); then it is failed.
    push_retry_schedule_s: list[float] = Field(default_factory=lambda: [2.0, 10.0, 60.0, 300.0, 1800.0])

    def portal_link(self, path: str, token: str) -> str:
        """An e-mailed link: `<portal>/<path>?token=<token>`."""
        return f"{(self.portal_url or self.public_base_url).rstrip('/')}/{path.lstrip('/')}?token={token}"
    @model_validator(mode="after")
    def _port_defaults(self) -> Settings:
        """Defaults that name the API's own address follow FOREXCRM_PORT unless set themselves."""
        if "public_base_url" not in self.model_fields_set:
            self.public_base_url = f"http://127.0.0.1:{self.port}"
        if "allowed_ws_origins" not in self.model_fields_set:
            self.allowed_ws_origins = [f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}",
                                       "http://localhost:5173"]
        return self

    @property
    def is_production(self) -> bool:
        return self.mode is Mode.PRODUCTION

    @property
    def webhook_private_networks_allowed(self) -> bool:
        return self.webhook_allow_private_networks and not self.is_production

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
        if key == DEV_SECRET_KEY or len(key) < 32 or estimated_entropy_bits(key) < MIN_SECRET_BITS:
            problems.append("FOREXCRM_SECRET_KEY must be set to a random value of at least 32 characters "
                            "(e.g. `openssl rand -hex 32`); repeated or patterned values are refused")
        metrics = self.metrics_token.get_secret_value() if self.metrics_token else ""
        if len(metrics) < 16 or estimated_entropy_bits(metrics) < 48:
            problems.append("FOREXCRM_METRICS_TOKEN must be set to a random value of at least 16 characters "
                            "(Prometheus sends it as a bearer token to read /metrics)")
        if self.graphiql_enabled:
            problems.append("FOREXCRM_GRAPHIQL must be false in production")
        if self.introspection_enabled:
            problems.append("FOREXCRM_INTROSPECTION must be false in production")
        if self.database_url is None:
            problems.append("DATABASE_URL must be set in production (embedded PostgreSQL is for development)")
        if self.redis_url is None:
            problems.append("REDIS_URL must be set in production (embedded Redis is for development)")
        if not self.smtp_url and not self.mail_disabled:
            problems.append("FOREXCRM_SMTP_URL must be set in production (verification and password-reset "
                            "emails), or FOREXCRM_MAIL_DISABLED=true to run without email on purpose")
        if self.webhook_allow_private_networks:
            problems.append("FOREXCRM_WEBHOOK_ALLOW_PRIVATE_NETWORKS must be false in production (webhooks go to "
                            "public addresses only)")
        if not self.ib_referral_base_url.startswith("https://"):
            # Unset, referral links would repeat whatever Host header a request carried (a link an IB
            # copies could point anywhere); plain http would hand visitors an unencrypted first page.
            problems.append("FOREXCRM_IB_REFERRAL_BASE_URL must be set in production to the https origin of the "
                            "referral links (e.g. https://go.broker.example)")
        if problems:
            raise ConfigurationError("refusing to start in production mode: " + "; ".join(problems))


DATA_FOLDER_SECRET = "secret-key"  # noqa: S105 (a file name)


def data_folder_secret(data_dir: Path) -> str:
    """A random secret kept in the data folder (created once, mode 0600), for development: the
    repository's DEV_SECRET_KEY is public, so tokens signed with a key derived from it could be
    forged by anyone. Every process started on the same folder reads the same value."""
    path = data_dir / DATA_FOLDER_SECRET
    for _ in range(50):
        if path.exists():
            value = path.read_text().strip()
            if value:
                return value
            time.sleep(0.02)  # another process is writing it
            continue
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".{DATA_FOLDER_SECRET}.{os.getpid()}"
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)  # atomic, and refuses to replace one another process made first
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    raise ConfigurationError(f"{path} is empty: delete it and start again")


def with_development_secret(settings: Settings) -> Settings:
    """Development on the published default secret key with the data folder's embedded services
    (`forexcrm run` and friends): use the data folder's own secret instead, and export it so the
    processes `forexcrm run` starts (worker, API) use it too. Processes given their own DATABASE_URL
    and REDIS_URL keep the configured key, so they agree with whatever else uses those services."""
    if (settings.is_production or settings.secret_key.get_secret_value() != DEV_SECRET_KEY
            or not settings.uses_embedded_services):
        return settings
    secret = data_folder_secret(settings.data_dir)
    os.environ["FOREXCRM_SECRET_KEY"] = secret
    return settings.model_copy(update={"secret_key": SecretStr(secret)})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
