"""POST /api/realtime/calls against the real parts: the real handler module, moto server over
HTTP, and the OpenAI emulator over HTTP answering OpenAI's unified `/v1/realtime/calls` with its
WebRTC peer (aiortc). Policy, quota, audit (kind=call, call_id), faults and retries (a call is
not idempotent), the size limit, the content type, and that no log line holds the offer or the
answer."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from support import (
    ROTATED_KEY,
    HandlerFactory,
    LogTap,
    audit_items,
    body_of,
    header,
    invoke,
    post,
    sdp_offer,
)

from ekmint_dev.local_aws import LocalNames, free_port, put_secret

aiortc = pytest.importorskip("aiortc", reason="aiortc is a dev dependency")
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import AudioStreamTrack  # noqa: E402

CALLS = "/api/realtime/calls"
SDP = "application/sdp"
T = TypeVar("T")


def run(scenario: Coroutine[Any, Any, T]) -> T:
    # On a thread of its own: another test module may keep an event loop on the main thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, scenario).result()


@pytest.fixture(scope="module")
def offer() -> bytes:
    return sdp_offer()


@pytest.fixture
def endpoint(moto_server: Any) -> str:
    return str(moto_server.url)


def call(
    offer: bytes, *, query: str = "", content_type: str | None = SDP, **kwargs: Any
) -> dict[str, Any]:
    return post(offer, path=CALLS, query=query, content_type=content_type, **kwargs)


def upstream_calls(emu: Any) -> list[dict[str, Any]]:
    return [r for r in emu.requests if r["path"] == "/v1/realtime/calls"]


def test_relays_the_offer_and_answers_201_with_the_sdp_answer(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str, offer: bytes
) -> None:
    handler = make_handler()
    result = invoke(handler, call(offer))
    assert result["statusCode"] == 201, result.get("body")
    assert header(result, "Content-Type") == SDP
    assert result["body"].startswith("v=0") and "a=fingerprint:" in result["body"]
    assert header(result, "Cache-Control") == "no-store"
    assert header(result, "Access-Control-Allow-Origin") == "http://localhost:3000"
    (record,) = audit_items(aws, endpoint)
    assert record["request_id"] == header(result, "X-Request-Id")
    assert (record["kind"], record["outcome"], record["http_status"]) == ("call", "minted", 201)
    # The id the peer gave the call (its Location header), and no key, so no fingerprint.
    (answered,) = [c for c in emu.realtime.calls if c["event"] == "answered"]
    assert record["call_id"] == answered["call_id"] and record["call_id"].startswith("rtc_")
    assert "key_fingerprint" not in record and "expires_at" not in record
    # One conditional update per counter (minute, day, global), sent together (quota.py).
    assert record["quota_calls"] == 3 and record["upstream_attempts"] == 1
    assert (record["model"], record["voice"]) == ("gpt-realtime", "marin")


def test_the_session_sent_is_exactly_what_a_mint_would_mint(
    make_handler: HandlerFactory, emu: Any, offer: bytes
) -> None:
    handler = make_handler()
    assert invoke(handler, call(offer, query="voice=coral"))["statusCode"] == 201
    assert (
        invoke(handler, post({"session": {"audio": {"output": {"voice": "coral"}}}}))["statusCode"]
        == 200
    )
    relayed = upstream_calls(emu)[0]["body"]
    minted = next(r for r in emu.requests if r["path"] == "/v1/realtime/client_secrets")["body"]
    assert relayed["session"] == minted["session"]
    assert relayed["sdp_bytes"] == len(offer)


def test_the_call_connects_with_the_servers_session(make_handler: HandlerFactory, emu: Any) -> None:
    """A WebRTC client (aiortc, as the browser SDK) gets its answer from ekmint and connects
    to the emulator's peer, which starts the call with the session ekmint sent."""
    handler = make_handler(SESSION_POLICY=json.dumps({"instructions": "Answer in one word."}))

    async def scenario() -> dict[str, Any]:
        pc = RTCPeerConnection()
        channel = pc.createDataChannel("oai-events")
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        channel.on("message", lambda message: events.put_nowait(json.loads(message)))
        pc.addTrack(AudioStreamTrack())
        await pc.setLocalDescription(await pc.createOffer())
        event = call(pc.localDescription.sdp.encode(), query="voice=cedar")
        result = await asyncio.to_thread(invoke, handler, event)
        assert result["statusCode"] == 201, result.get("body")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=result["body"], type="answer"))
        try:
            return await asyncio.wait_for(events.get(), 10)
        finally:
            await pc.close()

    created = run(scenario())
    assert created["type"] == "session.created"
    session = created["session"]
    assert session["model"] == "gpt-realtime"
    assert session["audio"]["output"]["voice"] == "cedar"
    assert session["instructions"] == "Answer in one word."


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("voice=robot", "session.audio.output.voice: 'robot' is not allowed"),
        ("model=gpt-5", "session.model: 'gpt-5' is not allowed"),
        ("instructions=hi", "query parameter 'instructions' is not accepted"),
    ],
)
def test_query_parameters_outside_the_policy_are_refused_before_openai(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str, offer: bytes,
    query: str, message: str,
) -> None:  # fmt: skip
    result = invoke(make_handler(), call(offer, query=query))
    assert (result["statusCode"], body_of(result)["error"]["code"]) == (
        400,
        "invalid_session_config",
    )
    assert body_of(result)["error"]["message"] == message
    assert upstream_calls(emu) == []
    (record,) = audit_items(aws, endpoint)
    assert (record["kind"], record["outcome"], record["quota_calls"]) == ("call", "refused", 0)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (None, "application/json", 415, "unsupported_media_type"),
        (None, None, 415, "unsupported_media_type"),
        (b"v=0\r\n" + b"a=x\r\n" * 4000, SDP, 413, "payload_too_large"),
        (b'{"sdp": "v=0"}', SDP, 400, "invalid_offer"),
        (b"", SDP, 400, "invalid_offer"),
        (b"v=0\r\n\xff\xfe", SDP, 400, "invalid_offer"),
    ],
    ids=["json", "no-content-type", "over-16-kib", "not-sdp", "empty", "not-utf8"],
)
def test_what_is_not_an_sdp_offer_is_refused_before_openai(
    make_handler: HandlerFactory, emu: Any, offer: bytes,
    body: bytes | None, content_type: str | None, status: int, code: str,
) -> None:  # fmt: skip
    result = invoke(
        make_handler(), call(offer if body is None else body, content_type=content_type)
    )
    assert (result["statusCode"], body_of(result)["error"]["code"]) == (status, code)
    assert header(result, "Cache-Control") == "no-store" and header(result, "X-Request-Id")
    assert upstream_calls(emu) == []


