"""One typed home for every setting (environment variables with the FAIRVIEW_ prefix)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fairview.registry import retention_days

# Values that ship in docs and examples; a production deployment must replace them.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "dev", "secret"})
_DEV_SECRET = "development-only-secret-never-use-in-production"
_MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    DEV = "dev"
    DEMO = "demo"
    TEST = "test"
    PROD = "prod"


class Settings(BaseSettings):
    """fairview's configuration. Every field here is documented in docs/settings.md."""

    model_config = SettingsConfigDict(env_prefix="FAIRVIEW_", extra="forbid", frozen=True)

    env: Environment = Field(
        Environment.DEV,
        description="Deployment kind: dev, demo, test or prod. Placeholder secrets are "
        "refused in prod.",
    )
    database_url: str = Field(
        "sqlite:///var/fairview.sqlite3",
        description="SQLAlchemy URL of the relational store and embedded event log "
        "(SQLite file by default; postgresql+psycopg://… for PostgreSQL).",
    )
    token_signing_key: SecretStr = Field(
        SecretStr(_DEV_SECRET),
        description="HMAC key that signs delivery tokens (at least 32 characters in prod).",
    )
    pseudonym_pepper: SecretStr = Field(
        SecretStr(_DEV_SECRET),
        description="Secret pepper of HMAC(pepper, user_ref), the only viewer key fairview "
        "stores (at least 32 characters in prod).",
    )
    admin_api_key: SecretStr = Field(
        SecretStr(_DEV_SECRET),
        description="Bearer key of the platform operator, who creates advertiser accounts.",
    )
    token_ttl_s: int = Field(
        24 * 3600 + 3600,
        gt=0,
        description="How long a delivery token accepts events after issue, in seconds "
        "(the settlement window plus an hour of grace for late beacons).",
    )
    settle_window_s: int = Field(
        24 * 3600,
        gt=0,
        description="Seconds after issue when a delivery is final even without a terminal "
        "event (spec §7.1 SETTLE).",
    )
    max_batch_events: int = Field(
        1000, gt=0, description="Largest number of events accepted in one POST /v1/events."
    )
    max_body_bytes: int = Field(
        2_000_000, gt=0, description="Largest request body accepted, in bytes."
    )
    tcf_vendor_id: int = Field(
        0,
        ge=0,
        description="fairview's vendor id in the IAB Global Vendor List; consent in a TC "
        "string counts only for this vendor (0: not registered, so no TCF consent applies).",
    )
    lia_purposes: frozenset[int] = Field(
        frozenset(),
        description="TCF purposes with a stored legitimate-interest assessment, as a JSON "
        "list (e.g. [2, 7]); legitimate interest is used for no other purpose, and never "
        "for purposes 1 or 3-6.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL (redis://host:6379/0) for the frequency-cap counters at scale; "
        "unset: they live in the relational store.",
    )
    viewer_token_key: SecretStr = Field(
        SecretStr(_DEV_SECRET),
        description="HMAC key the platform signs viewer tokens with (HS256 JWT, claim `sub` = "
        "the user reference), which authorise a viewer's own requests such as 'why this ad' "
        "(at least 32 characters in prod).",
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Absolute URL players reach fairview at; used in VAST tracking and "
        "'why this ad' links.",
    )
    pacing: bool = Field(
        True,
        description="Spread each campaign's daily goal over the day with a PI throttle "
        "(docs/pacing.md); false serves every eligible campaign until its budget stops it.",
    )
    model_path: str | None = Field(
        None,
        description="Attention model file written by `fairview model train` (e.g. "
        "var/attention-model.joblib); when set, ads are ranked by expected value "
        "(docs/ranking.md), else rotated. Load only files fairview wrote.",
    )
    rate_limit: bool = Field(
        True,
        description="Apply the in-process rate limits (docs/access.md); false only to measure "
        "the server itself.",
    )
    rate_limit_player_per_s: float = Field(
        5000,
        gt=0,
        description="Requests per second each player-facing route (decisions, events, VAST, "
        "OpenRTB, SDK) and the health check accept from all callers together, per server "
        "process; client addresses are stripped, so there is no per-client limit on these.",
    )
    rate_limit_client_per_s: float = Field(
        100,
        gt=0,
        description="Requests per second one caller (an API key, or a viewer) may send to "
        "the other endpoints, per server process.",
    )
    rate_limit_client_burst: int = Field(
        1000,
        ge=1,
        description="Requests one caller may send at once before its per-second rate applies.",
    )
    rate_limit_anonymous_per_s: float = Field(
        500,
        gt=0,
        description="Requests per second all requests without a valid credential to the "
        "other endpoints (the public ad repository, the API docs, refused requests) accept "
        "together, per server process.",
    )
    rate_limit_api_per_s: float = Field(
        2000,
        gt=0,
        description="Requests per second all endpoints except the player-facing ones and the "
        "health check accept together, per server process (bounds floods of made-up keys).",
    )
    delivery_commit: Literal["behind", "before_answer"] = Field(
        "behind",
        description="When `fairview serve` answers a decision: `behind` as soon as its "
        "delivery records are handed to the server's one writer, which commits them "
        "within about a millisecond (a power cut or a crash of the whole server can lose "
        "those not yet committed); `before_answer` only once they are committed "
        "(docs/serving.md).",
    )
    sqlite_synchronous: str = Field(
        "FULL",
        pattern="^(FULL|NORMAL|EXTRA)$",
        description="SQLite synchronous pragma; FULL makes every acknowledged event durable.",
    )
    retention_days: dict[str, int] = Field(
        default_factory=dict,
        description="Retention periods in days per registry category, as a JSON object "
        'overriding the documented defaults (docs/privacy.md), e.g. {"raw_events": 14}; '
        "`fairview jobs retention` deletes what is older.",
    )

    @field_validator("retention_days")
    @classmethod
    def _known_retention_categories(cls, value: dict[str, int]) -> dict[str, int]:
        retention_days(value)  # raises ValueError naming the bad category
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.env is not Environment.PROD:
            return self
        for name in ("token_signing_key", "pseudonym_pepper", "admin_api_key", "viewer_token_key"):
            value: SecretStr = getattr(self, name)
            secret = value.get_secret_value()
            placeholder = secret.lower() in PLACEHOLDER_SECRETS or secret == _DEV_SECRET
            if placeholder or len(secret) < _MIN_SECRET_LENGTH:
                raise ValueError(
                    f"FAIRVIEW_{name.upper()} is a placeholder or shorter than "
                    f"{_MIN_SECRET_LENGTH} characters; set a random secret for prod "
                    "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
                )
        return self

    def sqlite_path(self) -> Path | None:
        """The SQLite file behind `database_url`, or None for other engines or memory."""
        prefix = "sqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        rest = self.database_url[len(prefix) :]
        return None if rest in ("", ":memory:") else Path(rest)
