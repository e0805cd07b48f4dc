"""Minting: fake `ek_` values for valid requests, remembered so the WebRTC peer can admit them."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .contract import (
    CreateClientSecretRequest,
    RealtimeSession,
    TranscriptionSession,
    parse_json_body,
    validate_create_request,
)
from .dialect import Headers
from .replies import ApiError, Reply, error_reply, json_reply

if TYPE_CHECKING:
    from .state import EmulatorState


def new_session_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "sess_" + "".join(secrets.choice(alphabet) for _ in range(21))


def new_ephemeral_value() -> str:
    return "ek_" + secrets.token_urlsafe(24)  # 32 url-safe characters after the prefix


@dataclass(frozen=True)
class MintedKey:
    """A client secret the emulator handed out, kept so later features can look it up."""

    value: str
    expires_at: int
    session: dict[str, Any]

    def is_expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at

    def response_body(self) -> dict[str, Any]:
        return {"value": self.value, "expires_at": self.expires_at, "session": self.session}


def effective_session(session: RealtimeSession | TranscriptionSession) -> dict[str, Any]:
    """The session as OpenAI echoes it: what was asked for, with every default filled in."""
    fields = session.model_dump(mode="json")
    kind = fields.pop("type")
    object_name = "realtime.session" if kind == "realtime" else "realtime.transcription_session"
    return {"type": kind, "object": object_name, "id": new_session_id(), **fields}


def mint(request: CreateClientSecretRequest, now: float) -> MintedKey:
    return MintedKey(
        value=new_ephemeral_value(),
        expires_at=int(now) + request.expires_after.seconds,
        session=effective_session(request.session),
    )


def answer(state: EmulatorState, headers: Headers, raw: bytes) -> Reply:
    """The normal answer: auth first (as upstream), then the body, then a fresh key."""
    dialect = state.dialect
    try:
        if not state.is_authorized(headers):
            raise dialect.invalid_key()
        body = parse_json_body(raw, headers.get("content-type"))
        request = validate_create_request(body)
        # A request that validates may still name no deployment of the Azure resource.
        dialect.check_model(body, state.deployments)  # type: ignore[arg-type]
    except ApiError as error:
        return error_reply(error)
    key = mint(request, time.time())
    state.remember(key)
    return json_reply(200, key.response_body())
