"""What the mint logic needs from an HTTP API (payload 2.0) event, and the checks made on it
before the body is even parsed: origin, identity, size, media type."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .cors import origin_allowed
from .errors import (
    InvalidSessionConfig,
    OriginNotAllowed,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)

MAX_HEADER_ECHO_CHARS = 256


@dataclass(frozen=True)
class Incoming:
    request_id: str
    body: bytes
    body_error: str | None
    content_type: str | None
    origin: str | None
    source_ip: str | None
    user_agent: str | None
    jwt_sub: str | None
    # The query string's parameters (API Gateway joins a repeated one with commas).
    query: Mapping[str, str] = field(default_factory=dict)
    # All of them, for a trusted edge's viewer header (edge.py); never logged or recorded.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value by its lowercase name, whole."""
    # API Gateway lowercases header names in 2.0 events; tests and other gateways may not.
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _echoed(headers: Mapping[str, str], name: str) -> str | None:
    # What the audit record repeats of a caller's header is bounded.
    value = header(headers, name)
    return value[:MAX_HEADER_ECHO_CHARS] if value is not None else None


def from_event(event: Mapping[str, Any], fallback_request_id: str) -> Incoming:
    headers = event.get("headers") or {}
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    sub = claims.get("sub")
    raw = event.get("body") or ""
    body_error = None
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            body, body_error = b"", "the body is marked base64 but does not decode"
    else:
        body = raw.encode("utf-8", "surrogatepass")
    return Incoming(
        request_id=str(context.get("requestId") or fallback_request_id),
        body=body,
        body_error=body_error,
        content_type=header(headers, "content-type"),
        origin=_echoed(headers, "origin"),
        source_ip=http.get("sourceIp"),
        user_agent=_echoed(headers, "user-agent"),
        jwt_sub=str(sub) if sub else None,
        query=dict(event.get("queryStringParameters") or {}),
        headers=dict(headers),
    )


def check_origin(incoming: Incoming, allowed: Sequence[str]) -> None:
    if not origin_allowed(incoming.origin, allowed):
        raise OriginNotAllowed(f"origin {incoming.origin!r} is not allowed to mint keys")


def principal_of(
    incoming: Incoming, auth_mode: str, viewer_ip: str | None = None
) -> tuple[str, str]:
    """(principal, kind): the token's subject in jwt mode; otherwise the viewer's IP that a
    trusted edge vouched for (edge.py), else the source IP."""
    if auth_mode == "jwt":
        # API Gateway's authorizer should have refused this already; this is defense in depth.
        if not incoming.jwt_sub:
            raise Unauthorized("this service requires a signed-in caller")
        return incoming.jwt_sub, "sub"
    return viewer_ip or incoming.source_ip or "unknown", "ip"


def check_body(
    incoming: Incoming, max_body_bytes: int, media_type: str = "application/json"
) -> None:
    """Size, then encoding, then media type; an empty body needs none (the caller decides
    whether it may be empty)."""
    if len(incoming.body) > max_body_bytes:
        raise PayloadTooLarge(
            f"the body is {len(incoming.body)} bytes; the limit is {max_body_bytes}"
        )
    if incoming.body_error:
        raise InvalidSessionConfig(incoming.body_error)
    if not incoming.body.strip():
        return
    sent = (incoming.content_type or "").split(";", 1)[0].strip().lower()
    if sent != media_type:
        raise UnsupportedMediaType(
            f"the body's content type is {sent or 'missing'}; expected {media_type}",
            f"Send the body with 'Content-Type: {media_type}'.",
        )
