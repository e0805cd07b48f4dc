"""Quotas, the global cap and the auth modes through the real handler, with the counters in
DynamoDB (moto server over HTTP)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from support import OPENAI_KEY, HandlerFactory, audit_items, body_of, header, invoke, post

from ekmint_dev.local_aws import LocalNames, client, put_secret


@pytest.fixture
def endpoint(moto_server: Any) -> str:
    return str(moto_server.url)


def test_per_minute_quota_refuses_with_retry_after_and_no_upstream_call(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    handler = make_handler(QUOTA_PER_MINUTE="2", QUOTA_PER_DAY="0")
    statuses = [invoke(handler, post({}))["statusCode"] for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert len(emu.requests) == 2
    refused = invoke(handler, post({}))
    assert body_of(refused)["error"]["code"] == "rate_limited"
    assert "this minute" in body_of(refused)["error"]["message"]
    assert 1 <= int(header(refused, "Retry-After") or 0) <= 60
    records = [r for r in audit_items(aws, endpoint) if r["outcome"] == "refused"]
    assert len(records) == 2 and {r["quota_limit"] for r in records} == {"minute"}


def test_per_day_quota_says_when_the_day_ends(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames
) -> None:
    handler = make_handler(QUOTA_PER_MINUTE="0", QUOTA_PER_DAY="1")
    assert invoke(handler, post({}))["statusCode"] == 200
    refused = invoke(handler, post({}))
    assert refused["statusCode"] == 429
    assert "today" in body_of(refused)["error"]["message"]
    assert 1 <= int(header(refused, "Retry-After") or 0) <= 86400


def test_quotas_are_per_principal(make_handler: HandlerFactory, emu: Any, aws: LocalNames) -> None:
    handler = make_handler(QUOTA_PER_MINUTE="1", QUOTA_PER_DAY="0")
    assert invoke(handler, post({}, source_ip="192.0.2.1"))["statusCode"] == 200
    assert invoke(handler, post({}, source_ip="192.0.2.2"))["statusCode"] == 200
    assert invoke(handler, post({}, source_ip="192.0.2.1"))["statusCode"] == 429


def test_global_daily_cap_holds_across_principals_with_its_own_message(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    handler = make_handler(QUOTA_PER_MINUTE="5", QUOTA_PER_DAY="5", GLOBAL_DAILY_CAP="3")
    results = [invoke(handler, post({}, source_ip=f"192.0.2.{n}")) for n in range(1, 6)]
    assert [r["statusCode"] for r in results] == [200, 200, 200, 429, 429]
    assert "global daily cap" in body_of(results[3])["error"]["message"]
    assert len(emu.requests) == 3
    capped = [r for r in audit_items(aws, endpoint) if r.get("quota_limit") == "global"]
    assert len(capped) == 2


def test_refused_requests_do_not_spend_quota(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames
) -> None:
    handler = make_handler(QUOTA_PER_MINUTE="1", QUOTA_PER_DAY="0")
    assert invoke(handler, post({"session": {"model": "nope"}}))["statusCode"] == 400
    assert invoke(handler, post({}))["statusCode"] == 200


def test_concurrent_requests_never_mint_more_than_the_limit(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    handler = make_handler(QUOTA_PER_MINUTE="10", QUOTA_PER_DAY="0")
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: invoke(handler, post({})), range(40)))
    statuses = sorted(r["statusCode"] for r in results)
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 30
    assert len(emu.requests) == 10
    assert len(audit_items(aws, endpoint)) == 40


def test_jwt_mode_uses_the_token_subject_as_principal(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    handler = make_handler(AUTH_MODE="jwt", QUOTA_PER_MINUTE="1", QUOTA_PER_DAY="0")
    alice = invoke(handler, post({}, claims={"sub": "alice", "iss": "https://issuer.example"}))
    assert alice["statusCode"] == 200
    # Another IP, same subject: the quota follows the user, not the address.
    again = invoke(handler, post({}, claims={"sub": "alice"}, source_ip="192.0.2.99"))
    assert again["statusCode"] == 429
    minted = [r for r in audit_items(aws, endpoint) if r["outcome"] == "minted"]
    assert [(r["principal"], r["principal_type"]) for r in minted] == [("alice", "sub")]


def test_jwt_mode_without_claims_is_refused_by_the_handler_too(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames
) -> None:
    handler = make_handler(AUTH_MODE="jwt")
    result = invoke(handler, post({}))
    assert result["statusCode"] == 401
    assert body_of(result)["error"]["code"] == "unauthorized"
    assert emu.requests == []


def test_a_call_before_the_key_is_set_spends_no_quota(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    # A new operator's first curl, before deploy.md's step 4 has put the key in the secret: the
    # stack's secret exists with no value yet.
    secrets = client("secretsmanager", endpoint)
    secrets.delete_secret(SecretId=aws.secret_id, ForceDeleteWithoutRecovery=True)
    secrets.create_secret(Name=aws.secret_id)
    handler = make_handler(QUOTA_PER_MINUTE="0", QUOTA_PER_DAY="1")
    first = invoke(handler, post({}))
    assert first["statusCode"] == 500
    assert body_of(first)["error"]["code"] == "internal_error"
    # The key is set; the same caller's retry mints instead of hitting a spent quota.
    put_secret(endpoint, aws.secret_id, OPENAI_KEY)
    handler = make_handler(QUOTA_PER_MINUTE="0", QUOTA_PER_DAY="1")
    assert invoke(handler, post({}))["statusCode"] == 200
    failed = [r for r in audit_items(aws, endpoint) if r["outcome"] == "failed"]
    assert [r["quota_calls"] for r in failed] == [0]
