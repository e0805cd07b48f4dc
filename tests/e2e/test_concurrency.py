"""Issue 4's concurrency case against the real local stack: with a limit of 10, 100 simultaneous
requests from one principal, spread over several execution environments, mint exactly 10 keys,
and the audit table holds one record per request."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from stack_harness import start_stack

from ekmint.audit import from_item
from ekmint_dev import stack_info
from ekmint_dev.local_aws import client

REQUESTS = 100
LIMIT = 10


@pytest.mark.e2e
def test_100_simultaneous_requests_mint_exactly_the_limit(tmp_path: Path) -> None:
    # A per-day limit: a per-minute one could straddle two windows during the burst.
    stack = start_stack(tmp_path, workers=4, QUOTA_PER_MINUTE="0", QUOTA_PER_DAY=str(LIMIT))
    try:
        with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
            answers = list(pool.map(lambda _: stack.post({}, timeout_s=60), range(REQUESTS)))
        info = stack_info.find(stack.aws_port)
        assert info is not None
        items = client("dynamodb", info.aws_endpoint).scan(TableName=info.audit_table)["Items"]
        records = [from_item(item) for item in items]
        environments = {a.headers.get("x-local-env-id") for a in answers}
    finally:
        stack.stop()
    statuses = [a.status_code for a in answers]
    print(
        f"\n{REQUESTS} simultaneous requests over {len(environments)} environments: "
        f"{statuses.count(200)} minted, {statuses.count(429)} refused (limit {LIMIT})"
    )
    assert statuses.count(200) == LIMIT
    assert statuses.count(429) == REQUESTS - LIMIT
    assert len(environments) > 1, "the burst should spread over several environments"
    assert len(records) == REQUESTS
    assert sorted(r["request_id"] for r in records) == sorted(
        a.headers["x-request-id"] for a in answers
    )
    assert sum(r["outcome"] == "minted" for r in records) == LIMIT
