"""OpenAI's `POST /realtime/client_secrets` and `POST /realtime/calls`, with retries that fit
inside the deadline.

Two providers speak it (`Provider`): OpenAI (the key as a bearer token) and Azure OpenAI's v1 API
(the resource key in `api-key`, never in Authorization; the answer may lack `expires_at`). The
paths are the same under each one's base URL.

One `httpx.Client` per execution environment (dependencies.py) keeps the TLS connection alive
between mints. Retries follow OpenAI's SDK conventions (retry-after-ms, retry-after,
x-should-retry) with our own bounds: the SDK's defaults (600 s read timeout) would outlive any
Lambda. The policy is product logic, so it is ours; the transport is httpx's.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from .deadline import Deadline
from .errors import InvalidOffer, MintError, OpenAIUnavailable, TokenGenerationFailed

CLIENT_SECRETS_PATH = "/realtime/client_secrets"
# OpenAI's unified interface: the page's SDP offer and the session, multipart, with the real key.
CALLS_PATH = "/realtime/calls"
# OpenAI's call ids are rtc_ and hex; anything else in Location is not kept (it goes to the audit).
CALL_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
USER_AGENT = "ekmint/0.1"
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
# Longest server-asked wait we will honour; beyond it, answer 503 with that Retry-After.
MAX_RETRY_AFTER_S = 60.0
# Largest Retry-After we pass on to a caller, whatever the upstream said.
MAX_ANNOUNCED_RETRY_AFTER_S = 3600.0
JITTER = 0.25
# An attempt with less time than this left is not worth starting.
MIN_ATTEMPT_S = 0.2


@dataclass(frozen=True)
class Provider:
    """What differs between upstreams: the name operators read in messages, how the key is
    sent, and whether an answer without `expires_at` is usable (the mint then derives it)."""

    name: str
    key_header: str
    key_scheme: str = ""
    expires_at_optional: bool = False

    def auth_headers(self, key: str) -> dict[str, str]:
        return {self.key_header: f"{self.key_scheme}{key}"}


OPENAI = Provider("OpenAI", "authorization", "Bearer ")
# Azure: "api-key: <resource key>"; Microsoft's own sample reads only `value` from the answer.
AZURE = Provider("Azure OpenAI", "api-key", expires_at_optional=True)
PROVIDERS = {"openai": OPENAI, "azure": AZURE}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_base_s: float = 1.0
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 8.0

    def backoff_s(self, retry_number: int, rand: Callable[[], float]) -> float:
        """1, 2, 4 s … times a jitter factor in [1 - JITTER, 1 + JITTER)."""
        return float(
            self.backoff_base_s * 2 ** (retry_number - 1) * (1 - JITTER + 2 * JITTER * rand())
        )


@dataclass
class Attempt:
    status: int | None
    outcome: str
    latency_ms: float
    upstream_request_id: str | None = None


@dataclass
class UpstreamReport:
    """What the audit record keeps of the upstream exchange, success or not."""

    attempts: list[Attempt] = field(default_factory=list)
    key_refreshed: bool = False

    @property
    def last_request_id(self) -> str | None:
        for attempt in reversed(self.attempts):
            if attempt.upstream_request_id:
                return attempt.upstream_request_id
        return None

    @property
    def last_status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None

    @property
    def latency_ms(self) -> float:
        return sum(a.latency_ms for a in self.attempts)


@dataclass(frozen=True)
class ClientSecret:
    value: str
    # None only from a provider whose answer may lack it (Azure): the mint derives it.
    expires_at: int | None
    session: dict[str, Any]


@dataclass(frozen=True)
class Call:
    """A call the upstream created: its SDP answer (never logged) and its id (audited)."""

    answer_sdp: str
    call_id: str | None


_T = TypeVar("_T")


class UpstreamFailure(Exception):
    """Carries the caller-facing error and the report, so failures are audited too."""

    def __init__(self, error: MintError, report: UpstreamReport):
        super().__init__(error.message)
        self.error = error
        self.report = report


def _retry_after_s(
    headers: httpx.Headers, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> float | None:
    """The wait the server asks for, in seconds, or None when it asks for none we can trust.

    Accepts `retry-after-ms` (OpenAI, Azure) and `retry-after` as seconds or an HTTP date. Only a
    finite, non-negative number counts: `-5`, `nan`, `inf` or garbage fall back to our backoff,
    and the caller clamps what remains (MAX_RETRY_AFTER_S, the deadline)."""
    candidates: list[float] = []
    try:
        if "retry-after-ms" in headers:
            candidates.append(float(headers["retry-after-ms"]) / 1000)
    except ValueError:
        pass
    if not candidates and "retry-after" in headers:
        text = headers["retry-after"].strip()
        try:
            candidates.append(float(text))
        except ValueError:
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            candidates.append(max(0.0, (when - now()).total_seconds()))
    if not candidates or not math.isfinite(candidates[0]) or candidates[0] < 0:
        return None
    return candidates[0]


def _error_code(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error") or {}
        code = error.get("code") or error.get("type")
    except (ValueError, AttributeError):
        return None
    return str(code) if code else None


def _should_retry(response: httpx.Response, code: str | None, *, replayable: bool) -> bool:
    if code == "insufficient_quota":
        # A 429 that no retry fixes: the account is out of credit.
        return False
    forced = response.headers.get("x-should-retry")
    if forced == "false":
        return False
    if forced == "true":
        return True
    if replayable:
        return response.status_code in RETRYABLE_STATUS
    # A request that creates something (a call) is repeated only where the upstream said it
    # created nothing: a 429 is a refusal before any work; a 5xx without x-should-retry may
    # have come after the call was created (a gateway timing out behind it), and a second call
    # would be a second session charged to the account.
    return response.status_code == 429


def _parse_success(response: httpx.Response, provider: Provider = OPENAI) -> ClientSecret:
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ValueError("the answer is not a JSON object")
    value = document.get("value")
    expires_at = document.get("expires_at")
    session = document.get("session")
    if not isinstance(value, str) or not value.startswith("ek_"):
        raise ValueError("the answer has no ek_ value")
    if expires_at is None and provider.expires_at_optional:
        pass
    elif not isinstance(expires_at, int) or isinstance(expires_at, bool):
        raise ValueError("the answer has no integer expires_at")
    return ClientSecret(
        value=value, expires_at=expires_at, session=session if isinstance(session, dict) else {}
    )


def _parse_call(response: httpx.Response) -> Call:
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    text = response.text
    if media_type != "application/sdp" or not text.startswith("v=0"):
        raise ValueError("the answer is not an SDP answer")
    location = response.headers.get("location", "")
    call_id = location.rstrip("/").rsplit("/", 1)[-1]
    return Call(answer_sdp=text, call_id=call_id if CALL_ID_PATTERN.match(call_id) else None)


def create_client_secret(
    client: httpx.Client,
    body: dict[str, Any],
    get_key: Callable[[bool], str],
    deadline: Deadline,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.monotonic,
    provider: Provider = OPENAI,
) -> tuple[ClientSecret, UpstreamReport]:
    """Mint one client secret or raise UpstreamFailure; never runs past `deadline`."""

    def send(key: str, timeout: httpx.Timeout) -> httpx.Response:
        return client.post(
            CLIENT_SECRETS_PATH, json=body, headers=provider.auth_headers(key), timeout=timeout
        )

    return _exchange(
        send,
        lambda response: _parse_success(response, provider),
        provider=provider,
        success_status=200,
        get_key=get_key,
        deadline=deadline,
        policy=policy,
        replayable=True,
        sleep=sleep,
        rand=rand,
        clock=clock,
    )


def create_call(
    client: httpx.Client,
    offer_sdp: bytes,
    get_key: Callable[[bool], str],
    deadline: Deadline,
    policy: RetryPolicy,
    *,
    session: dict[str, Any],
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.monotonic,
    provider: Provider = OPENAI,
) -> tuple[Call, UpstreamReport]:
    """Create one call from the page's offer (OpenAI's unified interface: multipart `sdp` and
    `session` parts) or raise UpstreamFailure; never runs past `deadline`, and never repeats a
    request that may already have created a call."""
    # Form fields without a filename, as OpenAI's own example sends them (curl -F).
    parts: dict[str, tuple[str | None, bytes, str]] = {
        "sdp": (None, offer_sdp, "application/sdp"),
        "session": (None, json.dumps(session, separators=(",", ":")).encode(), "application/json"),
    }

    def send(key: str, timeout: httpx.Timeout) -> httpx.Response:
        return client.post(
            CALLS_PATH, files=parts, headers=provider.auth_headers(key), timeout=timeout
        )

    return _exchange(
        send,
        _parse_call,
        provider=provider,
        success_status=201,
        get_key=get_key,
        deadline=deadline,
        policy=policy,
        replayable=False,
        sleep=sleep,
        rand=rand,
        clock=clock,
    )


# Transport errors raised before the whole request left us: the upstream cannot have acted on
# it (a multipart body cut short is no request). Any other (a read timeout, a connection closed
# without an answer) may come after the upstream did its work.
_NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)


def _exchange(
    send: Callable[[str, httpx.Timeout], httpx.Response],
    parse: Callable[[httpx.Response], _T],
    *,
    provider: Provider,
    success_status: int,
    get_key: Callable[[bool], str],
    deadline: Deadline,
    policy: RetryPolicy,
    replayable: bool,
    sleep: Callable[[float], None],
    rand: Callable[[], float],
    clock: Callable[[], float],
) -> tuple[_T, UpstreamReport]:
    """One upstream request with our retry policy. `replayable` False: the request creates
    something, so it is repeated only when the upstream certainly did not act on it."""
    report = UpstreamReport()
    name = provider.name
    retries = 0
    while True:
        left = deadline.remaining()
        if left < MIN_ATTEMPT_S:
            raise _unavailable(report, f"{name} did not answer in time.", retry_after_s=2)
        # Each phase of an attempt is capped by the time left; the pool wait too.
        read_s = min(policy.read_timeout_s, left)
        timeout = httpx.Timeout(read_s, connect=min(policy.connect_timeout_s, left))
        started = clock()
        try:
            response = send(get_key(False), timeout)
        except httpx.TransportError as exc:
            kind = "timeout" if isinstance(exc, httpx.TimeoutException) else _transport_kind(exc)
            report.attempts.append(Attempt(None, kind, (clock() - started) * 1000))
            if not replayable and not isinstance(exc, _NEVER_SENT):
                raise _unavailable(
                    report,
                    f"{name} did not confirm the call; it was not repeated.",
                    retry_after_s=2,
                ) from None
            wait_s: float | None = None
        else:
            latency_ms = (clock() - started) * 1000
            # Azure sends apim-request-id, and x-request-id not always.
            request_id = response.headers.get("x-request-id") or response.headers.get(
                "apim-request-id"
            )
            status = response.status_code
            if status == success_status:
                try:
                    result = parse(response)
                except ValueError as exc:
                    report.attempts.append(Attempt(status, "malformed", latency_ms, request_id))
                    raise UpstreamFailure(
                        TokenGenerationFailed(f"{name}'s answer was unusable: {exc}."), report
                    ) from None
                report.attempts.append(Attempt(status, "ok", latency_ms, request_id))
                return result, report
            code = _error_code(response)
            report.attempts.append(Attempt(status, code or "error", latency_ms, request_id))
            if status == 401 and not report.key_refreshed:
                # The key may have been rotated since we cached it: fetch it once more. A 401
                # created nothing, so this holds for calls too.
                get_key(True)
                report.key_refreshed = True
                continue
            if not _should_retry(response, code, replayable=replayable):
                if status in RETRYABLE_STATUS and code != "insufficient_quota":
                    # Transient by nature, but not to be repeated (x-should-retry: false, or a
                    # call the upstream may have created).
                    raise _unavailable(report, f"{name} is unavailable.", retry_after_s=None)
                if not replayable and status == 400 and _blames_the_offer(response):
                    raise UpstreamFailure(
                        InvalidOffer(f"{name} could not use the SDP offer."), report
                    )
                raise _permanent(report, status, code, provider)
            wait_s = _retry_after_s(response.headers)
            if wait_s is not None and wait_s > MAX_RETRY_AFTER_S:
                raise _unavailable(report, f"{name} asked us to wait.", retry_after_s=wait_s)

        retries += 1
        if len(report.attempts) >= policy.max_attempts + int(report.key_refreshed):
            raise _unavailable(report, f"{name} kept failing.", retry_after_s=wait_s)
        delay_s = wait_s if wait_s is not None else policy.backoff_s(retries, rand)
        if delay_s + MIN_ATTEMPT_S > deadline.remaining():
            raise _unavailable(report, f"{name} kept failing.", retry_after_s=delay_s)
        sleep(delay_s)


def _transport_kind(exc: httpx.TransportError) -> str:
    """The audit record's name for a failed attempt: connect_error, read_error, … as httpx
    names its exceptions (never their text, which can hold addresses)."""
    name = type(exc).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _unavailable(
    report: UpstreamReport, message: str, *, retry_after_s: float | None
) -> UpstreamFailure:
    # Clamped: a hostile or broken upstream cannot make us send an absurd Retry-After.
    bounded = min(retry_after_s, MAX_ANNOUNCED_RETRY_AFTER_S) if retry_after_s else None
    seconds = max(1, round(bounded)) if bounded else 2
    return UpstreamFailure(OpenAIUnavailable(message, retry_after_s=seconds), report)


def _blames_the_offer(response: httpx.Response) -> bool:
    """A 400 to a call names what it refused in `error.param`: the session is ours (a 502,
    the operator's to fix); anything else (`sdp`, or nothing, as for an SDP OpenAI cannot
    parse) is the page's offer (a 400, the caller's)."""
    try:
        param = (response.json().get("error") or {}).get("param")
    except (ValueError, AttributeError):
        return True
    return not (isinstance(param, str) and param.startswith("session"))


def _permanent(
    report: UpstreamReport, status: int, code: str | None, provider: Provider = OPENAI
) -> UpstreamFailure:
    if provider is AZURE:
        return UpstreamFailure(TokenGenerationFailed(_azure_message(status, code)), report)
    if status == 401:
        message = "OpenAI refused the service's API key."
    elif code == "insufficient_quota":
        message = "The OpenAI account behind this service is out of quota."
    else:
        message = f"OpenAI refused the request (HTTP {status}{f', {code}' if code else ''})."
    return UpstreamFailure(TokenGenerationFailed(message), report)


def _azure_message(status: int, code: str | None) -> str:
    """Azure's refusals, worded for the operator who has to fix the resource or the policy."""
    if status == 401:
        return "Azure OpenAI refused the resource key (sent as api-key); check the secret."
    if status == 403:
        # Azure answers 403 where the resource's region does not offer the Realtime model.
        return (
            "Azure OpenAI refused the request (HTTP 403): the resource's region may not offer "
            "the Realtime model (it is deployed in East US 2 and Sweden Central)."
        )
    if status == 404:
        return (
            "Azure OpenAI found no such deployment (HTTP 404): the session policy's models "
            "must be deployment names on this resource."
        )
    return f"Azure OpenAI refused the request (HTTP {status}{f', {code}' if code else ''})."
