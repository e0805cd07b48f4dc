"""The service's error codes (design.md's table) as typed exceptions.

Routes raise these; one exception handler turns them into the envelope
`{"error": {"code", "message", "action", "request_id"}}` with the right status.
Messages go to callers, so they never carry upstream text, secrets or stack details.
"""

from __future__ import annotations

from typing import ClassVar


class MintError(Exception):
    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    default_action: ClassVar[str] = "Try again later; if it keeps failing, tell the site operator."

    def __init__(
        self, message: str, action: str | None = None, *, retry_after_s: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.action = action or self.default_action
        self.retry_after_s = retry_after_s

    # "refused" is the caller's doing (4xx); "failed" is ours or OpenAI's (5xx).
    @property
    def outcome(self) -> str:
        return "refused" if self.status < 500 else "failed"


class InvalidSessionConfig(MintError):
    code = "invalid_session_config"
    status = 400
    default_action = "Fix the request body; see the service's session policy."


class InvalidOffer(MintError):
    # POST /api/realtime/calls only: the body is not a WebRTC SDP offer.
    code = "invalid_offer"
    status = 400
    default_action = "Send the SDP offer of an RTCPeerConnection (createOffer) as the body."


class Unauthorized(MintError):
    code = "unauthorized"
    status = 401
    default_action = "Sign in again and send 'Authorization: Bearer <token>'."


class OriginNotAllowed(MintError):
    code = "origin_not_allowed"
    status = 403
    default_action = (
        "Call from an allowed origin, or ask the operator to add yours to ALLOWED_ORIGINS."
    )


class PayloadTooLarge(MintError):
    code = "payload_too_large"
    status = 413
    default_action = "Send a smaller body; only session settings are expected."


class UnsupportedMediaType(MintError):
    code = "unsupported_media_type"
    status = 415
    default_action = "Send the body as JSON with 'Content-Type: application/json'."


class RateLimited(MintError):
    code = "rate_limited"
    status = 429
    default_action = "Wait for the number of seconds in Retry-After, then try again."

    def __init__(self, message: str, *, retry_after_s: int, limit: str) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        # Which limit is spent: "minute", "day" (this caller) or "global" (everyone, today).
        self.limit = limit


class TokenGenerationFailed(MintError):
    code = "token_generation_failed"
    status = 502
    default_action = "This will not fix itself on retry; tell the site operator."


class OpenAIUnavailable(MintError):
    code = "openai_api_unavailable"
    status = 503
    default_action = "OpenAI is busy or unreachable; retry after the Retry-After seconds."


class AuditUnavailable(MintError):
    code = "audit_unavailable"
    status = 503
    default_action = "The key was withheld because it could not be recorded; retry shortly."


class InternalError(MintError):
    code = "internal_error"
    status = 500


class NotFound(MintError):
    # Not in design.md's table: it is what API Gateway answers for any other route.
    code = "not_found"
    status = 404
    default_action = "POST to /api/client-secret or /api/realtime/calls."
