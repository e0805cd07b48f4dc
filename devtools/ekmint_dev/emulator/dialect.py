"""The two dialects of the client-secrets API the emulator speaks: OpenAI's and Azure OpenAI's.

Azure's GA v1 API (Microsoft, "Use the GPT Realtime API via WebRTC") takes the same body under
`/openai/v1` on the resource's host, with the resource key in `api-key`, and `session.model`
naming a *deployment*. Its errors come in `{"error": {"code", "message"}}` with the status as the
code (429 with `retry-after-ms`, 403 where the region lacks the model, 404 for an unknown
deployment). The wording of the emulator's Azure messages is ours; the shapes are Azure's.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .contract import INVALID_API_KEY_MESSAGE
from .replies import ApiError

DialectName = Literal["openai", "azure"]

AZURE_INVALID_KEY_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide "
    "a valid key for an active subscription and use a correct regional API endpoint for your "
    "resource."
)
AZURE_DEPLOYMENT_NOT_FOUND_MESSAGE = (
    "The API deployment for this resource does not exist. If you created the deployment within "
    "the last 5 minutes, please wait a moment and try again."
)
AZURE_DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    401: ("401", AZURE_INVALID_KEY_MESSAGE),
    403: (
        "403",
        "The Realtime model is not available in this resource's region; the Realtime models "
        "are deployed in East US 2 and Sweden Central.",
    ),
    404: ("DeploymentNotFound", AZURE_DEPLOYMENT_NOT_FOUND_MESSAGE),
    429: (
        "429",
        "Requests to the Realtime client secrets operation have exceeded the call rate limit "
        "of your current pricing tier. Please retry after the time in retry-after-ms.",
    ),
    500: ("InternalServerError", "The server had an error while processing your request."),
    503: ("ServiceUnavailable", "The service is temporarily unable to process your request."),
}


class Headers(Protocol):
    def get(self, name: str, /) -> str | None: ...


@dataclass(frozen=True)
class Dialect:
    name: DialectName
    # Under the emulator's origin: its base URL is origin + prefix.
    prefix: str

    @property
    def client_secrets_path(self) -> str:
        return self.prefix + "/realtime/client_secrets"

    @property
    def models_path(self) -> str:
        # The function opens its first connection during init with an uncredentialed GET here
        # (ekmint.lifecycle); not a mint, so it is answered without entering the request log.
        return self.prefix + "/models"

    @property
    def calls_path(self) -> str:
        return self.prefix + "/realtime/calls"

    def presented_key(self, headers: Headers) -> str | None:
        """The API key the request carries, where this dialect expects it."""
        if self.name == "azure":
            # Azure's key header; a bearer token would be an Entra ID token, not a key.
            return (headers.get("api-key") or "").strip() or None
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None

    def is_authorized(self, headers: Headers, keys: Sequence[str]) -> bool:
        presented = self.presented_key(headers)
        if presented is None:
            return False
        # Constant-time comparison, as a habit: keys are secrets even here.
        return any(hmac.compare_digest(presented.encode(), key.encode()) for key in keys)

    def invalid_key(self) -> ApiError:
        if self.name == "azure":
            return self.error(401)
        return ApiError(401, INVALID_API_KEY_MESSAGE, code="invalid_api_key")

    def error(self, status: int, message: str | None = None, code: str | None = None) -> ApiError:
        """An Azure error (`azure` dialect only): the status's default code and message."""
        default_code, default_message = AZURE_DEFAULT_ERRORS.get(
            status, (str(status), f"Emulated {status} error.")
        )
        return ApiError(
            status, message or default_message, code=code or default_code, envelope="azure"
        )

    def check_model(self, body: dict[str, Any], deployments: Sequence[str]) -> None:
        """Azure: `session.model` names a deployment of the resource, or the answer is 404."""
        if self.name != "azure":
            return
        session = body.get("session")
        model = session.get("model") if isinstance(session, dict) else None
        if isinstance(model, str) and model not in deployments:
            raise self.error(404)


OPENAI = Dialect("openai", "/v1")
AZURE = Dialect("azure", "/openai/v1")
DIALECTS: dict[str, Dialect] = {"openai": OPENAI, "azure": AZURE}
