"""create_call's rules, against httpx's MockTransport and a fake clock: the multipart request
OpenAI's unified interface takes, and the retry rule of a request that creates something (a
call): repeated only when the upstream certainly created none. The real transport against the
emulator over HTTP is tests/integration/test_relay.py's."""

from __future__ import annotations

import email.parser
import email.policy
import json
from typing import Any

import httpx
import pytest

from ekmint.deadline import Deadline
from ekmint.errors import InvalidOffer, OpenAIUnavailable, TokenGenerationFailed
from ekmint.upstream import Call, RetryPolicy, UpstreamFailure, UpstreamReport, create_call

OFFER = b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"
ANSWER = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\n"
SESSION = {"type": "realtime", "model": "gpt-realtime", "audio": {"output": {"voice": "marin"}}}
POLICY = RetryPolicy(max_attempts=4, backoff_base_s=1.0, connect_timeout_s=2, read_timeout_s=8)


def created(location: str = "/v1/realtime/calls/rtc_abc123") -> httpx.Response:
    headers = {"content-type": "application/sdp", "location": location, "x-request-id": "req_1"}
    return httpx.Response(201, text=ANSWER, headers=headers)


def refused(
    status: int, param: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"error": {"message": "x", "type": "invalid_request_error", "param": param}}
    return httpx.Response(status, json=body, headers=headers or {})


def run(*answers: httpx.Response | Exception) -> tuple[Any, list[httpx.Request], list[float]]:
    queue = list(answers)
    seen: list[httpx.Request] = []
    now = [1000.0]
    sleeps: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        scripted = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(scripted, Exception):
            raise scripted
        return scripted

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    client = httpx.Client(transport=httpx.MockTransport(answer), base_url="https://api.test/v1/")
    clock = lambda: now[0]  # noqa: E731
    try:
        result: Any = create_call(
            client,
            OFFER,
            lambda refresh: "sk-second" if refresh else "sk-first",
            Deadline(at=clock() + 25, clock=clock),
            POLICY,
            session=SESSION,
            sleep=sleep,
            rand=lambda: 0.5,
            clock=clock,
        )
    except UpstreamFailure as failure:
        result = failure
    return result, seen, sleeps


def parts(request: httpx.Request) -> dict[str, tuple[str, bytes]]:
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    return {
        str(part.get_param("name", header="content-disposition")): (
            part.get_content_type(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    }


def test_posts_multipart_sdp_and_session_with_the_key_and_keeps_the_call_id() -> None:
    (call, report), seen, _ = run(created())
    assert isinstance(call, Call) and isinstance(report, UpstreamReport)
    assert (call.answer_sdp, call.call_id) == (ANSWER, "rtc_abc123")
    (request,) = seen
    assert str(request.url) == "https://api.test/v1/realtime/calls"
    assert request.headers["authorization"] == "Bearer sk-first"
    sent = parts(request)
    assert sent["sdp"] == ("application/sdp", OFFER)
    assert sent["session"][0] == "application/json"
    assert json.loads(sent["session"][1]) == SESSION


def test_a_location_that_is_not_a_call_id_is_not_kept() -> None:
    (call, _), _, _ = run(created(location="/v1/realtime/calls/<script>"))
    assert call.call_id is None


@pytest.mark.parametrize(
    ("first", "why"),
    [
        (httpx.ConnectError("refused"), "never connected"),
        (httpx.ConnectTimeout("slow"), "never connected"),
        (refused(429, headers={"retry-after-ms": "10"}), "a rate limit creates nothing"),
        (refused(503, headers={"x-should-retry": "true"}), "the upstream says so"),
        (refused(401), "the key refresh"),
    ],
)
def test_repeated_only_when_no_call_was_created(first: Any, why: str) -> None:
    (call, report), seen, _ = run(first, created())
    assert call.call_id == "rtc_abc123", why
    assert len(seen) == len(report.attempts) == 2


@pytest.mark.parametrize(
    "first",
    [
        httpx.ReadTimeout("no answer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        refused(500),
        refused(502),
        refused(503),
        refused(504),
    ],
    ids=["read-timeout", "disconnected", "500", "502", "503", "504"],
)
def test_not_repeated_when_a_call_may_exist(first: Any) -> None:
    failure, seen, sleeps = run(first, created())
    assert isinstance(failure, UpstreamFailure)
    assert isinstance(failure.error, OpenAIUnavailable)
    assert len(seen) == 1 and sleeps == []


def test_a_400_about_the_offer_is_the_callers_and_about_the_session_is_ours() -> None:
    offer, _, _ = run(refused(400, param="sdp"))
    assert isinstance(offer.error, InvalidOffer)
    unparsed, _, _ = run(refused(400))
    assert isinstance(unparsed.error, InvalidOffer)
    session, _, _ = run(refused(400, param="session.model"))
    assert isinstance(session.error, TokenGenerationFailed)


def test_an_answer_that_is_not_sdp_is_unusable() -> None:
    failure, seen, _ = run(httpx.Response(201, json={"id": "rtc_1"}))
    assert isinstance(failure.error, TokenGenerationFailed)
    assert len(seen) == 1
