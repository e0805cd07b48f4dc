"""Issue 4's concurrency case against the real local stack, and issue 18's under DynamoDB's real
contention: simultaneous requests spread over several execution environments mint exactly the
limit, every other answer is a 429 (never a 5xx), and the audit table holds one record per
request. Each runs with the DynamoDB conflict model off (moto applies calls one at a time) and on
(LOCAL_DYNAMODB_CONFLICTS=on: transactions hold their items for a commit window, as in AWS)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from stack_harness import Stack, start_stack

from ekmint.audit import from_item
from ekmint_dev import stack_info
from ekmint_dev.jwt_local import issue_token, load_or_create_key, local_dir
from ekmint_dev.local_aws import client

REQUESTS = 100
LIMIT = 10
GLOBAL_CAP = 50
# Long enough that a burst of 1 + 100 requests ends inside the minute it started in.
MINUTE_MARGIN_S = 20

conflict_model = pytest.mark.parametrize(
    "conflicts", ["off", "on"], ids=["conflicts-off", "conflicts-on"]
)


def _records(stack: Stack) -> list[dict[str, Any]]:
    info = stack_info.find(stack.aws_port)
    assert info is not None
    dynamodb = client("dynamodb", info.aws_endpoint)
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=info.audit_table):
        items.extend(from_item(item) for item in page["Items"])
    return items


def _burst(send: Any, count: int) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(send, range(count)))


def _assert_model_state(stack: Stack, conflicts: str) -> None:
    banner = "DynamoDB conflict model on" if conflicts == "on" else "DynamoDB conflict model off"
    assert banner in stack.log()


def _report(label: str, answers: list[httpx.Response], limit: int) -> None:
    statuses = [a.status_code for a in answers]
    environments = {a.headers.get("x-local-env-id") for a in answers}
    print(
        f"\n{label}: {len(answers)} requests over {len(environments)} environments: "
        f"{statuses.count(200)} minted, {statuses.count(429)} refused, "
        f"{sum(s >= 500 for s in statuses)} 5xx (limit {limit})"
    )


@pytest.mark.e2e
@conflict_model
def test_100_simultaneous_requests_mint_exactly_the_limit(tmp_path: Path, conflicts: str) -> None:
    # A per-day limit: a per-minute one could straddle two windows during the burst.
    stack = start_stack(
        tmp_path,
        workers=4,
        QUOTA_PER_MINUTE="0",
        QUOTA_PER_DAY=str(LIMIT),
        LOCAL_DYNAMODB_CONFLICTS=conflicts,
    )
    try:
        answers = _burst(lambda _: stack.post({}, timeout_s=60), REQUESTS)
        records = _records(stack)
        _assert_model_state(stack, conflicts)
    finally:
        stack.stop()
    _report(f"per-day limit, conflicts {conflicts}", answers, LIMIT)
    statuses = [a.status_code for a in answers]
    environments = {a.headers.get("x-local-env-id") for a in answers}
    assert statuses.count(200) == LIMIT
    assert statuses.count(429) == REQUESTS - LIMIT
    assert len(environments) > 1, "the burst should spread over several environments"
    assert len(records) == REQUESTS
    assert sorted(r["request_id"] for r in records) == sorted(
        a.headers["x-request-id"] for a in answers
    )
    assert sum(r["outcome"] == "minted" for r in records) == LIMIT


def _wait_for_minute_margin() -> None:
    now = datetime.now(UTC)
    if now.second > 60 - MINUTE_MARGIN_S:
        time.sleep(60 - now.second - now.microsecond / 1e6 + 0.1)


@pytest.mark.e2e
@conflict_model
def test_1_plus_100_requests_of_one_caller_mint_exactly_the_per_minute_quota(
    tmp_path: Path, conflicts: str
) -> None:
    stack = start_stack(
        tmp_path,
        workers=4,
        QUOTA_PER_MINUTE=str(LIMIT),
        QUOTA_PER_DAY="1000",
        GLOBAL_DAILY_CAP="1000",
        LOCAL_DYNAMODB_CONFLICTS=conflicts,
    )
    try:
        _wait_for_minute_margin()
        first = stack.post({}, timeout_s=60)
        answers = [first, *_burst(lambda _: stack.post({}, timeout_s=60), REQUESTS)]
        records = _records(stack)
        _assert_model_state(stack, conflicts)
    finally:
        stack.stop()
    _report(f"one caller, {LIMIT}/minute, conflicts {conflicts}", answers, LIMIT)
    assert first.status_code == 200
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == LIMIT
    assert statuses.count(429) == REQUESTS + 1 - LIMIT, sorted(set(statuses))
    refused = [r for r in records if r["outcome"] == "refused"]
    assert len(records) == REQUESTS + 1
    assert {r.get("quota_limit") for r in refused} == {"minute"}


@pytest.mark.e2e
@conflict_model
def test_1_plus_100_callers_at_once_mint_exactly_the_global_cap(
    tmp_path: Path, conflicts: str
) -> None:
    stack = start_stack(
        tmp_path,
        workers=4,
        AUTH_MODE="jwt",
        QUOTA_PER_MINUTE="5",
        QUOTA_PER_DAY="5",
        GLOBAL_DAILY_CAP=str(GLOBAL_CAP),
        LOCAL_DYNAMODB_CONFLICTS=conflicts,
    )
    try:
        info = stack_info.find(stack.aws_port)
        assert info and info.jwt_issuer and info.jwt_audience
        key = load_or_create_key(local_dir({"EKMINT_LOCAL_DIR": str(tmp_path / "local")}))
        tokens = [
            issue_token(key, sub=f"caller-{n}", issuer=info.jwt_issuer, audience=info.jwt_audience)
            for n in range(REQUESTS + 1)
        ]

        def send(n: int) -> httpx.Response:
            return stack.post({}, headers={"authorization": f"Bearer {tokens[n]}"}, timeout_s=60)

        first = send(REQUESTS)
        answers = [first, *_burst(send, REQUESTS)]
        records = _records(stack)
        _assert_model_state(stack, conflicts)
    finally:
        stack.stop()
    _report(f"101 callers, global cap {GLOBAL_CAP}, conflicts {conflicts}", answers, GLOBAL_CAP)
    assert first.status_code == 200
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == GLOBAL_CAP
    assert statuses.count(429) == REQUESTS + 1 - GLOBAL_CAP, sorted(set(statuses))
    refused = [r for r in records if r["outcome"] == "refused"]
    assert {r.get("quota_limit") for r in refused} == {"global"}
    assert len(records) == REQUESTS + 1
