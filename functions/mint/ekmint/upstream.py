"""OpenAI's `POST /realtime/client_secrets`, with retries that fit inside the deadline.

Two providers speak it (`Provider`): OpenAI (the key as a bearer token) and Azure OpenAI's v1 API
(the resource key in `api-key`, never in Authorization; the answer may lack `expires_at`). The
path is the same under each one's base URL.

One `httpx.Client` per execution environment (dependencies.py) keeps the TLS connection alive
between mints. Retries follow OpenAI's SDK conventions (retry-after-ms, retry-after,
x-should-retry) with our own bounds: the SDK's defaults (600 s read timeout) would outlive any
Lambda. The policy is product logic, so it is ours; the transport is httpx's.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from .deadline import Deadline
from .errors import OpenAIUnavailable, TokenGenerationFailed

CLIENT_SECRETS_PATH = "/realtime/client_secrets"
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


class UpstreamFailure(Exception):
    """Carries the caller-facing error and the report, so failures are audited too."""

    def __init__(self, error: TokenGenerationFailed | OpenAIUnavailable, report: UpstreamReport):
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


def _should_retry(response: httpx.Response, code: str | None) -> bool:
    if code == "insufficient_quota":
        # A 429 that no retry fixes: the account is out of credit.
        return False
    forced = response.headers.get("x-should-retry")
    if forced == "true":
        return True
    if forced == "false":
        return False
    return response.status_code in RETRYABLE_STATUS


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
            response = client.post(
                CLIENT_SECRETS_PATH,
                json=body,
                headers=provider.auth_headers(get_key(False)),
                timeout=timeout,
            )
        except httpx.TimeoutException:
            report.attempts.append(Attempt(None, "timeout", (clock() - started) * 1000))
            wait_s: float | None = None
        except httpx.TransportError as exc:
            report.attempts.append(Attempt(None, _transport_kind(exc), (clock() - started) * 1000))
            wait_s = None
        else:
            latency_ms = (clock() - started) * 1000
            # Azure sends apim-request-id, and x-request-id not always.
            request_id = response.headers.get("x-request-id") or response.headers.get(
                "apim-request-id"
            )
            status = response.status_code
            if status == 200:
                try:
                    secret = _parse_success(response, provider)
                except ValueError as exc:
                    report.attempts.append(Attempt(status, "malformed", latency_ms, request_id))
                    raise UpstreamFailure(
                        TokenGenerationFailed(f"{name}'s answer was unusable: {exc}."), report
                    ) from None
                report.attempts.append(Attempt(status, "ok", latency_ms, request_id))
                return secret, report
            code = _error_code(response)
            report.attempts.append(Attempt(status, code or "error", latency_ms, request_id))
            if status == 401 and not report.key_refreshed:
                # The key may have been rotated since we cached it: fetch it once more.
                get_key(True)
                report.key_refreshed = True
                continue
            if not _should_retry(response, code):
                if status in RETRYABLE_STATUS and code != "insufficient_quota":
                    # Transient by nature, but OpenAI said not to retry (x-should-retry: false).
                    raise _unavailable(report, f"{name} is unavailable.", retry_after_s=None)
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
