"""The request contract of `POST /realtime/client_secrets`: pydantic models that forbid unknown
fields at every level (a typo in the client's session template fails here as it would upstream),
and the validation that turns body bytes into a request or the ApiError OpenAI would send."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from .replies import ApiError

# OpenAI: "Select a value between 10 and 7200 (2 hours). This defaults to 600 seconds".
TTL_MIN_S = 10
TTL_MAX_S = 7200
TTL_DEFAULT_S = 600
# Built-in voices listed in OpenAI's Realtime API reference.
Voice = Literal[
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"
]
VOICES: tuple[str, ...] = get_args(Voice)
DEFAULT_MODEL = "gpt-realtime"
DEFAULT_INSTRUCTIONS = (
    "You are a helpful, witty, and friendly AI. Act like a human, but remember that you "
    "aren't a human and that you can't do human things in the real world."
)


# Real OpenAI echoes a masked key here; the emulator never echoes any part of it.
INVALID_API_KEY_MESSAGE = (
    "Incorrect API key provided. You can find your API key at "
    "https://platform.openai.com/account/api-keys."
)
INSUFFICIENT_QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)


# --------------------------------------------------------------------------------------
# The request contract: pydantic models that forbid unknown fields at every level, so a
# typo in the client's session template fails here as it would upstream.
# --------------------------------------------------------------------------------------


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ExpiresAfter(_Contract):
    anchor: Literal["created_at"] = "created_at"
    seconds: int = Field(default=TTL_DEFAULT_S, ge=TTL_MIN_S, le=TTL_MAX_S)


class PcmFormat(_Contract):
    type: Literal["audio/pcm"] = "audio/pcm"
    rate: Literal[24000] = 24000


class PcmuFormat(_Contract):
    type: Literal["audio/pcmu"]


class PcmaFormat(_Contract):
    type: Literal["audio/pcma"]


AudioFormat = Annotated[PcmFormat | PcmuFormat | PcmaFormat, Field(discriminator="type")]


class NoiseReduction(_Contract):
    type: Literal["near_field", "far_field"]


class Transcription(_Contract):
    model: str | None = None
    language: str | None = None
    prompt: str | None = None


class ServerVad(_Contract):
    type: Literal["server_vad"] = "server_vad"
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    prefix_padding_ms: int = Field(default=300, ge=0)
    silence_duration_ms: int = Field(default=200, ge=0)
    idle_timeout_ms: int | None = None
    create_response: bool = True
    interrupt_response: bool = True


class SemanticVad(_Contract):
    type: Literal["semantic_vad"]
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"
    create_response: bool = True
    interrupt_response: bool = True


TurnDetection = Annotated[ServerVad | SemanticVad, Field(discriminator="type")]


class AudioInput(_Contract):
    format: AudioFormat = Field(default_factory=PcmFormat)
    noise_reduction: NoiseReduction | None = None
    transcription: Transcription | None = None
    turn_detection: TurnDetection | None = Field(default_factory=ServerVad)


class AudioOutput(_Contract):
    format: AudioFormat = Field(default_factory=PcmFormat)
    voice: Voice = "alloy"
    speed: float = Field(default=1.0, ge=0.25, le=1.5)


class RealtimeAudio(_Contract):
    input: AudioInput = Field(default_factory=AudioInput)
    output: AudioOutput = Field(default_factory=AudioOutput)


class TranscriptionAudio(_Contract):
    input: AudioInput = Field(default_factory=AudioInput)


class FunctionTool(_Contract):
    type: Literal["function"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class McpTool(BaseModel):
    # MCP tools carry many connector options; only the discriminating fields are checked.
    model_config = ConfigDict(extra="allow", strict=True)
    type: Literal["mcp"]
    server_label: str


Tool = Annotated[FunctionTool | McpTool, Field(discriminator="type")]


class FunctionToolChoice(_Contract):
    type: Literal["function"]
    name: str


class TracingConfiguration(_Contract):
    workflow_name: str | None = None
    group_id: str | None = None
    metadata: dict[str, Any] | None = None


class TokenLimits(_Contract):
    post_instructions: int | None = Field(default=None, ge=0)


class RetentionRatioTruncation(_Contract):
    type: Literal["retention_ratio"]
    retention_ratio: float = Field(ge=0.0, le=1.0)
    token_limits: TokenLimits | None = None


class PromptReference(_Contract):
    id: str
    version: str | None = None
    variables: dict[str, Any] | None = None


Include = list[Literal["item.input_audio_transcription.logprobs"]]
OutputModality = Literal["audio", "text"]


def _audio_only() -> list[OutputModality]:
    return ["audio"]


class RealtimeSession(_Contract):
    type: Literal["realtime"] = "realtime"
    model: str = DEFAULT_MODEL
    instructions: str = DEFAULT_INSTRUCTIONS
    # OpenAI: audio or text, "not possible to request both at the same time".
    output_modalities: list[OutputModality] = Field(
        default_factory=_audio_only, min_length=1, max_length=1
    )
    audio: RealtimeAudio = Field(default_factory=RealtimeAudio)
    tools: list[Tool] = Field(default_factory=list)
    tool_choice: Literal["none", "auto", "required"] | FunctionToolChoice = "auto"
    tracing: Literal["auto"] | TracingConfiguration | None = None
    truncation: Literal["auto", "disabled"] | RetentionRatioTruncation = "auto"
    max_output_tokens: Annotated[int, Field(ge=1, le=4096)] | Literal["inf"] = "inf"
    prompt: PromptReference | None = None
    include: Include | None = None


class TranscriptionSession(_Contract):
    type: Literal["transcription"]
    audio: TranscriptionAudio = Field(default_factory=TranscriptionAudio)
    include: Include | None = None


Session = Annotated[RealtimeSession | TranscriptionSession, Field(discriminator="type")]


class CreateClientSecretRequest(_Contract):
    expires_after: ExpiresAfter = Field(default_factory=ExpiresAfter)
    session: Session = Field(default_factory=RealtimeSession)


# --------------------------------------------------------------------------------------
# Validation: body bytes -> CreateClientSecretRequest, or the ApiError OpenAI would send.
# --------------------------------------------------------------------------------------


def parse_json_body(raw: bytes, content_type: str | None) -> object:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            400,
            f"Unsupported content type: '{content_type or ''}'. This API method only accepts "
            "'application/json' requests.",
        )
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, INVALID_JSON_MESSAGE) from None


def validate_create_request(body: object) -> CreateClientSecretRequest:
    if not isinstance(body, dict):
        raise ApiError(
            400,
            f"Invalid type for request body: expected an object, but got {_json_type(body)}.",
            code="invalid_value",
        )
    try:
        return CreateClientSecretRequest.model_validate(body)
    except ValidationError as exc:
        raise _api_error_from(exc, body) from None


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number"}
    names |= {float: "a number", type(None): "null"}
    return names.get(type(value), "a value")


def _api_error_from(exc: ValidationError, body: Mapping[str, Any]) -> ApiError:
    # A union field fails once per member; the deepest error names the field the caller
    # actually got wrong, and an unknown field is the clearest message on ties.
    candidates = [(_dotted_param(e["loc"], e["type"], body), e) for e in exc.errors()]

    def clarity(candidate: tuple[str, ErrorDetails]) -> tuple[int, bool]:
        param, error = candidate
        return (param.count(".") + param.count("["), error["type"] == "extra_forbidden")

    param, error = max(candidates, key=clarity)
    kind = error["type"]
    if kind == "extra_forbidden":
        return ApiError(
            400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter"
        )
    if kind in ("missing", "union_tag_not_found"):
        return ApiError(
            400,
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )
    reason = error["msg"][:1].lower() + error["msg"][1:]
    return ApiError(
        400, f"Invalid value for '{param}': {reason}.", param=param, code="invalid_value"
    )


def _dotted_param(loc: tuple[int | str, ...], error_type: str, body: object) -> str:
    """Turn a pydantic location into OpenAI's `param`, e.g. `session.tools[0].name`.

    Pydantic inserts union member names ("realtime", "literal['auto']") into locations;
    walking the actual body keeps only the keys and indexes the caller wrote.
    """
    path = ""
    node = body
    for position, item in enumerate(loc):
        is_last = position == len(loc) - 1
        if isinstance(node, dict) and isinstance(item, str) and item in node:
            path, node = _join(path, item), node[item]
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            path, node = f"{path}[{item}]", node[item]
        elif is_last and error_type == "missing" and isinstance(item, str):
            path = _join(path, item)
    if error_type.startswith("union_tag_"):
        path = _join(path, "type")  # every tagged union in the contract is keyed by `type`
    return path


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
