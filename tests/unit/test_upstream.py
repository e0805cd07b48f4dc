"""The retry and error-mapping rules of the upstream call, against a scripted transport and a
fake clock (so backoff schedules are checked exactly, without sleeping). The real transport's
own behaviour (connections, httpcore's errors as TransportError) is test_connection.py's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from ekmint.deadline import Deadline
from ekmint.errors import OpenAIUnavailable, TokenGenerationFailed
from ekmint.http_client import Answer, HttpClient, TimedOut, Timeouts, TransportError
from ekmint.upstream import RetryPolicy, UpstreamFailure, create_client_secret

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
    headers: Mapping[str, str]
    content: bytes
    timeouts: Timeouts


class Scripted:
    """A transport answering from a script (the last answer repeats), recording each request."""

    def __init__(self, *answers: Answer | Exception) -> None:
        self.queue = list(answers)
        self.seen: list[Sent] = []

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes,
        timeouts: Timeouts,
    ) -> Answer:
        self.seen.append(Sent(method, url, dict(headers), content, timeouts))
        answer = self.queue.pop(0) if len(self.queue) > 1 else self.queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def json_answer(status: int, document: Any, headers: dict[str, str] | None = None) -> Answer:
    content = json.dumps(document).encode()
    return Answer(status, {"content-type": "application/json", **(headers or {})}, content)


def ok(document: Any = GOOD, headers: dict[str, str] | None = None) -> Answer:
    return json_answer(200, document, headers)


def error(status: int, code: str | None = None, headers: dict[str, str] | None = None) -> Answer:
    body = {"error": {"message": "x", "type": code or "server_error", "param": None, "code": code}}
    return json_answer(status, body, headers)


def run(
    *answers: Answer | Exception,
    budget_s: float = 25.0,
    keys: list[str] | None = None,
) -> tuple[Any, list[Sent], FakeClock, list[bool]]:
    transport = Scripted(*answers)
    seen = transport.seen
    clock = FakeClock()
    refreshes: list[bool] = []
    key_values = keys or ["sk-first"]

    def get_key(refresh: bool) -> str:
        refreshes.append(refresh)
        return key_values[min(refreshes.count(True), len(key_values) - 1)]

    client = HttpClient(transport, Timeouts(connect=2, read=8), base_url="https://api.test/v1/")
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
        (TransportError("ConnectError", "refused"), "ConnectError"),
        (TimedOut("ReadTimeout", "slow"), "timeout"),
        (TransportError("RemoteProtocolError", "reset"), "RemoteProtocolError"),
    ],
)
def test_transport_errors_are_retried(exc: Exception, outcome: str) -> None:
    (secret, report), seen, _, _ = run(exc, ok())
    assert secret.value == "ek_unit" and len(seen) == 2
    assert report.attempts[0].status is None and report.attempts[0].outcome == outcome


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, {"content-type": "text/html"}, b"<html>oops</html>"),
        ok({"expires_at": 1}),
        ok({"value": "ek_x"}),
        ok({"value": "sk-not-ephemeral", "expires_at": 1}),
        ok({"value": "ek_x", "expires_at": "soon"}),
        ok([1]),
    ],
)
def test_malformed_success_is_token_generation_failed_without_retry(answer: Answer) -> None:
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
    assert seen[0].timeouts == Timeouts(connect=1.5, read=1.5)


def test_no_attempt_when_the_deadline_has_passed() -> None:
    failure, seen, _, _ = run(ok(), budget_s=0.0)
    assert isinstance(failure.error, OpenAIUnavailable) and seen == []
