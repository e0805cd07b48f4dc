"""The mint path against the real parts: moto server over HTTP for DynamoDB and Secrets Manager,
the OpenAI emulator over HTTP, the real handler module. Each fault: status, code, upstream
attempts, the audit record, and that the key is never handed out without its record."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from support import (
    OPENAI_KEY,
    ROTATED_KEY,
    HandlerFactory,
    LogTap,
    audit_items,
    body_of,
    header,
    invoke,
    post,
)

from ekmint.audit import fingerprint
from ekmint_dev.lambda_context import LocalLambdaContext
from ekmint_dev.local_aws import LocalNames, client, free_port, put_secret


@pytest.fixture
def endpoint(moto_server: Any) -> str:
    return str(moto_server.url)


def test_mint_returns_the_key_and_writes_its_audit_record(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    handler = make_handler()
    result = invoke(handler, post({"session": {"audio": {"output": {"voice": "coral"}}}}))
    body = body_of(result)
    assert result["statusCode"] == 200
    assert body["session"] == {"type": "realtime", "model": "gpt-realtime", "voice": "coral"}
    assert body["expires_at"] == pytest.approx(time.time() + 300, abs=5)
    # OPENAI_BASE_URL + /realtime/calls: the emulator's WebRTC peer here, OpenAI's in AWS.
    assert body["webrtc_url"] == emu.url + "/realtime/calls" == emu.calls_url
    (record,) = audit_items(aws, endpoint)
    assert record["outcome"] == "minted"
    assert "expires_at_derived" not in record
    assert record["request_id"] == header(result, "X-Request-Id")
    assert record["key_fingerprint"] == fingerprint(body["value"])
    assert record["principal"] == "198.51.100.7" and record["principal_type"] == "ip"
    assert record["model"] == "gpt-realtime" and record["voice"] == "coral"
    assert record["requested_voice"] == "coral" and record["ttl_s"] == 300
    assert record["upstream_attempts"] == 1 and record["upstream_request_id"].startswith("req_")
    assert record["origin"] == "http://localhost:3000" and record["user_agent"] == "pytest"
    assert "value" not in record and body["value"] not in json.dumps(record)


def test_refused_requests_are_audited_and_never_reach_openai(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    handler = make_handler()
    result = invoke(handler, post({"session": {"model": "gpt-5-unlisted"}}))
    assert result["statusCode"] == 400
    assert body_of(result)["error"] == {
        "code": "invalid_session_config",
        "message": "session.model: 'gpt-5-unlisted' is not allowed",
        "action": "Use one of: gpt-realtime",
        "request_id": header(result, "X-Request-Id"),
    }
    assert emu.requests == []
    (record,) = audit_items(aws, endpoint)
    assert (record["outcome"], record["error_code"], record["http_status"]) == (
        "refused",
        "invalid_session_config",
        400,
    )


# fault script, expected status, expected code, expected upstream attempts
UPSTREAM_FAULTS = [
    pytest.param(
        [{"kind": "status", "status": 429, "retry_after_s": 0.05}], 200, None, 2, id="429-then-ok"
    ),
    pytest.param(
        [{"kind": "status", "status": 429, "sticky": True}],
        503,
        "openai_api_unavailable",
        4,
        id="429-always",
    ),
    pytest.param(
        [{"kind": "insufficient_quota"}], 502, "token_generation_failed", 1, id="insufficient-quota"
    ),
    pytest.param([{"kind": "status", "status": 500}], 200, None, 2, id="500-then-ok"),
    pytest.param(
        [{"kind": "status", "status": 502, "sticky": True}],
        503,
        "openai_api_unavailable",
        4,
        id="502-always",
    ),
    pytest.param([{"kind": "status", "status": 503, "repeat": 2}], 200, None, 3, id="503-twice"),
    pytest.param([{"kind": "status", "status": 504}], 200, None, 2, id="504-then-ok"),
    pytest.param(
        [{"kind": "status", "status": 400, "code": "invalid_value"}],
        502,
        "token_generation_failed",
        1,
        id="400",
    ),
    pytest.param([{"kind": "status", "status": 403}], 502, "token_generation_failed", 1, id="403"),
    pytest.param([{"kind": "status", "status": 404}], 502, "token_generation_failed", 1, id="404"),
    pytest.param([{"kind": "hang", "seconds": 5}], 200, None, 2, id="hang-then-ok"),
    pytest.param([{"kind": "reset"}], 200, None, 2, id="reset-then-ok"),
    pytest.param([{"kind": "malformed"}], 502, "token_generation_failed", 1, id="malformed-json"),
    pytest.param([{"kind": "missing_value"}], 502, "token_generation_failed", 1, id="no-value"),
    pytest.param(
        [{"kind": "missing_expires_at"}], 502, "token_generation_failed", 1, id="no-expires-at"
    ),
    pytest.param([{"kind": "bad_value"}], 502, "token_generation_failed", 1, id="not-ek-value"),
]


@pytest.mark.parametrize(("faults", "status", "code", "attempts"), UPSTREAM_FAULTS)
def test_upstream_fault(
    make_handler: HandlerFactory,
    emu: Any,
    aws: LocalNames,
    endpoint: str,
    faults: list[dict[str, Any]],
    status: int,
    code: str | None,
    attempts: int,
) -> None:
    handler = make_handler()
    emu.set_faults(faults)
    started = time.monotonic()
    result = invoke(handler, post({}))
    elapsed = time.monotonic() - started
    assert result["statusCode"] == status, result["body"]
    assert len(emu.requests) == attempts
    (record,) = audit_items(aws, endpoint)
    assert record["upstream_attempts"] == attempts
    if code:
        assert body_of(result)["error"]["code"] == code
        assert record["outcome"] == "failed" and record["error_code"] == code
        assert "key_fingerprint" not in record
    else:
        assert record["key_fingerprint"] == fingerprint(body_of(result)["value"])
    if status == 503:
        assert int(header(result, "Retry-After") or 0) >= 1
    assert elapsed < 10


def test_a_hanging_openai_is_answered_before_the_lambda_deadline(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    handler = make_handler(UPSTREAM_READ_TIMEOUT_S="10")
    emu.set_faults([{"kind": "hang", "seconds": 30, "sticky": True}])
    # 11 s left: 8.5 s are kept for the audit write's worst case (deadline.RESERVE_S), so
    # OpenAI gets 2.5 s.
    context = LocalLambdaContext(timeout_s=11.0)
    result = handler.lambda_handler(post({}), context)
    # The outcome that matters: an answer while the function still had time, and the audit
    # record written in it. (How the deadline is split is unit-tested on a fake clock; a
    # wall-clock bound with 1 s of slack failed on a busy machine.)
    assert context.get_remaining_time_in_millis() > 0
    assert result["statusCode"] == 503
    assert body_of(result)["error"]["code"] == "openai_api_unavailable"
    assert len(emu.requests) >= 1
    (record,) = audit_items(aws, endpoint)
    assert record["error_code"] == "openai_api_unavailable"


def test_connection_refused_is_retried_then_503(
    make_handler: HandlerFactory, aws: LocalNames
) -> None:
    handler = make_handler(OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    result = invoke(handler, post({}))
    assert result["statusCode"] == 503
    assert body_of(result)["error"]["code"] == "openai_api_unavailable"


def test_bad_key_is_refreshed_once_then_token_generation_failed(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    handler = make_handler()
    emu.set_api_keys([ROTATED_KEY])
    result = invoke(handler, post({}))
    assert result["statusCode"] == 502
    assert body_of(result)["error"]["code"] == "token_generation_failed"
    assert [r["authorized"] for r in emu.requests] == [False, False]
    (record,) = audit_items(aws, endpoint)
    assert record["key_refreshed"] is True


def test_a_rotated_key_is_picked_up_after_one_401(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    handler = make_handler()
    assert invoke(handler, post({}))["statusCode"] == 200  # caches the first key
    put_secret(endpoint, aws.secret_id, ROTATED_KEY)
    emu.set_api_keys([ROTATED_KEY])
    emu.clear_requests()
    result = invoke(handler, post({}))
    assert result["statusCode"] == 200
    assert [r["authorized"] for r in emu.requests] == [False, True]


def test_warm_mints_use_the_cached_secret(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str
) -> None:
    handler = make_handler()
    assert invoke(handler, post({}))["statusCode"] == 200
    # With the secret gone, only the cache can still answer.
    client("secretsmanager", endpoint).delete_secret(
        SecretId=aws.secret_id, ForceDeleteWithoutRecovery=True
    )
    assert invoke(handler, post({}))["statusCode"] == 200


@pytest.mark.parametrize(
    ("secret", "status"),
    [
        (json.dumps({"OPENAI_API_KEY": OPENAI_KEY, "note": "rotated monthly"}), 200),
        (f"  {OPENAI_KEY}\n", 200),
        ('{"OPENAI_API_KEY": ', 500),
        (json.dumps({"other": "value"}), 500),
        ("  \n", 500),
        ("sk-two words", 500),
    ],
    ids=["json", "bare-with-whitespace", "broken-json", "json-without-key", "blank", "spaces"],
)
def test_secret_shapes(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames, endpoint: str, secret: str, status: int
) -> None:
    put_secret(endpoint, aws.secret_id, secret)
    handler = make_handler()
    result = invoke(handler, post({}))
    assert result["statusCode"] == status
    if status == 500:
        assert body_of(result)["error"]["code"] == "internal_error"
        assert emu.requests == []
        (record,) = audit_items(aws, endpoint)
        assert record["outcome"] == "failed"


def test_missing_secret_is_internal_error_with_no_upstream_call(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames
) -> None:
    handler = make_handler(OPENAI_SECRET_ID="ekmint/does-not-exist")
    result = invoke(handler, post({}))
    assert result["statusCode"] == 500
    assert body_of(result)["error"]["code"] == "internal_error"
    assert emu.requests == []


def test_audit_table_missing_withholds_the_key_and_logs_the_record(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames
) -> None:
    handler = make_handler(AUDIT_TABLE_NAME="ekmint-audit-missing")
    with LogTap(handler) as tap:
        result = invoke(handler, post({}))
    assert result["statusCode"] == 503
    assert body_of(result)["error"]["code"] == "audit_unavailable"
    assert "value" not in body_of(result)
    assert len(emu.requests) == 1
    failed = [line for line in tap.lines() if line.get("message") == "audit write failed"]
    assert len(failed) == 1 and failed[0]["level"] == "ERROR"
    # The logged record says what the caller got, and still traces the minted key.
    assert failed[0]["audit"]["outcome"] == "failed"
    assert failed[0]["audit"]["error_code"] == "audit_unavailable"
    assert failed[0]["audit"]["key_fingerprint"].startswith("sha256:")


def test_audit_line_is_logged_once_per_request_without_secrets(
    make_handler: HandlerFactory, emu: Any, aws: LocalNames
) -> None:
    handler = make_handler()
    with LogTap(handler) as tap:
        result = invoke(handler, post({}))
    out, lines = tap.text, tap.lines()
    audits = [line for line in lines if line.get("message") == "audit"]
    assert len(audits) == 1
    assert audits[0]["audit"]["request_id"] == header(result, "X-Request-Id")
    assert audits[0]["correlation_id"] == header(result, "X-Request-Id")
    # DEBUG is on (the upstream attempts line), so the scan covers every level.
    assert any(line["level"] == "DEBUG" for line in lines)
    assert OPENAI_KEY not in out and body_of(result)["value"] not in out
