"""Behind CloudFront (issue 17, item 5): the viewer's IP keys anonymous quotas only when the
distribution's shared secret comes with it; a spoofed viewer header changes nothing. And
refused requests' records expire sooner than minted ones (item 6). Real handler, moto server."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from support import HandlerFactory, LogTap, audit_items, body_of, invoke, post

from ekmint.edge import parse_viewer_ip
from ekmint_dev.local_aws import LocalNames, put_secret

EDGE_SECRET_ID = "ekmint/edge-secret"
EDGE_SECRET = "edge.secret.for-tests.0001"
EDGE_IP = "130.176.0.10"  # a CloudFront edge address: every viewer's sourceIp behind it


@pytest.fixture
def endpoint(moto_server: Any) -> str:
    return str(moto_server.url)


@pytest.fixture
def behind_cloudfront(make_handler: HandlerFactory, aws: LocalNames, endpoint: str) -> Any:
    put_secret(endpoint, EDGE_SECRET_ID, EDGE_SECRET)
    return make_handler(
        QUOTA_PER_MINUTE="1", QUOTA_PER_DAY="0", TRUSTED_EDGE_SECRET_ID=EDGE_SECRET_ID
    )


def from_viewer(viewer: str, secret: str | None = EDGE_SECRET) -> dict[str, Any]:
    headers = [("cloudfront-viewer-address", f"{viewer}:46532")]
    if secret is not None:
        headers.append(("x-origin-verify", secret))
    return post({}, source_ip=EDGE_IP, headers=headers)


def test_viewers_behind_one_edge_get_their_own_quotas(
    behind_cloudfront: Any, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    statuses = [
        invoke(behind_cloudfront, from_viewer(v))["statusCode"]
        for v in ("198.51.100.1", "198.51.100.2", "198.51.100.1")
    ]
    assert statuses == [200, 200, 429]
    records = audit_items(aws, endpoint)
    assert {r["principal"] for r in records} == {"198.51.100.1", "198.51.100.2"}
    assert all(r["viewer_ip_trusted"] and r["source_ip"] == EDGE_IP for r in records)


@pytest.mark.parametrize("secret", [None, "guessed", EDGE_SECRET + "x", ""])
def test_a_spoofed_viewer_header_is_ignored_and_said(
    behind_cloudfront: Any, emu: Any, aws: LocalNames, endpoint: str, secret: str | None
) -> None:
    with LogTap(behind_cloudfront) as tap:
        first = invoke(behind_cloudfront, from_viewer("198.51.100.1", secret))
        second = invoke(behind_cloudfront, from_viewer("198.51.100.2", secret))
    # Both count against the edge's own address: the header bought nothing.
    assert [first["statusCode"], second["statusCode"]] == [200, 429]
    records = audit_items(aws, endpoint)
    assert {r["principal"] for r in records} == {EDGE_IP}
    assert not any(r["viewer_ip_trusted"] for r in records)
    warnings = [line for line in tap.lines() if line["message"] == "viewer address not trusted"]
    assert len(warnings) == 2
    # The secret a caller guessed is not echoed anywhere.
    if secret:
        assert secret not in tap.text


def test_without_a_trusted_edge_the_viewer_header_is_never_read(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    handler = make_handler(QUOTA_PER_MINUTE="1", QUOTA_PER_DAY="0")
    statuses = [
        invoke(handler, from_viewer(v))["statusCode"] for v in ("198.51.100.1", "198.51.100.2")
    ]
    assert statuses == [200, 429]
    assert {r["principal"] for r in audit_items(aws, endpoint)} == {EDGE_IP}


def test_refusals_expire_sooner_than_mints(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    handler = make_handler(AUDIT_RETENTION_DAYS="90", REFUSED_AUDIT_RETENTION_DAYS="7")
    assert invoke(handler, post({}))["statusCode"] == 200
    refused = invoke(handler, post({"session": {"model": "not-allowed"}}))
    assert body_of(refused)["error"]["code"] == "invalid_session_config"
    emu.set_faults([{"kind": "status", "status": 400, "code": "invalid_value"}])
    assert invoke(handler, post({}))["statusCode"] == 502
    kept_days = {}
    for record in audit_items(aws, endpoint):
        written = datetime.fromisoformat(record["ts"].replace("Z", "+00:00")).timestamp()
        kept_days[record["outcome"]] = round((record["ttl"] - written) / 86400)
    assert kept_days == {"minted": 90, "refused": 7, "failed": 90}


@pytest.mark.parametrize(
    ("header", "value", "address"),
    [
        ("cloudfront-viewer-address", "198.51.100.10:46532", "198.51.100.10"),
        ("cloudfront-viewer-address", "2001:db8::1:46532", "2001:db8::1"),
        ("cloudfront-viewer-address", "[2001:db8::1]:46532", "2001:db8::1"),
        ("x-forwarded-for", "198.51.100.10, 130.176.0.10", "198.51.100.10"),
        ("cloudfront-viewer-address", "not-an-address:1", None),
        ("x-forwarded-for", "", None),
    ],
)
def test_viewer_addresses_are_read_as_cloudfront_writes_them(
    header: str, value: str, address: str | None
) -> None:
    assert parse_viewer_ip(header, value) == address
