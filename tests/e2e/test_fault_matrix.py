"""The fault matrix against the real local stack: the gateway, Lambda-like environments, moto
server behind the AWS fault proxy (devtools/ekmint_dev/aws_fault_proxy.py: faults injected at the
HTTP layer, so botocore's own retries and parsing run), and the OpenAI emulator's fault script.

For each fault: the status and code the caller gets, the number of upstream attempts, that the
answer comes before the function's deadline, and the invariant: no key reaches a caller without
its audit record, and every refused or failed request has one too (or, when DynamoDB itself
fails, its record in the stack's log)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from stack_harness import Stack, start_stack

from ekmint.audit import fingerprint, from_item
from ekmint_dev import stack_info
from ekmint_dev.local_aws import LocalNames, client, put_secret

FUNCTION_TIMEOUT_S = 25.0
GET_SECRET = "secretsmanager.GetSecretValue"
PUT_ITEM = "DynamoDB_20120810.PutItem"
UPDATE_ITEM = "DynamoDB_20120810.UpdateItem"
NEW_KEY = "sk-local.test.key.for-ekmint.0002"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("matrix"),
        workers=2,
        # Short timeouts keep "hang past the deadline" to seconds; max age 0 makes every
        # request read the secret, so Secrets Manager faults apply to warm environments too.
        UPSTREAM_READ_TIMEOUT_S="1",
        OPENAI_SECRET_MAX_AGE_S="0",
    )
    yield running
    running.stop()


@pytest.fixture
def info(stack: Stack) -> Iterator[stack_info.StackInfo]:
    found = stack_info.find(stack.aws_port)
    assert found is not None and found.emulator_admin_url and found.aws_faults_url
    httpx.delete(f"{found.emulator_admin_url}/faults")
    httpx.delete(f"{found.emulator_admin_url}/requests")
    httpx.delete(found.aws_faults_url)
    yield found
    httpx.delete(f"{found.emulator_admin_url}/faults")
    httpx.delete(found.aws_faults_url)


def audit_record(info: stack_info.StackInfo, request_id: str) -> dict[str, Any] | None:
    item = client("dynamodb", info.aws_endpoint).get_item(
        TableName=info.audit_table, Key={"request_id": {"S": request_id}}
    )
    return from_item(item["Item"]) if "Item" in item else None


def mint(stack: Stack, info: stack_info.StackInfo) -> tuple[httpx.Response, int, float]:
    started = time.monotonic()
    answer = stack.post({})
    elapsed = time.monotonic() - started
    attempts = len(httpx.get(f"{info.emulator_admin_url}/requests").json())
    return answer, attempts, elapsed


def assert_invariant(stack: Stack, info: stack_info.StackInfo, answer: httpx.Response) -> None:
    request_id = answer.headers["x-request-id"]
    record = audit_record(info, request_id)
    if answer.status_code == 200:
        assert record is not None, "a key reached the caller without its audit record"
        assert record["key_fingerprint"] == fingerprint(answer.json()["value"])
        return
    code = answer.json()["error"]["code"]
    if record is None:
        # DynamoDB refused the record: it must be in the log, with what the caller got.
        logged = stack.log_lines(
            lambda line: request_id in line and "audit write failed" in line and code in line
        )
        assert logged, code
    else:
        assert record["error_code"] == code and "key_fingerprint" not in record


def check_mint(
    stack: Stack, info: stack_info.StackInfo, status: int, code: str | None, attempts: int
) -> None:
    """One mint under the scripted fault: its status and code, the upstream attempts, an answer
    before the function's deadline, and the audit invariant."""
    answer, seen, elapsed = mint(stack, info)
    assert answer.status_code == status, answer.text
    if code:
        assert answer.json()["error"]["code"] == code
        assert "value" not in answer.json()
    assert seen == attempts
    assert elapsed < FUNCTION_TIMEOUT_S
    if status == 503:
        assert int(answer.headers["retry-after"]) >= 1
    assert_invariant(stack, info, answer)


UPSTREAM = [
    pytest.param(
        [{"kind": "status", "status": 429, "retry_after_s": 0.1}],
        200,
        None,
        2,
        id="429-retry-after",
    ),
    pytest.param(
        [{"kind": "status", "status": 429, "sticky": True}],
        503,
        "openai_api_unavailable",
        4,
        id="429-no-retry-after",
    ),
    pytest.param(
        [{"kind": "insufficient_quota"}], 502, "token_generation_failed", 1, id="insufficient-quota"
    ),
    *(
        pytest.param(
            [{"kind": "status", "status": status, "sticky": True}],
            503,
            "openai_api_unavailable",
            4,
            id=str(status),
        )
        for status in (500, 502, 503, 504)
    ),
    pytest.param(
        [{"kind": "hang", "sticky": True}],
        503,
        "openai_api_unavailable",
        4,
        id="hang-past-deadline",
    ),
    pytest.param([{"kind": "reset", "stage": "partial_body"}], 200, None, 2, id="reset-mid-answer"),
    pytest.param([{"kind": "malformed"}], 502, "token_generation_failed", 1, id="malformed-json"),
    pytest.param(
        [{"kind": "missing_value"}], 502, "token_generation_failed", 1, id="200-without-value"
    ),
]


