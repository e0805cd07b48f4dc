"""The emulator's OpenAI unified interface (`POST /v1/realtime/calls`, multipart, API key),
over HTTP: what it refuses as OpenAI would, before its WebRTC peer sees an offer. The answered
call (with aiortc's peer) is tests/integration/test_relay.py's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ekmint_dev.emulator import Emulator

KEY = "sk-unit.unified"
OFFER = b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"
SESSION = {"type": "realtime", "model": "gpt-realtime"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    # No WebRTC peer: a request that passes every check is answered 503 (peer not running).
    with Emulator(api_keys=[KEY], realtime=False) as running:
        yield running


def post(
    emulator: Emulator,
    files: dict[str, Any] | None = None,
    key: str = KEY,
    **kwargs: Any,
) -> httpx.Response:
    if files is None:
        files = {"sdp": (None, OFFER), "session": (None, json.dumps(SESSION))}
    return httpx.post(
        f"{emulator.url}/realtime/calls",
        files=files,
        headers={"authorization": f"Bearer {key}"},
        timeout=5,
        **kwargs,
    )


def error_of(response: httpx.Response) -> tuple[int, str | None, str | None]:
    error = response.json()["error"]
    return response.status_code, error.get("param"), error.get("code")


def test_a_complete_request_reaches_the_peer(emulator: Emulator) -> None:
    response = post(emulator)
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "The realtime peer is not running."
    logged = emulator.requests[-1]
    assert logged["path"] == "/v1/realtime/calls" and logged["authorized"] is True
    assert logged["body"] == {"sdp_bytes": len(OFFER), "session": SESSION}


def test_a_wrong_api_key_is_401(emulator: Emulator) -> None:
    assert error_of(post(emulator, key="sk-wrong")) == (401, None, "invalid_api_key")


@pytest.mark.parametrize(
    ("files", "param", "code"),
    [
        ({"session": (None, json.dumps(SESSION))}, "sdp", "missing_required_parameter"),
        ({"sdp": (None, OFFER)}, "session", "missing_required_parameter"),
        ({"sdp": (None, OFFER), "session": (None, "{not json")}, "session", None),
        ({"sdp": (None, OFFER), "session": (None, "[1]")}, "session", None),
        (
            {"sdp": (None, OFFER), "session": (None, json.dumps({**SESSION, "model": "gpt-9"}))},
            "session.model",
            "invalid_value",
        ),
        (
            {"sdp": (None, OFFER), "session": (None, json.dumps({"type": "transcription"}))},
            "session.type",
            None,
        ),
        (
            {"sdp": (None, OFFER), "session": (None, json.dumps({**SESSION, "voice": "x"}))},
            "session",
            "invalid_value",
        ),
        ({"sdp": (None, b"hello"), "session": (None, json.dumps(SESSION))}, "sdp", None),
    ],
    ids=[
        "no-sdp",
        "no-session",
        "session-not-json",
        "session-not-object",
        "unknown-model",
        "not-realtime",
        "unknown-session-field",
        "not-sdp",
    ],
)
def test_refuses_what_openai_would(
    emulator: Emulator, files: dict[str, Any], param: str, code: str | None
) -> None:
    assert error_of(post(emulator, files)) == (400, param, code)


def test_an_sdp_body_with_an_api_key_is_not_a_unified_call(emulator: Emulator) -> None:
    response = httpx.post(
        f"{emulator.url}/realtime/calls",
        content=OFFER,
        headers={"authorization": f"Bearer {KEY}", "content-type": "application/sdp"},
        timeout=5,
    )
    assert response.status_code == 400
    assert "multipart/form-data" in response.json()["error"]["message"]


def test_faults_apply_as_to_client_secrets(emulator: Emulator) -> None:
    emulator.set_faults([{"kind": "status", "status": 429, "retry_after_ms": 5}])
    response = post(emulator)
    assert response.status_code == 429 and response.headers["retry-after-ms"] == "5"
    assert emulator.requests[-1]["fault"] == "status"
