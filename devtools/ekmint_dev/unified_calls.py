"""OpenAI's unified interface, `POST /v1/realtime/calls` with an API key, for the emulator.

Development only. A backend (ekmint's relay, functions/mint/ekmint/relay.py) posts the page's
SDP offer and the session as `multipart/form-data` with two parts, `sdp` and `session` (JSON),
authenticated with the real API key; OpenAI answers `201` with the SDP answer
(`application/sdp`) and the call's URL in `Location`. This module checks such a request as
OpenAI would (the key, both parts, the session against the emulator's own session contract, a
known model, an SDP offer) and hands the offer to the WebRTC peer (realtime_peer.py) under a
key minted for that session alone, never handed out: the peer's call then starts with exactly
the session the backend sent, and the peer's faults, call log and audio apply as to any call.

The emulator routes such requests here (emulator/server.py, `_dispatch` and `_serve_api`), so its
request log, latency and fault script (429, 5xx, hangs, resets) apply as to client_secrets;
an offer posted with an `ek_` key (the browser's own way) still goes to the peer directly.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Mapping
from email.message import Message
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .realtime_peer import RealtimePeer

CALLS_PATH = "/v1/realtime/calls"
MULTIPART = "multipart/form-data"
# Realtime models OpenAI's unified interface accepts (its model list, "gpt-realtime" family).
KNOWN_MODELS = frozenset(
    {
        "gpt-realtime",
        "gpt-realtime-2025-08-28",
        "gpt-realtime-mini",
        "gpt-realtime-mini-2025-10-06",
        "gpt-4o-realtime-preview",
        "gpt-4o-mini-realtime-preview",
    }
)
INVALID_API_KEY_MESSAGE = "Incorrect API key provided."
# status, body, headers, content type: the fields of the emulator's Reply and the peer's.
Answer = tuple[int, bytes, tuple[tuple[str, str], ...], str]


class Upstream(Protocol):
    """What this module needs of the emulator's state (emulator/state.py)."""

    def is_authorized(self, headers: Any) -> bool: ...

    def key_for_call(self, session: dict[str, Any]) -> str:
        """A key minted for this session alone, never handed out; raises an exception whose
        text is OpenAI's message when the session breaks OpenAI's session contract."""
        ...


class Headers(Protocol):
    def get(self, name: str, /) -> str | None: ...


class _Refused(Exception):
    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ):
        super().__init__(message)
        self.status, self.param, self.code = status, param, code

    def answer(self) -> Answer:
        error = {"message": str(self), "type": "invalid_request_error", "param": self.param}
        body = json.dumps({"error": error | {"code": self.code}}).encode()
        return self.status, body, (), "application/json"


def is_unified_call(
    method: str, path: str, content_type: str | None, calls_path: str = CALLS_PATH
) -> bool:
    """A backend's multipart POST (this module's), not a browser's SDP offer (the peer's)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return method == "POST" and path == calls_path and media_type == MULTIPART


def answer(
    upstream: Upstream, peer: RealtimePeer | None, headers: Headers, raw: bytes
) -> tuple[Answer, dict[str, Any]]:
    """The peer's reply (201 and the SDP answer, or its refusal) or OpenAI's error, and what
    the request log keeps (the session and the offer's size, never the offer)."""
    logged: dict[str, Any] = {}
    try:
        if not upstream.is_authorized(headers):
            raise _Refused(401, INVALID_API_KEY_MESSAGE, code="invalid_api_key")
        parts = _parts(headers.get("content-type"), raw)
        sdp, session = _required(parts, "sdp"), _session(_required(parts, "session"))
        logged |= {"sdp_bytes": len(sdp), "session": session}
        if not sdp.startswith(b"v=0"):
            raise _Refused(400, "The 'sdp' part must be an SDP offer.", param="sdp")
        try:
            value = upstream.key_for_call(session)
        except Exception as exc:  # the emulator's ApiError: the session breaks the contract
            raise _Refused(400, str(exc), param="session", code="invalid_value") from None
    except _Refused as refused:
        return refused.answer(), logged
    if peer is None:
        return _Refused(503, "The realtime peer is not running.").answer(), logged
    # The peer answers offers for keys the emulator minted; this one carries exactly the
    # session the backend sent.
    reply = peer.handle_offer(sdp, f"Bearer {value}", "application/sdp")
    return (reply.status, reply.body, reply.headers, reply.content_type), logged


def _parts(content_type: str | None, raw: bytes) -> dict[str, bytes]:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != MULTIPART or "boundary=" not in (content_type or ""):
        raise _Refused(
            400,
            f"Unsupported content type: '{content_type or ''}'. This API method only accepts "
            "'multipart/form-data' requests (or 'application/sdp' with a client secret).",
        )
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    parts: dict[str, bytes] = {}
    if not message.is_multipart():
        raise _Refused(400, "The multipart body could not be parsed.")
    for part in message.iter_parts():
        name = _field_name(part)
        payload = part.get_payload(decode=True)
        if name and isinstance(payload, bytes):
            parts[name] = payload
    return parts


def _field_name(part: Message) -> str | None:
    name = part.get_param("name", header="content-disposition")
    return name if isinstance(name, str) else None


def _required(parts: Mapping[str, bytes], name: str) -> bytes:
    if name not in parts or not parts[name].strip():
        raise _Refused(
            400, f"Missing required parameter: '{name}'.", name, "missing_required_parameter"
        )
    return parts[name]


def _session(raw: bytes) -> dict[str, Any]:
    try:
        session = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Refused(400, "The 'session' part is not valid JSON.", "session") from None
    if not isinstance(session, dict):
        raise _Refused(400, "The 'session' part must be a JSON object.", "session")
    model = session.get("model")
    if session.get("type") != "realtime":
        raise _Refused(400, "A call needs a session of type 'realtime'.", "session.type")
    if model not in KNOWN_MODELS:
        raise _Refused(400, f"Invalid model: {model!r}.", "session.model", "invalid_value")
    return session
