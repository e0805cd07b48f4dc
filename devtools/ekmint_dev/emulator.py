"""A local stand-in for OpenAI's `POST /v1/realtime/client_secrets` that can be told to fail.

Development only: the shipped `ekmint` package never imports it. It checks requests
against the upstream contract (docs/design.md, "OpenAI upstream facts"), mints fake
`ek_` values, and serves a FIFO script of faults (429, 5xx, hangs, resets, malformed
answers) so the client's retry and fail-closed paths can be tested without the network.

In tests::

    with Emulator(api_keys=["sk-test"]) as emulator:
        emulator.set_faults([{"kind": "status", "status": 429, "retry_after_s": 1}])
        ...  # point OPENAI_BASE_URL at emulator.url

From a shell: ``python -m ekmint_dev.emulator --port 8089 --api-key sk-local``; the
same controls are then under ``/_emulator/`` (see `_ADMIN_ROUTES`).
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import select
import signal
import socket
import string
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeVar, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import ErrorDetails

from . import unified_calls

if TYPE_CHECKING:
    from .realtime_peer import RealtimePeer

logger = logging.getLogger(__name__)

CLIENT_SECRETS_PATH = "/v1/realtime/client_secrets"
# The function opens its first connection during init with an uncredentialed GET here
# (ekmint.lifecycle); not a mint, so it is answered without entering the request log.
MODELS_PATH = "/v1/models"
ADMIN_PREFIX = "/_emulator"
DEFAULT_CLI_PORT = 8089

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

MAX_BODY_BYTES = 1024 * 1024
# How often a hanging answer checks whether the client left or the server is stopping.
HANG_POLL_S = 0.05
# Lets the partial answer of a `reset` fault reach the client before the RST discards it.
RESET_DELAY_S = 0.02
STOP_JOIN_TIMEOUT_S = 1.0

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
# Answers: every response is a `Reply`, built by plain functions and written by the handler.
# --------------------------------------------------------------------------------------


class ApiError(Exception):
    """An answer in OpenAI's error envelope `{"error": {message, type, param, code}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"


