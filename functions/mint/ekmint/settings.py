"""Every setting of the mint function, read from the environment once per execution environment.

The template passes each as an environment variable and the local stack sets the same names, so
there is one table of settings (README, "Configuration"). A bad value stops the function at cold
start with a message that names the variable: `SettingsError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .upstream import DEFAULT_OPENAI_BASE_URL

# OpenAI's published range for expires_after.seconds is 10..7200; the server's own ceiling is lower.
OPENAI_MIN_TTL_S = 10
OPENAI_MAX_TTL_S = 7200
BUILT_IN_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)
DEFAULT_INSTRUCTIONS = "You are a helpful, concise voice assistant."

# Quotas are tighter for anonymous callers (principal = source IP) than for signed-in ones.
DEFAULT_QUOTAS: dict[str, tuple[int, int]] = {"none": (3, 30), "jwt": (10, 200)}

# Fields of OpenAI's realtime session that a policy can open to callers, as dotted paths.
# Anything else a caller sends is refused as unknown.
OPENABLE_FIELDS = (
    "instructions",
    "audio.input.format",
    "audio.input.noise_reduction",
    "audio.input.transcription",
    "audio.input.turn_detection",
    "audio.output.format",
    "audio.output.speed",
    "output_modalities",
    "tools",
    "tool_choice",
    "tracing",
    "truncation",
    "max_output_tokens",
    "prompt",
    "include",
)


class SettingsError(Exception):
    """A setting has a value the function cannot run with; the message names the variable."""


class SessionPolicy(BaseModel):
    """What callers may ask for. Set as JSON in SESSION_POLICY; absent keys keep these defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_types: tuple[Literal["realtime", "transcription"], ...] = ("realtime",)
    models: tuple[str, ...] = ("gpt-realtime",)
    default_model: str | None = None
    voices: tuple[str, ...] = BUILT_IN_VOICES
    default_voice: str = "marin"
    default_ttl_s: int = Field(default=300, ge=OPENAI_MIN_TTL_S, le=OPENAI_MAX_TTL_S)
    max_ttl_s: int = Field(default=600, ge=OPENAI_MIN_TTL_S, le=OPENAI_MAX_TTL_S)
    instructions: str = DEFAULT_INSTRUCTIONS
    # False: the server's instructions are locked; a caller that sends any is refused.
    caller_instructions: bool = False
    # Caps what callers send; the server's own instructions are the operator's business.
    max_instructions_chars: int = Field(default=2000, ge=1, le=100_000)
    # Dotted paths from OPENABLE_FIELDS that callers may set (instructions is governed above).
    caller_fields: tuple[str, ...] = ()

    @field_validator("session_types", "models", "voices")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must list at least one value")
        return value

    @field_validator("caller_fields")
    @classmethod
    def _known_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in value if f not in OPENABLE_FIELDS or f == "instructions"]
        if unknown:
            raise ValueError(
                f"unknown caller_fields {unknown}; choose from {list(OPENABLE_FIELDS[1:])}"
            )
        return value

    @model_validator(mode="after")
    def _defaults_inside_lists(self) -> SessionPolicy:
        if self.default_model is not None and self.default_model not in self.models:
            raise ValueError(f"default_model {self.default_model!r} is not in models")
        if self.default_voice not in self.voices:
            raise ValueError(f"default_voice {self.default_voice!r} is not in voices")
        if self.default_ttl_s > self.max_ttl_s:
            raise ValueError("default_ttl_s is above max_ttl_s")
        return self

    @property
    def model(self) -> str:
        return self.default_model or self.models[0]


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    openai_secret_id: str = Field(min_length=1)
    openai_secret_max_age_s: int = Field(default=300, ge=0, le=3600)
    openai_base_url: str = DEFAULT_OPENAI_BASE_URL
    audit_table_name: str = Field(min_length=3)
    quota_table_name: str = Field(min_length=3)
    audit_retention_days: int = Field(default=90, ge=1, le=3650)
    auth_mode: Literal["none", "jwt"] = "none"
    allowed_origins: tuple[str, ...] = ()
    quota_per_minute: int = Field(ge=0)
    quota_per_day: int = Field(ge=0)
    # 0 turns a limit off.
    global_daily_cap: int = Field(default=5000, ge=0)
    session_policy: SessionPolicy = SessionPolicy()
    upstream_connect_timeout_s: float = Field(default=2.0, gt=0, le=10)
    upstream_read_timeout_s: float = Field(default=8.0, gt=0, le=25)
    upstream_max_attempts: int = Field(default=4, ge=1, le=10)
    upstream_backoff_base_s: float = Field(default=1.0, ge=0, le=10)
    max_body_bytes: int = Field(default=16 * 1024, ge=1, le=1024 * 1024)

    @field_validator("openai_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"must be an http(s) URL such as {DEFAULT_OPENAI_BASE_URL}")
        return value.rstrip("/")

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin == "*":
                continue
            if not origin.startswith(("https://", "http://")) or origin.count("/") != 2:
                raise ValueError(
                    f"{origin!r} is not an origin; use scheme://host[:port] with no path, or *"
                )
        return value


# Environment variable -> Settings field. The README's configuration table lists the same names.
ENV_VARS = {
    "OPENAI_SECRET_ID": "openai_secret_id",
    "OPENAI_SECRET_MAX_AGE_S": "openai_secret_max_age_s",
    "OPENAI_BASE_URL": "openai_base_url",
    "AUDIT_TABLE_NAME": "audit_table_name",
    "QUOTA_TABLE_NAME": "quota_table_name",
    "AUDIT_RETENTION_DAYS": "audit_retention_days",
    "AUTH_MODE": "auth_mode",
    "ALLOWED_ORIGINS": "allowed_origins",
    "QUOTA_PER_MINUTE": "quota_per_minute",
    "QUOTA_PER_DAY": "quota_per_day",
    "GLOBAL_DAILY_CAP": "global_daily_cap",
    "SESSION_POLICY": "session_policy",
    "UPSTREAM_CONNECT_TIMEOUT_S": "upstream_connect_timeout_s",
    "UPSTREAM_READ_TIMEOUT_S": "upstream_read_timeout_s",
    "UPSTREAM_MAX_ATTEMPTS": "upstream_max_attempts",
    "UPSTREAM_BACKOFF_BASE_S": "upstream_backoff_base_s",
    "MAX_BODY_BYTES": "max_body_bytes",
}
FIELD_TO_ENV = {field: env for env, field in ENV_VARS.items()}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise SettingsError naming the first bad variable."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for name, field in ENV_VARS.items():
        value = env.get(name, "").strip()
        if not value:
            continue
        if field == "allowed_origins":
            raw[field] = _csv(value)
        elif field == "session_policy":
            try:
                raw[field] = json.loads(value)
            except ValueError as exc:
                raise SettingsError(f"SESSION_POLICY is not valid JSON: {exc}") from None
        else:
            raw[field] = value
    mode = str(raw.get("auth_mode", "none"))
    per_minute, per_day = DEFAULT_QUOTAS.get(mode, DEFAULT_QUOTAS["none"])
    raw.setdefault("quota_per_minute", per_minute)
    raw.setdefault("quota_per_day", per_day)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        where = ".".join(str(part) for part in first["loc"][1:])
        env_name = FIELD_TO_ENV.get(field, field)
        detail = f" ({where})" if where else ""
        raise SettingsError(f"{env_name}{detail}: {first['msg']}") from None
