"""The retry and error-mapping rules of the upstream call, against httpx's own MockTransport
and a fake clock (so backoff schedules are checked exactly, without sleeping). The real
transport against the emulator over HTTP is tests/integration/test_mint_faults.py's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from ekmint.deadline import Deadline
from ekmint.errors import OpenAIUnavailable, TokenGenerationFailed
from ekmint.upstream import (
    AZURE,
    OPENAI,
    Provider,
    RetryPolicy,
    UpstreamFailure,
    create_client_secret,
)

GOOD = {"value": "ek_unit", "expires_at": 1_900_000_000, "session": {"type": "realtime"}}
POLICY = RetryPolicy(max_attempts=4, backoff_base_s=1.0, connect_timeout_s=2, read_timeout_s=8)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes
    timeouts: dict[str, float | None]


Scripted = httpx.Response | Exception


def json_answer(
    status: int, document: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, json=document, headers=headers or {})


def ok(document: Any = GOOD, headers: dict[str, str] | None = None) -> httpx.Response:
    return json_answer(200, document, headers)


def error(
    status: int, code: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"error": {"message": "x", "type": code or "server_error", "param": None, "code": code}}
    return json_answer(status, body, headers)


def run(
    *answers: Scripted,
    budget_s: float = 25.0,
    keys: list[str] | None = None,
    provider: Provider = OPENAI,
) -> tuple[Any, list[Sent], FakeClock, list[bool]]:
    """Answers from a script (the last one repeats), each request recorded."""
    queue = list(answers)
    seen: list[Sent] = []
    clock = FakeClock()
    refreshes: list[bool] = []
    key_values = keys or ["sk-first"]

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(
            Sent(
                request.method,
                str(request.url),
                dict(request.headers),
                request.read(),
                dict(request.extensions["timeout"]),
            )
        )
        scripted = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(scripted, Exception):
            raise scripted
        return scripted

    def get_key(refresh: bool) -> str:
        refreshes.append(refresh)
        return key_values[min(refreshes.count(True), len(key_values) - 1)]

    client = httpx.Client(transport=httpx.MockTransport(answer), base_url="https://api.test/v1/")
    try:
        result: Any = create_client_secret(
            client,
            {"session": {"type": "realtime"}},
            get_key,
            Deadline(at=clock() + budget_s, clock=clock),
            POLICY,
            sleep=clock.sleep,
            rand=lambda: 0.5,
            clock=clock,
            provider=provider,
        )
    except UpstreamFailure as failure:
        result = failure
    return result, seen, clock, refreshes


def test_backoff_doubles_from_one_second_with_bounded_jitter() -> None:
    assert [POLICY.backoff_s(n, lambda: 0.5) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert POLICY.backoff_s(1, lambda: 0.0) == 0.75
    assert POLICY.backoff_s(1, lambda: 0.999) < 1.25


def test_success_posts_the_body_to_client_secrets_with_the_bearer_key() -> None:
    (secret, report), seen, _, _ = run(ok(headers={"X-Request-Id": "req_1"}))
    assert secret.value == "ek_unit" and secret.expires_at == GOOD["expires_at"]
    assert seen[0].method == "POST"
    assert seen[0].url == "https://api.test/v1/realtime/client_secrets"
    assert seen[0].headers["authorization"] == "Bearer sk-first"
    assert seen[0].headers["content-type"] == "application/json"
    assert json.loads(seen[0].content) == {"session": {"type": "realtime"}}
    assert report.last_request_id == "req_1" and len(report.attempts) == 1


def test_retries_5xx_on_the_1_2_4_second_schedule_then_gives_up_with_503() -> None:
    failure, seen, clock, _ = run(error(500))
    assert isinstance(failure.error, OpenAIUnavailable)
    assert len(seen) == 4
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert failure.error.retry_after_s is not None


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_until_success(status: int) -> None:
    (secret, _), seen, _, _ = run(error(status), ok())
    assert secret.value == "ek_unit" and len(seen) == 2


def test_retries_429_after_retry_after_seconds() -> None:
    _, seen, clock, _ = run(error(429, "rate_limit_exceeded", {"retry-after": "3"}), ok())
    assert clock.sleeps == [3.0] and len(seen) == 2


def test_retry_after_ms_wins_over_retry_after() -> None:
    _, _, clock, _ = run(
        error(429, None, {"retry-after-ms": "250", "retry-after": "9"}),
        ok(),
    )
    assert clock.sleeps == [0.25]


def test_a_retry_after_longer_than_a_minute_is_passed_to_the_caller() -> None:
    failure, seen, clock, _ = run(error(429, None, {"retry-after": "120"}))
    assert isinstance(failure.error, OpenAIUnavailable)
    assert failure.error.retry_after_s == 120 and len(seen) == 1 and clock.sleeps == []


def test_insufficient_quota_is_never_retried() -> None:
    failure, seen, _, _ = run(error(429, "insufficient_quota"))
    assert isinstance(failure.error, TokenGenerationFailed) and len(seen) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    failure, seen, _, _ = run(error(status, "invalid_request_error"))
    assert isinstance(failure.error, TokenGenerationFailed) and len(seen) == 1
    assert f"HTTP {status}" in failure.error.message


def test_x_should_retry_false_stops_retries_of_a_5xx() -> None:
    failure, seen, _, _ = run(error(503, None, {"x-should-retry": "false"}))
    assert isinstance(failure.error, OpenAIUnavailable) and len(seen) == 1


def test_x_should_retry_true_retries_even_a_400() -> None:
    (secret, _), seen, _, _ = run(error(400, None, {"x-should-retry": "true"}), ok())
    assert secret.value == "ek_unit" and len(seen) == 2


def test_401_refreshes_the_key_once_and_retries_with_the_new_one() -> None:
    (secret, report), seen, clock, refreshes = run(
        error(401, "invalid_api_key"), ok(), keys=["sk-old", "sk-new"]
    )
    assert secret.value == "ek_unit" and report.key_refreshed
    assert [r.headers["authorization"] for r in seen] == ["Bearer sk-old", "Bearer sk-new"]
    assert refreshes.count(True) == 1 and clock.sleeps == []


def test_401_after_the_refresh_is_token_generation_failed() -> None:
    failure, seen, _, refreshes = run(error(401, "invalid_api_key"))
    assert isinstance(failure.error, TokenGenerationFailed)
    assert len(seen) == 2 and refreshes.count(True) == 1
    assert "sk-" not in failure.error.message


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (httpx.ConnectError("refused"), "connect_error"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectTimeout("slow"), "timeout"),
        (httpx.RemoteProtocolError("reset"), "remote_protocol_error"),
    ],
)
def test_transport_errors_are_retried(exc: Exception, outcome: str) -> None:
    (secret, report), seen, _, _ = run(exc, ok())
    assert secret.value == "ek_unit" and len(seen) == 2
    assert report.attempts[0].status is None and report.attempts[0].outcome == outcome


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, headers={"content-type": "text/html"}, content=b"<html>oops</html>"),
        ok({"expires_at": 1}),
        ok({"value": "ek_x"}),
        ok({"value": "sk-not-ephemeral", "expires_at": 1}),
        ok({"value": "ek_x", "expires_at": "soon"}),
        ok([1]),
    ],
)
def test_malformed_success_is_token_generation_failed_without_retry(
    answer: httpx.Response,
) -> None:
    failure, seen, _, _ = run(answer)
    assert isinstance(failure.error, TokenGenerationFailed) and len(seen) == 1


def test_never_sleeps_past_the_deadline() -> None:
    failure, seen, clock, _ = run(error(503), budget_s=2.5)
    assert isinstance(failure.error, OpenAIUnavailable)
    # 1 s backoff fits in 2.5 s, the next 2 s does not: two attempts, one sleep.
    assert len(seen) == 2 and clock.sleeps == [1.0]
    assert clock.now - 1000.0 <= 2.5


def test_each_attempt_timeout_is_capped_by_the_time_left() -> None:
    _, seen, _, _ = run(ok(), budget_s=1.5)
    assert seen[0].timeouts["connect"] == 1.5 and seen[0].timeouts["read"] == 1.5


def test_no_attempt_when_the_deadline_has_passed() -> None:
    failure, seen, _, _ = run(ok(), budget_s=0.0)
    assert isinstance(failure.error, OpenAIUnavailable) and seen == []


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "-inf", "soon", ""])
def test_a_hostile_retry_after_falls_back_to_our_backoff(value: str) -> None:
    (secret, _), _, clock, _ = run(error(429, None, {"retry-after": value}), ok())
    assert secret.value == "ek_unit" and clock.sleeps == [1.0]


@pytest.mark.parametrize("value", ["-5", "nan", "inf"])
def test_a_hostile_retry_after_ms_falls_back_to_our_backoff(value: str) -> None:
    (secret, _), _, clock, _ = run(error(429, None, {"retry-after-ms": value}), ok())
    assert secret.value == "ek_unit" and clock.sleeps == [1.0]


@pytest.mark.parametrize("value", ["1e308", "1e30", "99999999"])
def test_an_absurd_retry_after_is_clamped_for_the_caller(value: str) -> None:
    failure, seen, clock, _ = run(error(429, None, {"retry-after": value}))
    assert isinstance(failure.error, OpenAIUnavailable) and len(seen) == 1
    assert failure.error.retry_after_s == 3600 and clock.sleeps == []


def test_retry_after_as_an_http_date() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=3)
    _, _, clock, _ = run(
        error(429, None, {"retry-after": format_datetime(soon, usegmt=True)}), ok()
    )
    # Whole seconds in the header; the wait is what is left of them, at most 3 s.
    assert len(clock.sleeps) == 1 and 1.0 <= clock.sleeps[0] <= 3.0


# -- Azure OpenAI ----------------------------------------------------------------------------


def azure_error(
    status: int, message: str = "x", headers: dict[str, str] | None = None
) -> httpx.Response:
    # Azure's envelope: the status as the code, no type.
    return json_answer(status, {"error": {"code": str(status), "message": message}}, headers)


def test_azure_sends_the_key_as_api_key_and_never_as_authorization() -> None:
    (secret, _), seen, _, _ = run(ok(), provider=AZURE)
    assert secret.value == "ek_unit"
    assert seen[0].headers["api-key"] == "sk-first"
    assert "authorization" not in seen[0].headers
    assert seen[0].url == "https://api.test/v1/realtime/client_secrets"


def test_azure_429_waits_retry_after_ms() -> None:
    _, seen, clock, _ = run(
        azure_error(429, headers={"retry-after-ms": "1500", "retry-after": "2"}),
        ok(),
        provider=AZURE,
    )
    assert clock.sleeps == [1.5] and len(seen) == 2


def test_azure_403_says_the_region_may_not_offer_the_model() -> None:
    failure, seen, _, _ = run(azure_error(403), provider=AZURE)
    assert isinstance(failure.error, TokenGenerationFailed) and len(seen) == 1
    assert "Azure OpenAI" in failure.error.message and "region" in failure.error.message


def test_azure_401_refreshes_the_key_once_then_names_the_resource_key() -> None:
    failure, seen, _, refreshes = run(azure_error(401), provider=AZURE, keys=["sk-a", "sk-b"])
    assert isinstance(failure.error, TokenGenerationFailed)
    assert [s.headers["api-key"] for s in seen] == ["sk-a", "sk-b"]
    assert "api-key" in failure.error.message and refreshes.count(True) == 1


def test_azure_5xx_is_openai_api_unavailable_naming_azure() -> None:
    failure, seen, _, _ = run(azure_error(503), provider=AZURE)
    assert isinstance(failure.error, OpenAIUnavailable) and len(seen) == 4
    assert failure.error.message.startswith("Azure OpenAI")


def test_an_azure_answer_without_expires_at_is_usable() -> None:
    (secret, _), _, _, _ = run(ok({"value": "ek_azure", "session": {}}), provider=AZURE)
    assert secret.value == "ek_azure" and secret.expires_at is None


def test_an_openai_answer_without_expires_at_is_still_refused() -> None:
    failure, _, _, _ = run(ok({"value": "ek_x", "session": {}}))
    assert isinstance(failure.error, TokenGenerationFailed)


def test_azure_apim_request_id_is_kept_when_x_request_id_is_absent() -> None:
    (_, report), _, _, _ = run(ok(headers={"apim-request-id": "apim-1"}), provider=AZURE)
    assert report.last_request_id == "apim-1"
