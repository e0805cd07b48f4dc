"""Every sample event in events/ (the ones `sam local invoke` takes) through the real handler,
against moto server and the OpenAI emulator over HTTP, with events/env.json's settings."""

from __future__ import annotations

from typing import Any

import pytest
from support import EVENTS, HandlerFactory, body_of, event_env, header, invoke, load_event

EXPECTED = {
    "mint": (200, None),
    "empty-body": (200, None),
    "full-session": (200, None),
    "base64-body": (200, None),
    "invalid-json": (400, "invalid_session_config"),
    "disallowed-model": (400, "invalid_session_config"),
    "ttl-over-ceiling": (400, "invalid_session_config"),
    "wrong-content-type": (415, "unsupported_media_type"),
    "oversized-body": (413, "payload_too_large"),
    "foreign-origin": (403, "origin_not_allowed"),
    "cors-preflight": (204, None),
}


def test_every_event_file_has_an_expectation() -> None:
    names = {p.stem for p in EVENTS.glob("*.json")} - {"env"}
    assert names == set(EXPECTED)


@pytest.fixture
def handler(make_handler: HandlerFactory) -> Any:
    env = event_env()
    # Point the sample settings at this test's local AWS and emulator.
    # Logs stay at DEBUG for the secret scan (the logger keeps its first level across reloads).
    env = {
        k: v
        for k, v in env.items()
        if k
        not in {"OPENAI_SECRET_ID", "AUDIT_TABLE_NAME", "QUOTA_TABLE_NAME", "POWERTOOLS_LOG_LEVEL"}
    }
    return make_handler(**env)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_gets_the_status_design_md_says(handler: Any, emu: Any, name: str) -> None:
    status, code = EXPECTED[name]
    result = invoke(handler, load_event(name))
    assert result["statusCode"] == status, result.get("body")
    assert header(result, "Cache-Control") == "no-store"
    assert header(result, "X-Request-Id") == load_event(name)["requestContext"]["requestId"]
    if code:
        assert body_of(result)["error"]["code"] == code
        assert emu.requests == [], "a refused request must not reach OpenAI"
    elif status == 200:
        body = body_of(result)
        assert body["value"].startswith("ek_")
        assert set(body) == {"value", "expires_at", "session", "webrtc_url"}
        assert body["webrtc_url"] == emu.url + "/realtime/calls"
        assert len(emu.requests) == 1


def test_full_session_event_passes_opened_fields_and_caller_instructions(
    handler: Any, emu: Any
) -> None:
    result = invoke(handler, load_event("full-session"))
    assert body_of(result)["session"] == {
        "type": "realtime",
        "model": "gpt-realtime",
        "voice": "cedar",
    }
    sent = emu.requests[0]["body"]
    assert sent["session"]["instructions"].startswith("Speak like a museum guide")
    assert sent["session"]["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert sent["expires_after"] == {"anchor": "created_at", "seconds": 120}


def test_preflight_grants_cors_to_an_allowed_origin(handler: Any) -> None:
    result = invoke(handler, load_event("cors-preflight"))
    assert header(result, "Access-Control-Allow-Origin") == "http://localhost:3000"
    assert "POST" in (header(result, "Access-Control-Allow-Methods") or "")


def test_foreign_origin_gets_no_cors_grant(handler: Any) -> None:
    result = invoke(handler, load_event("foreign-origin"))
    assert header(result, "Access-Control-Allow-Origin") is None
