"""Hostile input through the real handler (moto server + emulator over HTTP): random JSON, wrong
types at every field, deep nesting, huge strings, odd headers, base64 bodies. Whatever arrives,
the answer is a clear 4xx with its code (or a mint), never a 5xx, and a refused request never
reaches OpenAI. `make fuzz` runs the same properties with many more examples."""

from __future__ import annotations

import base64
import json
import os
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import HandlerFactory, body_of, header, invoke, post

EXAMPLES = int(os.environ.get("EKMINT_FUZZ_EXAMPLES", "40"))
CLEAR_CODES = {"invalid_session_config", "payload_too_large", "unsupported_media_type"}
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)

VALID = {
    "session": {
        "type": "realtime",
        "model": "gpt-realtime",
        "audio": {"output": {"voice": "marin", "speed": 1.0}, "input": {}},
    },
    "expires_after": {"anchor": "created_at", "seconds": 120},
}
PATHS = [
    ("session",),
    ("session", "type"),
    ("session", "model"),
    ("session", "audio"),
    ("session", "audio", "output"),
    ("session", "audio", "output", "voice"),
    ("session", "audio", "output", "speed"),
    ("session", "audio", "input"),
    ("expires_after",),
    ("expires_after", "anchor"),
    ("expires_after", "seconds"),
]


def with_value(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    document = json.loads(json.dumps(VALID))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


@pytest.fixture
def handler(make_handler: HandlerFactory) -> Any:
    return make_handler(
        QUOTA_PER_MINUTE="0",
        QUOTA_PER_DAY="0",
        GLOBAL_DAILY_CAP="0",
        SESSION_POLICY=json.dumps({"caller_fields": ["audio.output.speed"]}),
    )


def check(handler: Any, emu: Any, event: dict[str, Any]) -> dict[str, Any]:
    emu.clear_requests()
    result = invoke(handler, event)
    status = result["statusCode"]
    assert status < 500, result.get("body")
    assert header(result, "X-Request-Id") and header(result, "Cache-Control") == "no-store"
    if status != 200:
        error = body_of(result)["error"]
        assert error["code"] in CLEAR_CODES, error
        assert error["message"] and error["action"]
        assert emu.requests == [], "a refused request reached OpenAI"
    return result


@FUZZ
@given(body=json_values)
def test_random_json_never_gets_a_5xx(handler: Any, emu: Any, body: Any) -> None:
    check(handler, emu, post(json.dumps(body)))


@FUZZ
@given(path=st.sampled_from(PATHS), value=json_values)
def test_wrong_types_at_every_field_are_refused_clearly(
    handler: Any, emu: Any, path: tuple[str, ...], value: Any
) -> None:
    result = check(handler, emu, post(with_value(path, value)))
    if result["statusCode"] == 400:
        message = body_of(result)["error"]["message"]
        # The message names the field (or says why the body as a whole is wrong).
        assert path[0] in message or message.startswith("the body"), message


@FUZZ
@given(raw=st.binary(max_size=600), encode=st.booleans())
def test_random_bytes_and_base64_bodies_never_get_a_5xx(
    handler: Any, emu: Any, raw: bytes, encode: bool
) -> None:
    event = post(b"{}")
    event["body"] = base64.b64encode(raw).decode() if encode else raw.decode("latin-1")
    event["isBase64Encoded"] = encode
    check(handler, emu, event)


@FUZZ
@given(
    name=st.sampled_from(["content-type", "Content-Type", "CONTENT-TYPE", "cOnTeNt-TyPe"]),
    value=st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "text/json",
            "application/json,text/plain",
            "",
            "multipart/form-data; boundary=x",
        ]
    ),
)
def test_header_casing_and_repeated_values(handler: Any, emu: Any, name: str, value: str) -> None:
    event = post(b'{"expires_after": {"seconds": 60}}', content_type=None)
    event["headers"][name] = value
    result = check(handler, emu, event)
    expected_ok = value.split(";", maxsplit=1)[0].strip().lower() == "application/json"
    assert (result["statusCode"] == 200) == expected_ok, (name, value, result["statusCode"])


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 8000 + b"]" * 8000,
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        json.dumps({"session": {"model": "x" * 15000}}).encode(),
        json.dumps({"session": {"model": "\ud800"}}, ensure_ascii=True).encode(),
        json.dumps({"session": {"model": "gpt-realtime\u0000"}}).encode(),
        '{"session": {"model": "gpt\u2011realtime"}}'.encode(),
        b'{"session": {}, "session": {}}',
        b"null",
        b"42",
        b'"just a string"',
        b"x" * 20000,
    ],
    ids=[
        "deep-list",
        "deep-object",
        "huge-string",
        "lone-surrogate",
        "nul-char",
        "unicode-hyphen",
        "duplicate-key",
        "null",
        "number",
        "string",
        "oversized",
    ],
)
def test_edge_case_bodies(handler: Any, emu: Any, body: bytes) -> None:
    result = check(handler, emu, post(body))
    assert result["statusCode"] in (400, 413)


# -- POST /api/realtime/calls: the offer and the query string ---------------------------------

RELAY_CLEAR_CODES = CLEAR_CODES | {"invalid_offer"}


def relay_check(handler: Any, emu: Any, event: dict[str, Any], offer: bytes) -> dict[str, Any]:
    """Never a 5xx; a refusal has its code and, unless OpenAI was asked and could not use the
    offer (an SDP-looking body), never reached OpenAI."""
    emu.clear_requests()
    result = invoke(handler, event)
    assert result["statusCode"] < 500, result.get("body")
    assert header(result, "X-Request-Id") and header(result, "Cache-Control") == "no-store"
    if result["statusCode"] != 201:
        error = body_of(result)["error"]
        assert error["code"] in RELAY_CLEAR_CODES, error
        if error["code"] != "invalid_offer" or not offer.startswith(b"v=0"):
            assert emu.requests == [], "a refused request reached OpenAI"
    return result


@FUZZ
@given(raw=st.binary(max_size=600), prefix=st.booleans(), encode=st.booleans())
def test_random_offers_never_get_a_5xx(
    handler: Any, emu: Any, raw: bytes, prefix: bool, encode: bool
) -> None:
    body = (b"v=0\r\n" if prefix else b"") + raw
    event = post(body, path="/api/realtime/calls", content_type="application/sdp")
    event["body"] = base64.b64encode(body).decode() if encode else body.decode("latin-1")
    event["isBase64Encoded"] = encode
    relay_check(handler, emu, event, body)


@FUZZ
@given(query=st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=3))
def test_random_query_strings_are_refused_before_openai(
    handler: Any, emu: Any, query: dict[str, str]
) -> None:
    offer = b"v=0\r\n"
    event = post(
        offer, path="/api/realtime/calls", content_type="application/sdp", query=urlencode(query)
    )
    relay_check(handler, emu, event, offer)