def test_origin_and_auth_are_checked_as_for_a_mint(
    make_handler: HandlerFactory, emu: Any, offer: bytes
) -> None:
    refused = invoke(make_handler(), call(offer, origin="https://evil.example"))
    assert body_of(refused)["error"]["code"] == "origin_not_allowed"
    handler = make_handler(AUTH_MODE="jwt")
    assert body_of(invoke(handler, call(offer)))["error"]["code"] == "unauthorized"
    signed_in = invoke(handler, call(offer, claims={"sub": "user-1"}))
    assert signed_in["statusCode"] == 201
    assert upstream_calls(emu) and len(upstream_calls(emu)) == 1


def test_calls_and_mints_share_the_callers_quota(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str, offer: bytes
) -> None:
    handler = make_handler(QUOTA_PER_MINUTE="2")
    assert invoke(handler, post({}))["statusCode"] == 200
    assert invoke(handler, call(offer))["statusCode"] == 201
    limited = invoke(handler, call(offer))
    assert (limited["statusCode"], body_of(limited)["error"]["code"]) == (429, "rate_limited")
    assert int(header(limited, "Retry-After") or 0) >= 1
    assert len(upstream_calls(emu)) == 1
    kinds = sorted((r["kind"], r["outcome"]) for r in audit_items(aws, endpoint))
    assert kinds == [("call", "minted"), ("call", "refused"), ("mint", "minted")]


