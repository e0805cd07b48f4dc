"""Every setting of the mint function, read from the environment once per execution environment.

The template passes each as an environment variable and the local stack sets the same names, so
there is one table of settings (README, "Configuration"). `Settings` is that table: each field's
alias is its variable's name, so there is no second map to keep in step. A bad value stops the
function at cold start with a message that names the variable: `SettingsError`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Json,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
# Azure OpenAI's GA v1 API lives under /openai/v1 on the resource's host, in one of these forms
# (Microsoft, "Use the GPT Realtime API via WebRTC"); there is no api-version on the v1 API.
AZURE_HOST_SUFFIXES = (
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    ".services.ai.azure.com",
)
AZURE_V1_PATH = "/openai/v1"
AZURE_BASE_URL_EXAMPLE = "https://{resource}.openai.azure.com/openai/v1"
# Where the browser POSTs its SDP offer, relative to the upstream's base URL (both providers).
WEBRTC_CALLS_PATH = "/realtime/calls"

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


class Settings(BaseModel):
    """Every setting; validated from the environment by `load_settings`, field aliases = names."""

    # populate_by_name: tests and tools build one from field names too.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    openai_secret_id: str = Field(alias="OPENAI_SECRET_ID", min_length=1)
    openai_secret_max_age_s: int = Field(300, alias="OPENAI_SECRET_MAX_AGE_S", ge=0, le=3600)
    openai_base_url: str = Field(DEFAULT_OPENAI_BASE_URL, alias="OPENAI_BASE_URL")
    # azure: OPENAI_BASE_URL is the resource's v1 base, the key goes in `api-key`, the session
    # policy's models are deployment names (docs/deploy.md, "Using Azure OpenAI").
    upstream_provider: Literal["openai", "azure"] = Field("openai", alias="UPSTREAM_PROVIDER")
    # Azure only: `?webrtcfilter=on` on webrtc_url keeps the prompt out of the page's event
    # stream (and drops function-call events with it).
    azure_webrtc_filter: bool = Field(False, alias="AZURE_WEBRTC_FILTER")
    audit_table_name: str = Field(alias="AUDIT_TABLE_NAME", min_length=3)
    quota_table_name: str = Field(alias="QUOTA_TABLE_NAME", min_length=3)
    audit_retention_days: int = Field(90, alias="AUDIT_RETENTION_DAYS", ge=1, le=3650)
    # Refusals are kept shorter: a flood of them must not become a storage bill (audit.md).
    refused_retention_days: int = Field(7, alias="REFUSED_AUDIT_RETENTION_DAYS", ge=1, le=3650)
    auth_mode: Literal["none", "jwt"] = Field("none", alias="AUTH_MODE")
    allowed_origins: tuple[str, ...] = Field((), alias="ALLOWED_ORIGINS")
    quota_per_minute: int = Field(alias="QUOTA_PER_MINUTE", ge=0)
    quota_per_day: int = Field(alias="QUOTA_PER_DAY", ge=0)
    # 0 turns a limit off.
    global_daily_cap: int = Field(5000, alias="GLOBAL_DAILY_CAP", ge=0)
    session_policy: Json[SessionPolicy] = Field(
        default_factory=SessionPolicy, alias="SESSION_POLICY"
    )
    upstream_connect_timeout_s: float = Field(2.0, alias="UPSTREAM_CONNECT_TIMEOUT_S", gt=0, le=10)
    upstream_read_timeout_s: float = Field(8.0, alias="UPSTREAM_READ_TIMEOUT_S", gt=0, le=25)
    upstream_max_attempts: int = Field(4, alias="UPSTREAM_MAX_ATTEMPTS", ge=1, le=10)
    upstream_backoff_base_s: float = Field(1.0, alias="UPSTREAM_BACKOFF_BASE_S", ge=0, le=10)
    max_body_bytes: int = Field(16 * 1024, alias="MAX_BODY_BYTES", ge=1, le=1024 * 1024)
    # Behind CloudFront (edge.py): empty = the viewer header is never believed.
    trusted_edge_secret_id: str = Field("", alias="TRUSTED_EDGE_SECRET_ID")
    trusted_edge_secret_header: str = Field(
        "x-origin-verify", alias="TRUSTED_EDGE_SECRET_HEADER", pattern=r"^[A-Za-z0-9-]+$"
    )
    viewer_ip_header: str = Field(
        "cloudfront-viewer-address", alias="VIEWER_IP_HEADER", pattern=r"^[A-Za-z0-9-]+$"
    )

    @model_validator(mode="before")
    @classmethod
    def _quota_defaults(cls, data: Any) -> Any:
        # Quotas default by auth mode: tighter for anonymous callers (DEFAULT_QUOTAS).
        if isinstance(data, dict):
            mode = str(data.get("AUTH_MODE", data.get("auth_mode", "none")))
            per_minute, per_day = DEFAULT_QUOTAS.get(mode, DEFAULT_QUOTAS["none"])
            data = {"QUOTA_PER_MINUTE": per_minute, "QUOTA_PER_DAY": per_day, **data}
        return data

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("openai_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"must be an http(s) URL such as {DEFAULT_OPENAI_BASE_URL}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _provider_fits(self) -> Settings:
        # Errors name their variable in the text: a model-level error has no field location.
        if self.upstream_provider == "openai":
            if self.azure_webrtc_filter:
                raise PydanticCustomError(
                    "settings", "AZURE_WEBRTC_FILTER: applies only with UPSTREAM_PROVIDER=azure"
                )
            return self
        problem = _azure_base_url_problem(self.openai_base_url)
        if problem:
            raise PydanticCustomError(
                "settings",
                "OPENAI_BASE_URL: with UPSTREAM_PROVIDER=azure it must be the resource's v1 base, "
                "such as {example}; {problem}",
                {"example": AZURE_BASE_URL_EXAMPLE, "problem": problem},
            )
        return self

    @property
    def webrtc_url(self) -> str:
        """Where a page POSTs its SDP offer with the minted key: the answer's `webrtc_url`."""
        url = self.openai_base_url + WEBRTC_CALLS_PATH
        return url + "?webrtcfilter=on" if self.azure_webrtc_filter else url

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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _azure_base_url_problem(url: str) -> str | None:
    """Why `url` is not an Azure OpenAI v1 base, or None. Loopback hosts (the emulator) may
    use http and any name; anything else needs https and an Azure host: the key must not
    travel in clear text or to a host that is not the resource."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if _is_loopback(host):
        pass
    elif parts.scheme != "https":
        return "it must use https (http only for a loopback host)"
    elif not host.endswith(AZURE_HOST_SUFFIXES):
        return (
            f"{host or 'its host'} is not an Azure OpenAI host ({', '.join(AZURE_HOST_SUFFIXES)})"
        )
    if parts.query or parts.fragment:
        return "it must have no query or fragment"
    if parts.path.rstrip("/") != AZURE_V1_PATH:
        return f"its path must be {AZURE_V1_PATH}"
    return None


# Environment variable -> Settings field, derived from the model (the local stack and the
# template's tests read it).
ENV_VARS = {str(info.alias): name for name, info in Settings.model_fields.items()}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise SettingsError naming the first bad variable.

    An empty variable counts as unset, as CloudFormation passes an empty parameter."""
    env = os.environ if environ is None else environ
    raw = {name: env[name].strip() for name in ENV_VARS if env.get(name, "").strip()}
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if not first["loc"]:
            # A check across settings (_provider_fits): its message starts with the name.
            raise SettingsError(first["msg"]) from None
        name = str(first["loc"][0])
        where = ".".join(str(part) for part in first["loc"][1:])
        detail = f" ({where})" if where else ""
        message = first["msg"]
        if first["type"] == "json_invalid":
            message = f"is not valid JSON: {message}"
        raise SettingsError(f"{name}{detail}: {message}") from None