def json_reply(status: int, payload: object, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    return Reply(status, json.dumps(payload).encode(), tuple(headers))


def error_reply(error: ApiError, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    return json_reply(error.status, error.envelope(), headers)


def _new_request_id() -> str:
    return f"req_{secrets.token_hex(16)}"


def _new_session_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "sess_" + "".join(secrets.choice(alphabet) for _ in range(21))


def _new_ephemeral_value() -> str:
    return "ek_" + secrets.token_urlsafe(24)  # 32 url-safe characters after the prefix


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


# --------------------------------------------------------------------------------------
# Minting
# --------------------------------------------------------------------------------------


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
    return {"type": kind, "object": object_name, "id": _new_session_id(), **fields}


def mint(request: CreateClientSecretRequest, now: float) -> MintedKey:
    return MintedKey(
        value=_new_ephemeral_value(),
        expires_at=int(now) + request.expires_after.seconds,
        session=effective_session(request.session),
    )


# --------------------------------------------------------------------------------------
# Faults: a FIFO script; each client_secrets request takes the next one.
# --------------------------------------------------------------------------------------


class _FaultBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    repeat: int = Field(default=1, ge=1)
    sticky: bool = False  # served to every request, never consumed, until the script is cleared

    @model_validator(mode="after")
    def _sticky_or_repeated(self) -> Self:
        if self.sticky and self.repeat != 1:
            raise ValueError("a fault is either sticky or repeated, not both")
        return self


class StatusFault(_FaultBase):
    """Any 4xx/5xx with an OpenAI error body; type, code and message default by status."""

    kind: Literal["status"] = "status"
    status: int = Field(ge=400, le=599)
    type: str | None = None
    code: str | None = None
    message: str | None = None
    param: str | None = None
    retry_after_s: float | None = Field(default=None, ge=0)
    retry_after_ms: float | None = Field(default=None, ge=0)
    should_retry: bool | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class InsufficientQuotaFault(_FaultBase):
    """429 that no retry fixes: the account is out of credit."""

    kind: Literal["insufficient_quota"] = "insufficient_quota"
    message: str = INSUFFICIENT_QUOTA_MESSAGE


class HangFault(_FaultBase):
    """Wait `seconds` then answer normally; without `seconds`, until the client gives up."""

    kind: Literal["hang"] = "hang"
    seconds: float | None = Field(default=None, gt=0)


class ResetFault(_FaultBase):
    """Read the request, send part of an answer, then reset the TCP connection (RST)."""

    kind: Literal["reset"] = "reset"
    stage: Literal["before_answer", "status_line", "headers", "partial_body"] = "partial_body"


class MalformedFault(_FaultBase):
    """An answer whose body is not the JSON it claims to be (a proxy page, a cut-off body)."""

    kind: Literal["malformed"] = "malformed"
    status: int = Field(default=200, ge=200, le=599)
    body: str = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    content_type: str = "application/json"


class MissingValueFault(_FaultBase):
    kind: Literal["missing_value"] = "missing_value"


class MissingExpiresAtFault(_FaultBase):
    kind: Literal["missing_expires_at"] = "missing_expires_at"


class BadValueFault(_FaultBase):
    """A 200 whose `value` is not an `ek_` client secret."""

    kind: Literal["bad_value"] = "bad_value"
    value: str | None = None  # None: a random `xk_...` string


Fault = Annotated[
    StatusFault
    | InsufficientQuotaFault
    | HangFault
    | ResetFault
    | MalformedFault
    | MissingValueFault
    | MissingExpiresAtFault
    | BadValueFault,
    Field(discriminator="kind"),
]
FaultSpec = Mapping[str, Any] | _FaultBase
_FAULTS = TypeAdapter(list[Fault])


def parse_faults(specs: Iterable[FaultSpec]) -> list[Fault]:
    """Validate fault specs (dicts or fault models); raises pydantic.ValidationError."""
    return _FAULTS.validate_python(
        [spec.model_dump() if isinstance(spec, _FaultBase) else dict(spec) for spec in specs]
    )


@dataclass
class _QueuedFault:
    fault: Fault
    remaining: int


class FaultScript:
    """Thread-safe FIFO of faults; a sticky head is served forever, a repeated one N times.

    A fault applies to the next client_secrets request whatever its key or body: the
    upstream failures it stands for (429, 5xx, resets) come before OpenAI looks at either.
    After a `hang`, the request is answered normally (auth and validation included).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[_QueuedFault] = deque()

    def add(self, faults: Iterable[Fault]) -> None:
        with self._lock:
            self._queue.extend(_QueuedFault(fault, fault.repeat) for fault in faults)

    def replace(self, faults: Iterable[Fault]) -> None:
        with self._lock:
            self._queue = deque(_QueuedFault(fault, fault.repeat) for fault in faults)

    def clear(self) -> None:
        self.replace(())

    def take(self) -> Fault | None:
        with self._lock:
            if not self._queue:
                return None
            head = self._queue[0]
            if not head.fault.sticky:
                head.remaining -= 1
                if head.remaining == 0:
                    self._queue.popleft()
            return head.fault

    def snapshot(self) -> list[dict[str, Any]]:
        """The queue as JSON; `repeat` is what is left of each fault."""
        with self._lock:
            return [
                {**queued.fault.model_dump(mode="json"), "repeat": queued.remaining}
                for queued in self._queue
            ]


_DEFAULT_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", INVALID_API_KEY_MESSAGE),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests per min (RPM). Please try again later.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}


def _status_fault_reply(fault: StatusFault) -> Reply:
    fallback_type = "server_error" if fault.status >= 500 else "invalid_request_error"
    default_type, default_code, default_message = _DEFAULT_ERRORS.get(
        fault.status, (fallback_type, None, f"Emulated {fault.status} error.")
    )
    error = ApiError(
        fault.status,
        fault.message or default_message,
        type=fault.type or default_type,
        param=fault.param,
        code=fault.code or default_code,
    )
    headers = list(fault.headers.items())
    if fault.retry_after_s is not None:
        headers.append(("retry-after", _number(fault.retry_after_s)))
    if fault.retry_after_ms is not None:
        headers.append(("retry-after-ms", _number(fault.retry_after_ms)))
    if fault.should_retry is not None:
        headers.append(("x-should-retry", "true" if fault.should_retry else "false"))
    return error_reply(error, headers)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _unremembered_mint_body(request_body: object) -> dict[str, Any]:
    """A realistic 200 body for the broken-200 faults; never remembered as minted."""
    try:
        request = validate_create_request(request_body)
    except ApiError:
        request = CreateClientSecretRequest()
    return mint(request, time.time()).response_body()


def fault_reply(fault: Fault, request_body: object) -> Reply:
    """The answer for faults that replace the normal answer (not `hang` or `reset`)."""
    match fault:
        case StatusFault():
            return _status_fault_reply(fault)
        case InsufficientQuotaFault():
            error = ApiError(
                429, fault.message, type="insufficient_quota", code="insufficient_quota"
            )
            return error_reply(error)
        case MalformedFault():
            return Reply(fault.status, fault.body.encode(), content_type=fault.content_type)
        case MissingValueFault():
            body = _unremembered_mint_body(request_body)
            del body["value"]
            return json_reply(200, body)
        case MissingExpiresAtFault():
            body = _unremembered_mint_body(request_body)
            del body["expires_at"]
            return json_reply(200, body)
        case BadValueFault():
            body = _unremembered_mint_body(request_body)
            body["value"] = (
                fault.value if fault.value is not None else f"xk_{secrets.token_hex(16)}"
            )
            return json_reply(200, body)
        case HangFault() | ResetFault():
            raise ValueError(f"{fault.kind} is acted out by the connection, not answered")


# --------------------------------------------------------------------------------------
# State shared by the connection threads
# --------------------------------------------------------------------------------------


@dataclass
class _LoggedRequest:
    at: float
    path: str
    request_id: str
    body: Any
    authorized: bool
    fault: str | None = None
    status: int | None = None  # None until a complete answer is sent (hang, reset)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "path": self.path,
            "request_id": self.request_id,
            "status": self.status,
            "fault": self.fault,
            "body": self.body,
            "authorized": self.authorized,
        }


class RequestLog:
    """What the emulator received on `/v1/...`: never the Authorization header."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_LoggedRequest] = []

    def record(self, entry: _LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def set_fault(self, entry: _LoggedRequest, fault: Fault | None) -> None:
        with self._lock:
            entry.fault = fault.kind if fault is not None else None

    def set_status(self, entry: _LoggedRequest, status: int) -> None:
        with self._lock:
            entry.status = status

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [entry.as_dict() for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class _State:
    def __init__(self, api_keys: Sequence[str], latency_ms: tuple[float, float]) -> None:
        self._lock = threading.Lock()
        self._api_keys = tuple(api_keys)
        self._latency_ms = _checked_latency(latency_ms)
        self._minted: dict[str, MintedKey] = {}
        self.faults = FaultScript()
        self.log = RequestLog()
        self.stopping = threading.Event()

    def set_api_keys(self, keys: Sequence[str]) -> None:
        with self._lock:
            self._api_keys = tuple(keys)

    def is_authorized(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        with self._lock:
            keys = self._api_keys
        # Constant-time comparison, as a habit: keys are secrets even here.
        return any(hmac.compare_digest(token.encode(), key.encode()) for key in keys)

    def set_latency(self, latency_ms: tuple[float, float]) -> None:
        checked = _checked_latency(latency_ms)
        with self._lock:
            self._latency_ms = checked

    def latency_ms(self) -> tuple[float, float]:
        with self._lock:
            return self._latency_ms

    def next_delay_s(self) -> float:
        low, high = self.latency_ms()
        return random.uniform(low, high) / 1000 if high > 0 else 0.0

    def remember(self, key: MintedKey) -> None:
        with self._lock:
            self._minted[key.value] = key

    def lookup(self, value: str) -> MintedKey | None:
        with self._lock:
            return self._minted.get(value)

    def key_for_call(self, session: dict[str, Any]) -> str:
        """A key minted for one unified call's session alone, never handed out."""
        key = mint(validate_create_request({"session": session}), time.time())
        self.remember(key)
        return key.value

    def answer_client_secrets(
        self, authorization: str | None, content_type: str | None, raw: bytes
    ) -> Reply:
        """The normal answer: auth first (as upstream), then the body, then a fresh key."""
        try:
            if not self.is_authorized(authorization):
                raise ApiError(401, INVALID_API_KEY_MESSAGE, code="invalid_api_key")
            request = validate_create_request(parse_json_body(raw, content_type))
        except ApiError as error:
            return error_reply(error)
        key = mint(request, time.time())
        self.remember(key)
        return json_reply(200, key.response_body())


def _checked_latency(latency_ms: tuple[float, float]) -> tuple[float, float]:
    low, high = (float(bound) for bound in latency_ms)
    if not 0 <= low <= high:
        raise ValueError(f"latency must satisfy 0 <= min_ms <= max_ms, got {latency_ms!r}")
    return (low, high)


def _parse_json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


# --------------------------------------------------------------------------------------
# Admin API under /_emulator/: the same controls as the Python API, for other processes.
# --------------------------------------------------------------------------------------


class _FaultsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    faults: list[Fault]


class _KeysBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_keys: list[str]


class _LatencyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_ms: float = Field(ge=0)
    max_ms: float = Field(ge=0)


def _admin_error(status: int, message: str) -> Reply:
    return error_reply(ApiError(status, message, code="invalid_value"))


_ModelT = TypeVar("_ModelT", bound=BaseModel)


def _admin_body(model: type[_ModelT], raw: bytes) -> _ModelT:
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ApiError(400, f"Invalid admin request: {details}", code="invalid_value") from None


def _admin_faults(state: _State, method: str, raw: bytes) -> Reply:
    if method == "DELETE":
        state.faults.clear()
    elif method in ("POST", "PUT"):
        faults = _admin_body(_FaultsBody, raw).faults
        (state.faults.add if method == "POST" else state.faults.replace)(faults)
    return json_reply(200, state.faults.snapshot())


def _admin_requests(state: _State, method: str, raw: bytes) -> Reply:
    if method == "DELETE":
        state.log.clear()
    return json_reply(200, state.log.snapshot())


def _admin_keys(state: _State, method: str, raw: bytes) -> Reply:
    keys = _admin_body(_KeysBody, raw).api_keys
    state.set_api_keys(keys)
    return json_reply(200, {"ok": True, "api_keys": len(keys)})  # a count: keys never leave


def _admin_latency(state: _State, method: str, raw: bytes) -> Reply:
    if method == "POST":
        body = _admin_body(_LatencyBody, raw)
        try:
            state.set_latency((body.min_ms, body.max_ms))
        except ValueError as exc:
            raise ApiError(400, str(exc), code="invalid_value") from None
    low, high = state.latency_ms()
    return json_reply(200, {"min_ms": low, "max_ms": high})


def _admin_health(state: _State, method: str, raw: bytes) -> Reply:
    return json_reply(200, {"ok": True})


_AdminRoute = Callable[[_State, str, bytes], Reply]
_ADMIN_ROUTES: dict[str, tuple[frozenset[str], _AdminRoute]] = {
    "/faults": (frozenset({"GET", "POST", "PUT", "DELETE"}), _admin_faults),
    "/requests": (frozenset({"GET", "DELETE"}), _admin_requests),
    "/keys": (frozenset({"PUT"}), _admin_keys),
    "/latency": (frozenset({"GET", "POST"}), _admin_latency),
    "/health": (frozenset({"GET"}), _admin_health),
}


def admin_reply(state: _State, method: str, path: str, raw: bytes) -> Reply:
    route = _ADMIN_ROUTES.get(path.removeprefix(ADMIN_PREFIX))
    if route is None:
        return _admin_error(404, f"No admin route {path}.")
    methods, handler = route
    if method not in methods:
        return _admin_error(405, f"{method} is not allowed on {path}.")
    try:
        return handler(state, method, raw)
    except ApiError as error:
        return error_reply(error)


# --------------------------------------------------------------------------------------
# HTTP: one thread per connection; HTTP/1.1 keep-alive, because ekmint's client reuses
# one connection (design.md, "one upstream call over a kept-alive connection").
# --------------------------------------------------------------------------------------


_PARTIAL_ANSWERS: dict[str, bytes] = {
    "before_answer": b"",
    "status_line": b"HTTP/1.1 200 OK\r\n",
    "headers": b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n",
    "partial_body": (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 512\r\n\r\n"
        b'{"value": "ek_'
    ),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        # A page on another origin preflights its POST to /v1/realtime/calls.
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        # http.server would print every request line to stderr; `_serve_api` logs instead.
        logger.debug("http.server: " + format, *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (bad request line, unsupported method) in OpenAI's
        # envelope too, and on a closed connection: the request body was never read.
        self.close_connection = True
        error = ApiError(code, message or self.responses.get(code, ("Error",))[0])
        self._send(error_reply(error, [("connection", "close")]), _new_request_id())

    def _dispatch(self) -> None:
        started = time.monotonic()
        request_id = _new_request_id()
        path = urlsplit(self.path).path
        raw = self._read_body(request_id)
        if raw is None:
            return
        realtime = self.server.realtime
        # The WebRTC peer's routes: /v1/realtime/calls and /_emulator/realtime/...; a backend's
        # multipart call (unified_calls.py) is an API request, with the fault script.
        unified = unified_calls.is_unified_call(self.command, path, self.headers["content-type"])
        peer = (
            realtime.handle_http(self.command, path, self.headers, raw)
            if realtime and not unified
            else None
        )
        if peer is not None:
            self._send(Reply(peer.status, peer.body, peer.headers, peer.content_type), request_id)
            return
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            self._send(admin_reply(self.server.state, self.command, path, raw), request_id)
            return
        if (self.command, path) == ("GET", MODELS_PATH):
            self._send(self._models_reply(), request_id)
            return
        entry = self._serve_api(path, raw, request_id)
        logger.info(
            "%s %s -> %s fault=%s %.1fms",
            self.command,
            path,
            entry.status if entry.status is not None else "no answer",
            entry.fault or "-",
            (time.monotonic() - started) * 1000,
        )

    def _models_reply(self) -> Reply:
        if not self.server.state.is_authorized(self.headers.get("authorization")):
            return error_reply(ApiError(401, INVALID_API_KEY_MESSAGE, code="invalid_api_key"))
        models = [{"id": "gpt-realtime", "object": "model", "owned_by": "system"}]
        return json_reply(200, {"object": "list", "data": models})

    def _read_body(self, request_id: str) -> bytes | None:
        """The request body, or None after answering an unreadable one (and closing)."""
        if self.headers.get("transfer-encoding"):
            error = ApiError(411, "Chunked request bodies are not supported; send Content-Length.")
        else:
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if 0 <= length <= MAX_BODY_BYTES:
                return self.rfile.read(length)
            error = ApiError(413 if length > 0 else 400, "Invalid or too large Content-Length.")
        self.close_connection = True  # the unread body would be parsed as the next request
        self._send(error_reply(error, [("connection", "close")]), request_id)
        return None

    def _serve_api(self, path: str, raw: bytes, request_id: str) -> _LoggedRequest:
        state = self.server.state
        entry = _LoggedRequest(
            at=time.time(),
            path=path,
            request_id=request_id,
            body=_parse_json_or_none(raw),
            authorized=state.is_authorized(self.headers.get("authorization")),
        )
        state.log.record(entry)
        if not self._pause(state.next_delay_s()):
            return self._drop(entry)
        if self.command != "POST" or path not in (CLIENT_SECRETS_PATH, unified_calls.CALLS_PATH):
            # OpenAI answers unknown routes (like the retired /v1/realtime/sessions) this way.
            reply = error_reply(ApiError(404, f"Invalid URL ({self.command} {path})"))
            return self._answer(entry, reply, request_id)
        fault = state.faults.take()
        state.log.set_fault(entry, fault)
        if isinstance(fault, HangFault):
            if not self._pause(fault.seconds):
                return self._drop(entry)
            fault = None
        if isinstance(fault, ResetFault):
            self._reset_connection(fault.stage)
            return entry
        if fault is not None:
            reply = fault_reply(fault, entry.body)
        elif path == unified_calls.CALLS_PATH:
            answer, entry.body = unified_calls.answer(
                state, self.server.realtime, self.headers, raw
            )
            reply = Reply(*answer)
        else:
            reply = state.answer_client_secrets(
                self.headers.get("authorization"), self.headers.get("content-type"), raw
            )
        return self._answer(entry, reply, request_id)

    def _answer(self, entry: _LoggedRequest, reply: Reply, request_id: str) -> _LoggedRequest:
        # Logged before sending: a client that reads the log right after its answer must find it.
        self.server.state.log.set_status(entry, reply.status)
        self._send(reply, request_id)
        return entry

    def _drop(self, entry: _LoggedRequest) -> _LoggedRequest:
        """Close without answering: the server is stopping or the client already left."""
        self.close_connection = True
        return entry

    def _send(self, reply: Reply, request_id: str) -> None:
        self.send_response(reply.status)
        self.send_header("content-type", reply.content_type)
        self.send_header("content-length", str(len(reply.body)))
        self.send_header("x-request-id", request_id)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _pause(self, seconds: float | None) -> bool:
        """Wait `seconds` (None: until the client leaves); False if the answer must be dropped.

        Waits on the stop event, so `Emulator.stop()` interrupts every hang at once.
        """
        if seconds is not None and seconds <= 0:
            return True
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            remaining = HANG_POLL_S if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return True
            if self.server.state.stopping.wait(min(HANG_POLL_S, remaining)):
                return False
            if _peer_closed(self.connection):
                return False

    def _reset_connection(self, stage: str) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN: the client
        # sees "connection reset by peer" in the middle of the answer.
        self.close_connection = True
        with contextlib.suppress(OSError):
            if partial := _PARTIAL_ANSWERS[stage]:
                self.wfile.write(partial)
                time.sleep(RESET_DELAY_S)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drops makefile()'s reference, or close() would not close the fd
        self.connection.close()


def _peer_closed(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # stop() closes the connections itself; the default join would wait for every idle
    # keep-alive client to hang up.
    block_on_close = False

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        self.state = state
        self.realtime: RealtimePeer | None = None  # set by Emulator.start()
        self._connections_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self.connections_accepted = 0
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on DNS.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        # http.server writes headers and body separately; with Nagle's algorithm the body
        # then waits for the client's delayed ACK (~40 ms a request on Linux loopback).
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(sock)
            self.connections_accepted += 1
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Unblock every connection thread (idle keep-alive reads included)."""
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that leaves mid-answer (timeouts, resets) is routine here, not a bug.
        if isinstance(sys.exc_info()[1], OSError):
            logger.debug("connection from %s ended abruptly", client_address)
        else:
            logger.exception("emulator failed on a request from %s", client_address)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


class Emulator:
    """OpenAI's client_secrets endpoint on 127.0.0.1, with a scriptable fault queue.

    The port is bound on construction (so `url` is known at once); `start()` serves it
    from a daemon thread and `stop()` (or leaving the `with` block) closes it.
    """

    def __init__(
        self,
        api_keys: Sequence[str],
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: tuple[float, float] = (0, 0),
        realtime: bool = True,
    ) -> None:
        _require_loopback(host)
        self._realtime = realtime
        self._initial_api_keys = tuple(api_keys)
        self._initial_latency_ms = latency_ms
        self._state = _State(api_keys, latency_ms)
        self._server = _Server((host, port), self._state)
        bound_port = self._server.server_port
        self.url = f"http://{host}:{bound_port}/v1"
        self.admin_url = f"http://{host}:{bound_port}{ADMIN_PREFIX}"
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> Emulator:
        if self._thread is not None or self._stopped:
            raise RuntimeError("an Emulator can be started once")
        if self._realtime:
            # Imported here: aiortc takes a few hundred ms to import.
            from .realtime_peer import RealtimePeer

            self._server.realtime = RealtimePeer(self._state.lookup).start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": HANG_POLL_S},
            name=f"ekmint-emulator-{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop promptly: interrupts hangs, closes kept-alive connections, frees the port."""
        if self._stopped:
            return
        self._stopped = True
        self._state.stopping.set()
        if self._thread is not None:
            self._server.shutdown()  # only valid once serve_forever runs: it waits for it
            self._thread.join(STOP_JOIN_TIMEOUT_S)
        self._server.close_connections()
        self._server.server_close()
        if self._server.realtime is not None:
            self._server.realtime.stop()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def set_faults(self, faults: Sequence[FaultSpec]) -> None:
        """Replace the fault queue; raises pydantic.ValidationError for a bad spec."""
        self._state.faults.replace(parse_faults(faults))

    def add_faults(self, faults: Sequence[FaultSpec]) -> None:
        self._state.faults.add(parse_faults(faults))

    def clear_faults(self) -> None:
        self._state.faults.clear()

    @property
    def faults(self) -> list[dict[str, Any]]:
        return self._state.faults.snapshot()

    def set_api_keys(self, keys: Sequence[str]) -> None:
        self._state.set_api_keys(keys)

    def set_latency(self, min_ms: float, max_ms: float) -> None:
        self._state.set_latency((min_ms, max_ms))

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self._state.log.snapshot()

    def clear_requests(self) -> None:
        self._state.log.clear()

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far: shows whether a client kept its connection."""
        return self._server.connections_accepted

    def lookup(self, value: str) -> MintedKey | None:
        return self._state.lookup(value)

    @property
    def realtime(self) -> RealtimePeer | None:
        """The WebRTC peer (faults, call log) once started; None with realtime=False."""
        return self._server.realtime

    def reset(self) -> None:
        """Back to the constructor's keys and latency, with no faults and an empty log."""
        self._state.faults.clear()
        self._state.log.clear()
        self._state.set_api_keys(self._initial_api_keys)
        self._state.set_latency(self._initial_latency_ms)
        if self._server.realtime is not None:
            self._server.realtime.reset()


def _require_loopback(host: str) -> None:
    # The emulator accepts any request from anyone who can reach it: keep it on loopback.
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or address.version != 4 or not address.is_loopback:
        raise ValueError(f"the emulator binds IPv4 loopback only (127.0.0.0/8), not {host!r}")


# --------------------------------------------------------------------------------------
# python -m ekmint_dev.emulator
# --------------------------------------------------------------------------------------


def _latency_arg(text: str) -> tuple[float, float]:
    try:
        bounds = [float(part) for part in text.split(",")]
        low, high = (bounds[0], bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])
        if len(bounds) > 2:
            raise ValueError
        return _checked_latency((low, high))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX milliseconds, got {text!r}") from None


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ekmint_dev.emulator",
        description="Serve a local OpenAI Realtime client_secrets emulator on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_CLI_PORT, help="0 picks a free port")
    parser.add_argument(
        "--api-key",
        action="append",
        required=True,
        dest="api_keys",
        help="an accepted API key (repeat for several)",
    )
    parser.add_argument(
        "--latency-ms",
        type=_latency_arg,
        default=(0.0, 0.0),
        help="added latency per request, MIN,MAX in milliseconds (e.g. 0,20)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with Emulator(args.api_keys, port=args.port, latency_ms=args.latency_ms) as emulator:
        print(f"ekmint emulator: {emulator.url} (admin {emulator.admin_url})", flush=True)
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop_requested.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
