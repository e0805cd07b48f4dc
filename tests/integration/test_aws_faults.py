"""AWS-side faults, injected by a proxy in front of moto server (devtools/ekmint_dev/
aws_fault_proxy.py), so the handler's real clients, retry mode and error parsing are exercised.
The invariant: no key reaches a caller without its audit record, and a failed write leaves the
record in the log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from support import HandlerFactory, LogTap, audit_items, body_of, header, invoke, post

from ekmint.audit import AuditRecord, AuditWriteFailed, fingerprint, timestamps, write
from ekmint.dependencies import AWS_CONFIG
from ekmint_dev.aws_fault_proxy import AwsFaultProxy
from ekmint_dev.local_aws import LocalNames, MotoServer

GET_SECRET = "secretsmanager.GetSecretValue"
PUT_ITEM = "DynamoDB_20120810.PutItem"
UPDATE_ITEM = "DynamoDB_20120810.UpdateItem"


@pytest.fixture(scope="session")
def proxy_server(moto_server: MotoServer) -> Iterator[AwsFaultProxy]:
    proxy = AwsFaultProxy(moto_server.url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(proxy_server: AwsFaultProxy, aws: LocalNames) -> AwsFaultProxy:
    proxy_server.clear()
    return proxy_server


@pytest.fixture
def handler(make_handler: HandlerFactory, proxy: AwsFaultProxy) -> Any:
    module = make_handler(AWS_ENDPOINT_URL=proxy.url)
    proxy.clear()
    return module


def test_warm_mint_makes_two_dynamodb_round_trips_and_no_secrets_manager_call(
    handler: Any, emu: Any, proxy: AwsFaultProxy
) -> None:
    # The quota's three counter updates go out together (one round trip), then the audit put.
    assert invoke(handler, post({}))["statusCode"] == 200
    assert proxy.calls == {GET_SECRET: 1, UPDATE_ITEM: 3, PUT_ITEM: 1}
    proxy.clear()
    for _ in range(5):
        assert invoke(handler, post({}))["statusCode"] == 200
    assert proxy.calls == {UPDATE_ITEM: 15, PUT_ITEM: 5}


def test_secrets_manager_throttled_once_is_retried_by_the_sdk(
    handler: Any, emu: Any, proxy: AwsFaultProxy
) -> None:
    proxy.set_faults([{"target": GET_SECRET, "error": "ThrottlingException"}])
    assert invoke(handler, post({}))["statusCode"] == 200
    assert proxy.calls[GET_SECRET] == 2


@pytest.mark.parametrize(
    "error", ["ThrottlingException", "AccessDeniedException", "InternalServerError"]
)
def test_secrets_manager_failing_is_internal_error_without_upstream_call(
    handler: Any,
    emu: Any,
    proxy: AwsFaultProxy,
    aws: LocalNames,
    moto_server: MotoServer,
    error: str,
) -> None:
    proxy.set_faults([{"target": GET_SECRET, "error": error, "sticky": True}])
    result = invoke(handler, post({}))
    assert result["statusCode"] == 500
    assert body_of(result)["error"]["code"] == "internal_error"
    assert emu.requests == []
    (record,) = audit_items(aws, moto_server.url)
    assert (record["outcome"], record["error_code"]) == ("failed", "internal_error")


def test_audit_throttled_once_is_retried_and_the_key_handed_out(
    handler: Any, emu: Any, proxy: AwsFaultProxy, aws: LocalNames, moto_server: MotoServer
) -> None:
    proxy.set_faults([{"target": PUT_ITEM, "error": "ProvisionedThroughputExceededException"}])
    result = invoke(handler, post({}))
    assert result["statusCode"] == 200
    assert proxy.calls[PUT_ITEM] == 2
    assert [r["outcome"] for r in audit_items(aws, moto_server.url)] == ["minted"]


def test_an_audit_write_applied_but_its_answer_lost_is_retried_and_the_key_handed_out(
    handler: Any, emu: Any, proxy: AwsFaultProxy, aws: LocalNames, moto_server: MotoServer
) -> None:
    # DynamoDB applied the PutItem; the answer never came; botocore sends the same write again.
    proxy.set_faults([{"target": PUT_ITEM, "error": "AnswerLost"}])
    result = invoke(handler, post({}))
    assert result["statusCode"] == 200
    assert proxy.calls[PUT_ITEM] == 2
    (record,) = audit_items(aws, moto_server.url)
    # The record agrees with the answer: minted, and the key the caller got.
    assert record["outcome"] == "minted"
    assert record["key_fingerprint"] == fingerprint(body_of(result)["value"])


@pytest.mark.parametrize(
    ("openai_fault", "code"),
    [
        # OpenAI answers after 2 s: a key is minted, then withheld because it cannot be recorded.
        ({"kind": "hang", "seconds": 2.0}, "audit_unavailable"),
        # OpenAI never answers: the whole upstream budget is spent before the audit write.
        ({"kind": "hang", "seconds": 30, "sticky": True}, "openai_api_unavailable"),
    ],
)
def test_a_slow_openai_then_a_hanging_audit_table_still_answers_inside_the_function_time(
    make_handler: HandlerFactory,
    emu: Any,
    proxy: AwsFaultProxy,
    openai_fault: dict[str, Any],
    code: str,
) -> None:
    # 11 s left: OpenAI may use 2.5 s (deadline.RESERVE_S keeps 8.5 s back); then every
    # PutItem attempt hangs past botocore's 1 s read timeout. The audit write's worst case
    # (3 x 1.5 s + 3 s of backoff) must fit in what was kept back, so the caller gets an
    # answer and the record reaches the log before Lambda would end the function.
    # Attempts and timeouts that let a stuck OpenAI use every second it is given.
    handler = make_handler(
        AWS_ENDPOINT_URL=proxy.url, UPSTREAM_READ_TIMEOUT_S="8", UPSTREAM_MAX_ATTEMPTS="10"
    )
    emu.set_faults([openai_fault])
    proxy.set_faults([{"target": PUT_ITEM, "error": "Hang", "sticky": True}])
    started = time.monotonic()
    with LogTap(handler) as tap:
        result = invoke(handler, post({}), timeout_s=11.0)
    elapsed = time.monotonic() - started
    assert result["statusCode"] == 503
    assert body_of(result)["error"]["code"] == code
    assert elapsed < 11.0, f"answered after the function's time ran out ({elapsed:.1f} s)"
    assert proxy.calls[PUT_ITEM] == 3  # botocore's three attempts, each timed out
    # The record, which DynamoDB never got, is in the log line.
    (logged,) = [line for line in tap.lines() if line["message"] == "audit write failed"]
    assert logged["audit"]["error_code"] == code


def test_a_different_record_for_the_same_request_id_is_still_refused(
    aws: LocalNames, moto_server: MotoServer
) -> None:
    dynamodb: Any = boto3.client("dynamodb", config=AWS_CONFIG)
    first = AuditRecord(
        request_id="same-id",
        **timestamps(datetime(2026, 12, 2, tzinfo=UTC), 90),
        outcome="minted",
        http_status=200,
        principal="198.51.100.7",
        principal_type="ip",
    )
    write(dynamodb, aws.audit_table, first)
    write(dynamodb, aws.audit_table, first)  # the identical record again: accepted
    other = first.model_copy(update={"outcome": "failed", "http_status": 502})
    with pytest.raises(AuditWriteFailed, match="ConditionalCheckFailedException"):
        write(dynamodb, aws.audit_table, other)
    (stored,) = audit_items(aws, moto_server.url)
    assert stored["outcome"] == "minted"


@pytest.mark.parametrize(
    "error",
    [
        "ProvisionedThroughputExceededException",
        "ConditionalCheckFailedException",
        "InternalServerError",
    ],
)
def test_audit_write_failing_withholds_the_key_and_logs_the_record(
    handler: Any,
    emu: Any,
    proxy: AwsFaultProxy,
    aws: LocalNames,
    moto_server: MotoServer,
    error: str,
) -> None:
    proxy.set_faults([{"target": PUT_ITEM, "error": error, "sticky": True}])
    with LogTap(handler) as tap:
        result = invoke(handler, post({}))
    assert result["statusCode"] == 503
    assert body_of(result)["error"]["code"] == "audit_unavailable"
    assert "value" not in body_of(result)
    assert audit_items(aws, moto_server.url) == []
    (logged,) = [line for line in tap.lines() if line["message"] == "audit write failed"]
    assert logged["audit"]["error_code"] == "audit_unavailable"
    assert logged["audit"]["key_fingerprint"].startswith("sha256:")


def test_quota_store_failing_is_internal_error_and_mints_nothing(
    handler: Any, emu: Any, proxy: AwsFaultProxy, aws: LocalNames, moto_server: MotoServer
) -> None:
    proxy.set_faults([{"target": UPDATE_ITEM, "error": "InternalServerError", "sticky": True}])
    result = invoke(handler, post({}))
    assert result["statusCode"] == 500
    assert emu.requests == []
    (record,) = audit_items(aws, moto_server.url)
    assert record["outcome"] == "failed" and "key_fingerprint" not in record


def test_quota_store_throttled_past_the_sdks_retries_is_a_429_and_mints_nothing(
    handler: Any, emu: Any, proxy: AwsFaultProxy, aws: LocalNames, moto_server: MotoServer
) -> None:
    # Contention (one counter past DynamoDB's per-item write rate) is never a 5xx.
    proxy.set_faults([{"target": UPDATE_ITEM, "error": "ThrottlingException", "sticky": True}])
    result = invoke(handler, post({}))
    assert result["statusCode"] == 429
    assert body_of(result)["error"]["code"] == "rate_limited"
    assert header(result, "Retry-After") == "1"
    assert emu.requests == []
    (record,) = audit_items(aws, moto_server.url)
    assert (record["outcome"], record["quota_limit"]) == ("refused", "throughput")


def test_a_refusal_whose_record_cannot_be_written_still_gets_its_own_error(
    handler: Any, emu: Any, proxy: AwsFaultProxy
) -> None:
    proxy.set_faults([{"target": PUT_ITEM, "error": "InternalServerError", "sticky": True}])
    with LogTap(handler) as tap:
        result = invoke(handler, post({"session": {"model": "nope"}}))
    assert result["statusCode"] == 400
    assert body_of(result)["error"]["code"] == "invalid_session_config"
    (logged,) = [line for line in tap.lines() if line["message"] == "audit write failed"]
    assert logged["audit"]["error_code"] == "invalid_session_config"
