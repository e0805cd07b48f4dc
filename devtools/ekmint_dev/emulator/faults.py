"""Faults: a FIFO script; each client_secrets request takes the next one."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from .client_secrets import MintedKey, mint
from .contract import (
    INSUFFICIENT_QUOTA_MESSAGE,
    INVALID_API_KEY_MESSAGE,
    CreateClientSecretRequest,
    validate_create_request,
)
from .dialect import OPENAI, Dialect
from .replies import ApiError, Reply, error_reply, json_reply


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


def _status_fault_reply(fault: StatusFault, dialect: Dialect) -> Reply:
    headers = list(fault.headers.items())
    if fault.retry_after_s is not None:
        headers.append(("retry-after", _number(fault.retry_after_s)))
    if fault.retry_after_ms is not None:
        headers.append(("retry-after-ms", _number(fault.retry_after_ms)))
    if fault.should_retry is not None:
        headers.append(("x-should-retry", "true" if fault.should_retry else "false"))
    if dialect.name == "azure":
        return error_reply(dialect.error(fault.status, fault.message, fault.code), headers)
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
    return error_reply(error, headers)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _mint_for_fault(request_body: object) -> MintedKey:
    try:
        request = validate_create_request(request_body)
    except ApiError:
        request = CreateClientSecretRequest()
    return mint(request, time.time())


def _unremembered_mint_body(request_body: object) -> dict[str, Any]:
    """A realistic 200 body for the broken-200 faults; never remembered as minted."""
    return _mint_for_fault(request_body).response_body()


def fault_reply(
    fault: Fault,
    request_body: object,
    dialect: Dialect = OPENAI,
    remember: Callable[[MintedKey], None] | None = None,
) -> Reply:
    """The answer for faults that replace the normal answer (not `hang` or `reset`)."""
    match fault:
        case StatusFault():
            return _status_fault_reply(fault, dialect)
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
            key = _mint_for_fault(request_body)
            if dialect.name == "azure" and remember is not None:
                # Azure's answer may lack expires_at and still be a working key: the peer
                # admits it, so a page can connect with it.
                remember(key)
            body = key.response_body()
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