# Which upstream failures are retried: only those after which OpenAI certainly created no call.
@pytest.mark.parametrize(
    ("faults", "status", "attempts"),
    [
        pytest.param([{"kind": "status", "status": 429, "retry_after_ms": 10}], 201, 2, id="429"),
        pytest.param(
            [{"kind": "status", "status": 503, "should_retry": True}], 201, 2, id="503-retry"
        ),
        pytest.param([{"kind": "status", "status": 503}], 503, 1, id="503-not-repeated"),
        pytest.param([{"kind": "status", "status": 500}], 503, 1, id="500-not-repeated"),
        pytest.param([{"kind": "hang", "seconds": 5}], 503, 1, id="read-timeout-not-repeated"),
        pytest.param([{"kind": "reset"}], 503, 1, id="reset-not-repeated"),
        pytest.param([{"kind": "status", "status": 400}], 400, 1, id="400-the-offer"),
        pytest.param(
            [{"kind": "status", "status": 400, "param": "session.audio"}], 502, 1, id="400-session"
        ),
        pytest.param([{"kind": "insufficient_quota"}], 502, 1, id="insufficient-quota"),
        pytest.param(
            [{"kind": "malformed", "status": 201, "body": "<html>", "content_type": "text/html"}],
            502,
            1,
            id="201-without-sdp",
        ),
    ],
)
def test_upstream_faults_are_retried_only_when_no_call_was_created(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str, offer: bytes,
    faults: list[dict[str, Any]], status: int, attempts: int,
) -> None:  # fmt: skip
    emu.set_faults(faults)
    result = invoke(make_handler(), call(offer))
    assert result["statusCode"] == status, result.get("body")
    assert len(upstream_calls(emu)) == attempts
    (record,) = audit_items(aws, endpoint)
    assert (record["kind"], record["upstream_attempts"]) == ("call", attempts)
    if status != 201:
        assert "call_id" not in record
    if status == 400:  # the upstream could not use the offer: the caller's, not ours
        assert body_of(result)["error"]["code"] == "invalid_offer"


def test_connect_errors_are_retried_within_the_deadline(
    make_handler: HandlerFactory, aws: LocalNames, endpoint: str, offer: bytes
) -> None:
    handler = make_handler(OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    result = invoke(handler, call(offer))
    assert (result["statusCode"], body_of(result)["error"]["code"]) == (
        503,
        "openai_api_unavailable",
    )
    (record,) = audit_items(aws, endpoint)
    assert record["upstream_attempts"] == 4  # the default UPSTREAM_MAX_ATTEMPTS


def test_a_rotated_key_is_fetched_again_after_a_401(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str, offer: bytes
) -> None:
    handler = make_handler()
    assert invoke(handler, call(offer))["statusCode"] == 201  # caches the first key
    put_secret(endpoint, aws.secret_id, ROTATED_KEY)
    emu.set_api_keys([ROTATED_KEY])
    result = invoke(handler, call(offer))
    assert result["statusCode"] == 201, result.get("body")
    record = next(r for r in audit_items(aws, endpoint) if r["key_refreshed"])
    assert record["upstream_attempts"] == 2
    assert [r["authorized"] for r in upstream_calls(emu)] == [True, False, True]


def test_an_unrecorded_call_is_withheld(
    make_handler: HandlerFactory, emu: Any, offer: bytes
) -> None:
    handler = make_handler(AUDIT_TABLE_NAME="ekmint-audit-missing")
    with LogTap(handler) as tap:
        result = invoke(handler, call(offer))
    assert (result["statusCode"], body_of(result)["error"]["code"]) == (503, "audit_unavailable")
    assert "v=0" not in result["body"]
    (line,) = [line for line in tap.lines() if line.get("message") == "audit write failed"]
    assert line["audit"]["kind"] == "call" and line["audit"]["call_id"].startswith("rtc_")
    assert line["audit"]["error_message"] == "The call could not be recorded, so it was withheld."


def test_no_log_line_holds_the_offer_or_the_answer_only_their_sizes(
    make_handler: HandlerFactory, emu: Any, offer: bytes
) -> None:
    handler = make_handler()
    with LogTap(handler) as tap:
        result = invoke(handler, call(offer))
        emu.set_faults([{"kind": "status", "status": 503}])
        invoke(handler, call(offer))
    assert result["statusCode"] == 201
    # What identifies an SDP: its ICE credentials and DTLS fingerprints, offer's and answer's.
    secrets = re.findall(rb"a=(?:ice-ufrag|ice-pwd|fingerprint):(\S+)", offer)
    secrets += re.findall(rb"a=(?:ice-ufrag|ice-pwd|fingerprint):(\S+)", result["body"].encode())
    assert len(secrets) >= 6
    assert [s for s in secrets if s.decode() in tap.text] == []
    assert "v=0" not in tap.text and "m=audio" not in tap.text
    audited = [line for line in tap.lines() if line.get("message") == "audit"]
    assert audited[0]["sizes"] == {
        "offer_bytes": len(offer),
        "answer_bytes": len(result["body"].encode()),
    }
    assert audited[1]["sizes"] == {"offer_bytes": len(offer)}
