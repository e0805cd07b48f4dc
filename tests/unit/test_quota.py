"""The quota charge's decisions, with a fake DynamoDB client: which counters are charged and
given back, which limit is named, when the window ends, conflicts and throttling. (Atomicity and
exactness under contention are tested against moto server: tests/integration/
test_quota_and_auth.py, and tests/e2e/test_concurrency.py with the conflict model on.)"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ekmint.errors import RateLimited
from ekmint.quota import QuotaLimits, charge

NOW = datetime(2026, 11, 25, 22, 38, 15, tzinfo=UTC)
MINUTE, DAY, GLOBAL = "m#p#2026-11-25T22:38", "d#p#2026-11-25", "g#2026-11-25"


def error(code: str) -> ClientError:
    """What botocore raises for an AWS error answer."""
    response: Any = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    return ClientError(response, "UpdateItem")


class FakeDynamo:
    """Answers UpdateItem per counter key (and direction): error codes to raise in turn."""

    def __init__(self, **script: list[str | None]) -> None:
        self.script = {key: list(codes) for key, codes in script.items()}
        self.calls: list[tuple[str, int]] = []  # (key, delta)
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def update_item(self, **params: Any) -> dict[str, Any]:
        key = params["Key"]["pk"]["S"]
        values = params["ExpressionAttributeValues"]
        delta = int((values.get(":one") or values[":minus_one"])["N"])
        with self._lock:
            self.calls.append((key, delta))
            self.threads.add(threading.current_thread().name)
            codes = self.script.get(f"{key}{'+' if delta > 0 else '-'}", [])
            code = codes.pop(0) if codes else None
        if code is not None:
            raise error(code)
        return {}


def script(key: str, *codes: str | None, give_back: bool = False) -> dict[str, list[str | None]]:
    return {f"{key}{'-' if give_back else '+'}": list(codes)}


LIMITS = QuotaLimits(per_minute=3, per_day=30, global_daily=5000)


def test_each_counter_is_charged_by_its_own_conditional_update_all_at_once() -> None:
    dynamo = FakeDynamo()
    assert charge(dynamo, "q", "p", LIMITS, now=NOW) == 3
    assert sorted(dynamo.calls) == sorted([(MINUTE, 1), (DAY, 1), (GLOBAL, 1)])
    # One round trip: the calls ran on more than one thread.
    assert len(dynamo.threads) > 1


def test_the_condition_carries_each_counters_limit() -> None:
    seen: dict[str, str] = {}

    class Recording(FakeDynamo):
        def update_item(self, **params: Any) -> dict[str, Any]:
            seen[params["Key"]["pk"]["S"]] = params["ExpressionAttributeValues"][":limit"]["N"]
            assert params["ConditionExpression"] == "attribute_not_exists(#n) OR #n < :limit"
            return super().update_item(**params)

    charge(Recording(), "q", "p", LIMITS, now=NOW)
    assert seen == {MINUTE: "3", DAY: "30", GLOBAL: "5000"}


def test_zero_limits_are_left_out_and_no_limits_make_no_call() -> None:
    dynamo = FakeDynamo()
    assert charge(dynamo, "q", "p", QuotaLimits(0, 10, 0), now=NOW) == 1
    assert dynamo.calls == [(DAY, 1)]
    assert charge(dynamo, "q", "p", QuotaLimits(0, 0, 0), now=NOW) == 0
    assert len(dynamo.calls) == 1


@pytest.mark.parametrize(
    ("refusing", "limit", "retry_after_s"),
    [(MINUTE, "minute", 45), (DAY, "day", 4905), (GLOBAL, "global", 4905)],
)
def test_a_spent_limit_is_named_and_the_other_counters_are_given_back(
    refusing: str, limit: str, retry_after_s: int
) -> None:
    dynamo = FakeDynamo(**script(refusing, "ConditionalCheckFailedException"))
    with pytest.raises(RateLimited) as caught:
        charge(dynamo, "q", "p", LIMITS, now=NOW)
    assert caught.value.limit == limit
    assert caught.value.retry_after_s == retry_after_s
    given_back = sorted(key for key, delta in dynamo.calls if delta < 0)
    assert given_back == sorted({MINUTE, DAY, GLOBAL} - {refusing})


def test_the_first_spent_limit_in_order_is_named_and_nothing_refused_is_given_back() -> None:
    dynamo = FakeDynamo(
        **script(DAY, "ConditionalCheckFailedException"),
        **script(GLOBAL, "ConditionalCheckFailedException"),
    )
    with pytest.raises(RateLimited) as caught:
        charge(dynamo, "q", "p", LIMITS, now=NOW)
    assert caught.value.limit == "day"
    assert [key for key, delta in dynamo.calls if delta < 0] == [MINUTE]


def test_a_counter_held_by_a_transaction_is_retried_alone() -> None:
    dynamo = FakeDynamo(**script(GLOBAL, "TransactionConflictException"))
    assert charge(dynamo, "q", "p", LIMITS, now=NOW, sleep=lambda _: None) == 4
    assert [key for key, _ in dynamo.calls].count(GLOBAL) == 2
    assert all(delta > 0 for _, delta in dynamo.calls)


def test_a_conflict_beside_a_refusal_is_not_retried() -> None:
    dynamo = FakeDynamo(
        **script(MINUTE, "ConditionalCheckFailedException"),
        **script(GLOBAL, "TransactionConflictException"),
    )
    with pytest.raises(RateLimited) as caught:
        charge(dynamo, "q", "p", LIMITS, now=NOW, sleep=lambda _: None)
    assert caught.value.limit == "minute"
    assert sorted(dynamo.calls) == sorted([(MINUTE, 1), (DAY, 1), (GLOBAL, 1), (DAY, -1)])


def test_contention_that_outlasts_the_retries_is_a_429_not_an_error() -> None:
    dynamo = FakeDynamo(**script(GLOBAL, *["TransactionConflictException"] * 5))
    with pytest.raises(RateLimited) as caught:
        charge(dynamo, "q", "p", LIMITS, now=NOW, sleep=lambda _: None)
    assert (caught.value.limit, caught.value.retry_after_s) == ("throughput", 1)
    assert sorted(key for key, delta in dynamo.calls if delta < 0) == sorted([MINUTE, DAY])


def test_throttling_after_the_sdks_retries_is_a_429_and_gives_back() -> None:
    dynamo = FakeDynamo(**script(MINUTE, "ProvisionedThroughputExceededException"))
    with pytest.raises(RateLimited) as caught:
        charge(dynamo, "q", "p", LIMITS, now=NOW)
    assert caught.value.limit == "throughput"
    assert sorted(key for key, delta in dynamo.calls if delta < 0) == sorted([DAY, GLOBAL])


def test_another_aws_error_is_raised_after_the_give_back() -> None:
    dynamo = FakeDynamo(**script(DAY, "AccessDeniedException"))
    with pytest.raises(ClientError, match="AccessDeniedException"):
        charge(dynamo, "q", "p", LIMITS, now=NOW)
    assert sorted(key for key, delta in dynamo.calls if delta < 0) == sorted([MINUTE, GLOBAL])


def test_a_failing_give_back_does_not_change_the_refusal() -> None:
    dynamo = FakeDynamo(
        **script(MINUTE, "ConditionalCheckFailedException"),
        **script(GLOBAL, "InternalServerError", give_back=True),
    )
    with pytest.raises(RateLimited) as caught:
        charge(dynamo, "q", "p", LIMITS, now=NOW)
    assert caught.value.limit == "minute"