@pytest.mark.e2e
@pytest.mark.parametrize(("faults", "status", "code", "attempts"), UPSTREAM)
def test_upstream_fault_through_the_stack(
    stack: Stack,
    info: stack_info.StackInfo,
    faults: list[dict[str, Any]],
    status: int,
    code: str | None,
    attempts: int,
) -> None:
    httpx.put(f"{info.emulator_admin_url}/faults", json={"faults": faults}).raise_for_status()
    check_mint(stack, info, status, code, attempts)


@pytest.mark.e2e
def test_bad_key_then_a_rotated_good_one(stack: Stack, info: stack_info.StackInfo) -> None:
    names = LocalNames()
    old = client("secretsmanager", info.aws_endpoint).get_secret_value(SecretId=names.secret_id)
    try:
        httpx.put(f"{info.emulator_admin_url}/keys", json={"api_keys": [NEW_KEY]})
        refused, seen, _ = mint(stack, info)
        assert (refused.status_code, seen) == (502, 2)  # 401, refresh, 401
        assert_invariant(stack, info, refused)
        put_secret(info.aws_endpoint, names.secret_id, NEW_KEY)
        httpx.delete(f"{info.emulator_admin_url}/requests")
        answer, seen, _ = mint(stack, info)
        assert answer.status_code == 200 and seen == 1
        assert_invariant(stack, info, answer)
    finally:
        put_secret(info.aws_endpoint, names.secret_id, old["SecretString"])
        httpx.put(f"{info.emulator_admin_url}/keys", json={"api_keys": [old["SecretString"]]})


def aws_case(
    target: str,
    error: str,
    status: int,
    code: str | None,
    attempts: int,
    name: str,
    *,
    once: bool = False,
) -> Any:
    fault = {"target": target, "error": error} | ({} if once else {"sticky": True})
    return pytest.param([fault], status, code, attempts, id=name)


AWS = [
    aws_case(
        GET_SECRET, "ThrottlingException", 500, "internal_error", 0, "secrets-manager-throttled"
    ),
    aws_case(GET_SECRET, "ResourceNotFoundException", 500, "internal_error", 0, "secret-missing"),
    aws_case(GET_SECRET, "AccessDeniedException", 500, "internal_error", 0, "secret-unreadable"),
    aws_case(
        GET_SECRET, "ThrottlingException", 200, None, 1, "secrets-manager-throttled-once", once=True
    ),
    aws_case(
        PUT_ITEM,
        "ProvisionedThroughputExceededException",
        503,
        "audit_unavailable",
        1,
        "audit-throttled",
    ),
    aws_case(
        PUT_ITEM,
        "ConditionalCheckFailedException",
        503,
        "audit_unavailable",
        1,
        "audit-conditional-write-failed",
    ),
    aws_case(
        PUT_ITEM, "ResourceNotFoundException", 503, "audit_unavailable", 1, "audit-table-missing"
    ),
    aws_case(UPDATE_ITEM, "ThrottlingException", 429, "rate_limited", 0, "quota-throttled"),
    aws_case(UPDATE_ITEM, "InternalServerError", 500, "internal_error", 0, "quota-store-failing"),
]


@pytest.mark.e2e
@pytest.mark.parametrize(("faults", "status", "code", "attempts"), AWS)
def test_aws_fault_through_the_stack(
    stack: Stack,
    info: stack_info.StackInfo,
    faults: list[dict[str, Any]],
    status: int,
    code: str | None,
    attempts: int,
) -> None:
    assert info.aws_faults_url
    httpx.put(info.aws_faults_url, json=faults).raise_for_status()
    check_mint(stack, info, status, code, attempts)


@pytest.mark.e2e
def test_malformed_secret_is_internal_error(stack: Stack, info: stack_info.StackInfo) -> None:
    names = LocalNames()
    secrets = client("secretsmanager", info.aws_endpoint)
    old = secrets.get_secret_value(SecretId=names.secret_id)["SecretString"]
    try:
        put_secret(info.aws_endpoint, names.secret_id, '{"OPENAI_API_KEY": ')
        answer, seen, _ = mint(stack, info)
        assert (answer.status_code, answer.json()["error"]["code"], seen) == (
            500,
            "internal_error",
            0,
        )
        assert_invariant(stack, info, answer)
    finally:
        put_secret(info.aws_endpoint, names.secret_id, old)
    assert mint(stack, info)[0].status_code == 200
