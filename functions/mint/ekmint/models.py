"""The service's request and answer bodies.

The request follows the shape of OpenAI's own client-secret request (so frontend authors can
read OpenAI's docs) but forbids anything OpenAI's shape does not have. Whether a caller may set
a field at all is the session policy's call (policy.py), not these models'.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

JsonObject = dict[str, Any]


class _Strict(BaseModel):
    # strict: "300" is not 300; forbid: unknown fields are refused, never passed on to OpenAI.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class AudioInputRequest(_Strict):
    format: JsonObject | None = None
    noise_reduction: JsonObject | None = None
    transcription: JsonObject | None = None
    turn_detection: JsonObject | None = None


class AudioOutputRequest(_Strict):
    format: JsonObject | None = None
    voice: str | None = None
    # OpenAI's range; checked here so a bad value is the caller's 400, not OpenAI's (a 502).
    speed: float | None = Field(default=None, ge=0.25, le=1.5)


class AudioRequest(_Strict):
    input: AudioInputRequest | None = None
    output: AudioOutputRequest | None = None


class SessionRequest(_Strict):
    type: Literal["realtime", "transcription"] = "realtime"
    model: str | None = None
    instructions: str | None = None
    audio: AudioRequest | None = None
    output_modalities: list[str] | None = None
    tools: list[JsonObject] | None = None
    tool_choice: str | JsonObject | None = None
    tracing: str | JsonObject | None = None
    truncation: str | JsonObject | None = None
    max_output_tokens: Annotated[int, Field(ge=1, le=4096)] | Literal["inf"] | None = None
    prompt: JsonObject | None = None
    include: list[str] | None = None


def _whole_number(value: object) -> object:
    # JSON does not tell 10.0 from 10, so neither do we; "10" and 10.5 stay refused (strict).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class ExpiresAfterRequest(_Strict):
    anchor: Literal["created_at"] = "created_at"
    seconds: Annotated[int, BeforeValidator(_whole_number)] | None = None


class ClientSecretRequest(_Strict):
    session: SessionRequest = Field(default_factory=SessionRequest)
    expires_after: ExpiresAfterRequest = Field(default_factory=ExpiresAfterRequest)


class SessionSummary(BaseModel):
    type: str
    model: str | None = None
    voice: str | None = None


class ClientSecretAnswer(BaseModel):
    value: str
    expires_at: int
    session: SessionSummary
    # Where the page POSTs its SDP offer with `value` (OpenAI's or the Azure resource's
    # /realtime/calls), so a page needs no provider-specific configuration.
    webrtc_url: str = Field(
        description=(
            "Where the page POSTs its SDP offer, with `Authorization: Bearer <value>`: "
            "OpenAI's https://api.openai.com/v1/realtime/calls, an Azure OpenAI resource's "
            "/openai/v1/realtime/calls (optionally ?webrtcfilter=on), or the local emulator's."
        )
    )


# The error envelope is built as a plain dict (handler.py); these two only describe it, for the
# OpenAPI document (devtools). defer_build: their schemas are built when that asks, not at
# every cold start.
class ErrorBody(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: str
    message: str
    action: str
    request_id: str


class ErrorEnvelope(BaseModel):
    model_config = ConfigDict(defer_build=True)

    error: ErrorBody
