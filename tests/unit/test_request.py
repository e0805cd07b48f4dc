from __future__ import annotations

import base64

import pytest
from support import load_event, post

from ekmint.cors import cors_headers, origin_allowed, preflight_headers
from ekmint.errors import (
    InvalidSessionConfig,
    OriginNotAllowed,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from ekmint.request import check_body, check_origin, from_event, principal_of


def test_reads_a_sample_event_as_api_gateway_sends_it() -> None:
    incoming = from_event(load_event("mint"), "fallback")
    assert incoming.request_id == "Ev0001mint="
    assert incoming.source_ip == "203.0.113.10"
    assert incoming.origin == "http://localhost:3000"
    assert incoming.body.startswith(b'{"session"')


def test_base64_bodies_are_decoded() -> None:
    incoming = from_event(load_event("base64-body"), "x")
    assert incoming.body == b'{"expires_after":{"seconds":60}}'


def test_broken_base64_is_an_invalid_request_not_a_crash() -> None:
    event = post({"a": 1})
    event |= {"body": "%%%not-base64", "isBase64Encoded": True}
    with pytest.raises(InvalidSessionConfig, match="base64"):
        check_body(from_event(event, "x"), 16384)


def test_headers_are_found_whatever_their_case() -> None:
    event = post({}, origin=None)
    event["headers"] = {"Origin": "https://a.example", "Content-Type": "application/json"}
    incoming = from_event(event, "x")
    assert (incoming.origin, incoming.content_type) == ("https://a.example", "application/json")


def test_oversized_body_is_413_before_anything_else() -> None:
    with pytest.raises(PayloadTooLarge):
        check_body(from_event(post("x" * 20, content_type="text/plain"), "x"), 16)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_typed_is_415(content_type: str | None) -> None:
    event = post('{"a": 1}', content_type=content_type)
    with pytest.raises(UnsupportedMediaType):
        check_body(from_event(event, "x"), 16384)


def test_json_with_charset_is_accepted_and_an_empty_body_needs_no_type() -> None:
    check_body(from_event(post("{}", content_type="application/json; charset=utf-8"), "x"), 16384)
    check_body(from_event(post(None, content_type=None), "x"), 16384)


def test_jwt_mode_without_claims_is_unauthorized() -> None:
    with pytest.raises(Unauthorized):
        principal_of(from_event(post({}), "x"), "jwt")
    assert principal_of(from_event(post({}, claims={"sub": "user-1"}), "x"), "jwt") == (
        "user-1",
        "sub",
    )


def test_anonymous_principal_is_the_source_ip() -> None:
    assert principal_of(from_event(post({}, source_ip="192.0.2.1"), "x"), "none") == (
        "192.0.2.1",
        "ip",
    )


def test_origin_check_allows_listed_and_absent_origins_only() -> None:
    allowed = ("https://app.example",)
    check_origin(from_event(post({}, origin="https://app.example"), "x"), allowed)
    check_origin(from_event(post({}, origin=None), "x"), allowed)
    with pytest.raises(OriginNotAllowed):
        check_origin(from_event(post({}, origin="https://evil.example"), "x"), allowed)


def test_cors_headers_echo_only_allowed_origins_and_never_credentials() -> None:
    allowed = ("https://app.example",)
    assert (
        cors_headers("https://app.example", allowed)["Access-Control-Allow-Origin"]
        == "https://app.example"
    )
    assert cors_headers("https://evil.example", allowed) == {}
    assert "Access-Control-Allow-Credentials" not in preflight_headers(
        "https://app.example", allowed
    )
    assert origin_allowed("https://any.example", ("*",))


def test_binary_bodies_round_trip_through_base64() -> None:
    raw = bytes(range(256))
    event = post(raw, content_type="application/octet-stream")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw
