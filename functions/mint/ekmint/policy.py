"""The session policy: from what a caller asked for to what ekmint asks OpenAI for.

Every refusal is an InvalidSessionConfig whose message names the field and whose action says
what would be accepted, so a frontend author can fix the request without reading our code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import InvalidSessionConfig
from .models import ClientSecretRequest, JsonObject
from .settings import OPENAI_MIN_TTL_S, SessionPolicy

MAX_ERROR_VALUE_CHARS = 60


@dataclass(frozen=True)
class EffectiveSession:
    """What is sent upstream, and the requested values the audit record keeps."""

    upstream_body: JsonObject
    session_type: str
    model: str | None
    voice: str | None
    ttl_s: int
    requested_model: str | None
    requested_voice: str | None
    requested_ttl_s: int | None


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # JSON parsers disagree on which duplicate wins; refusing them leaves nothing to smuggle.
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKey(key)
        document[key] = value
    return document


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_request(body: bytes) -> ClientSecretRequest:
    """Validate the JSON body's shape; an empty body means "all server defaults"."""
    if not body.strip():
        return ClientSecretRequest()
    try:
        document = json.loads(body, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _DuplicateKey as exc:
        raise InvalidSessionConfig(f"the body repeats the key {_shown(str(exc))}") from None
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8 and bad JSON; RecursionError, absurd nesting.
        raise InvalidSessionConfig("the body is not valid JSON") from None
    try:
        return ClientSecretRequest.model_validate(document)
    except ValidationError as exc:
        raise InvalidSessionConfig(_describe(exc)) from None


# pydantic puts the union member it tried into the location ("str", "constrained-int", …);
# callers know only field names.
_UNION_TAG = re.compile(r"^(str|int|float|bool|constrained-\w+|(literal|dict|list)\[.*\])$")


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"] if not _UNION_TAG.match(str(part)))
    if first["type"] == "json_invalid":
        return "the body is not valid JSON"
    if first["type"] == "extra_forbidden":
        return f"{where}: unknown field"
    if not where:
        return f"the body must be a JSON object ({first['msg']})"
    return f"{where}: {first['msg']}"


def _shown(value: str) -> str:
    return repr(
        value if len(value) <= MAX_ERROR_VALUE_CHARS else value[:MAX_ERROR_VALUE_CHARS] + "…"
    )


def _set_fields(model: BaseModel, prefix: str = "") -> list[str]:
    """Dotted paths of every leaf the caller set to a non-null value."""
    paths: list[str] = []
    for name in model.model_fields_set:
        value = getattr(model, name)
        if value is None:
            continue
        path = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            paths.extend(_set_fields(value, f"{path}."))
        else:
            paths.append(path)
    return paths


# Fields the policy decides on itself; every other set field must be in caller_fields.
_POLICY_FIELDS = {"type", "model", "audio.output.voice", "instructions"}


def apply_policy(request: ClientSecretRequest, policy: SessionPolicy) -> EffectiveSession:
    session = request.session
    if session.type not in policy.session_types:
        raise InvalidSessionConfig(
            f"session.type: {_shown(session.type)} is not allowed",
            f"Use one of: {', '.join(policy.session_types)}",
        )

    for path in sorted(_set_fields(session)):
        if path in _POLICY_FIELDS or path in policy.caller_fields:
            continue
        opened = ", ".join(policy.caller_fields) or "none"
        raise InvalidSessionConfig(
            f"session.{path}: this field is set by the server and cannot be sent",
            f"Remove it; fields open to callers: {opened}",
        )

    ttl_s = _ttl(request.expires_after.seconds, policy)
    extra = session.model_dump(
        exclude_none=True, exclude={"type", "model", "instructions", "audio"}
    )
    if session.type == "transcription":
        return _transcription(session.model_dump(exclude_none=True), ttl_s, request)
    model = _pick(session.model, policy.models, policy.model, "session.model")
    voice_requested = session.audio.output.voice if session.audio and session.audio.output else None
    voice = _pick(
        voice_requested, policy.voices, policy.default_voice, "session.audio.output.voice"
    )
    instructions = _instructions(session.instructions, policy)

    audio: dict[str, Any] = session.audio.model_dump(exclude_none=True) if session.audio else {}
    audio.setdefault("output", {})["voice"] = voice
    upstream_session: JsonObject = {
        "type": "realtime",
        "model": model,
        "instructions": instructions,
        "audio": audio,
        **extra,
    }
    return EffectiveSession(
        upstream_body={
            "expires_after": {"anchor": "created_at", "seconds": ttl_s},
            "session": upstream_session,
        },
        session_type="realtime",
        model=model,
        voice=voice,
        ttl_s=ttl_s,
        requested_model=session.model,
        requested_voice=voice_requested,
        requested_ttl_s=request.expires_after.seconds,
    )


def _transcription(
    dumped: JsonObject, ttl_s: int, request: ClientSecretRequest
) -> EffectiveSession:
    for name in ("model", "instructions"):
        if name in dumped:
            raise InvalidSessionConfig(
                f"session.{name}: not part of a transcription session", "Remove it."
            )
    output = dumped.get("audio", {}).pop("output", None)
    if output:
        raise InvalidSessionConfig(
            "session.audio.output: not part of a transcription session", "Remove it."
        )
    return EffectiveSession(
        upstream_body={
            "expires_after": {"anchor": "created_at", "seconds": ttl_s},
            "session": dumped,
        },
        session_type="transcription",
        model=None,
        voice=None,
        ttl_s=ttl_s,
        requested_model=None,
        requested_voice=None,
        requested_ttl_s=request.expires_after.seconds,
    )


def _pick(requested: str | None, allowed: tuple[str, ...], default: str, where: str) -> str:
    if requested is None:
        return default
    if requested not in allowed:
        raise InvalidSessionConfig(
            f"{where}: {_shown(requested)} is not allowed", f"Use one of: {', '.join(allowed)}"
        )
    return requested


def _ttl(seconds: int | None, policy: SessionPolicy) -> int:
    if seconds is None:
        return policy.default_ttl_s
    if not OPENAI_MIN_TTL_S <= seconds <= policy.max_ttl_s:
        raise InvalidSessionConfig(
            f"expires_after.seconds: {seconds} is outside {OPENAI_MIN_TTL_S}..{policy.max_ttl_s}",
            f"Use a value from {OPENAI_MIN_TTL_S} to {policy.max_ttl_s}, or leave it out "
            f"for {policy.default_ttl_s}.",
        )
    return seconds


def _instructions(requested: str | None, policy: SessionPolicy) -> str:
    if requested is None:
        return policy.instructions
    if not policy.caller_instructions:
        raise InvalidSessionConfig(
            "session.instructions: set by the server and cannot be sent",
            "Remove session.instructions.",
        )
    if len(requested) > policy.max_instructions_chars:
        raise InvalidSessionConfig(
            f"session.instructions: longer than {policy.max_instructions_chars} characters",
            f"Shorten it to at most {policy.max_instructions_chars} characters.",
        )
    return requested
