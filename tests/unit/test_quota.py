"""The quota charge's decisions, with a fake DynamoDB client: which limit is named, when the
window ends, and retries of transaction conflicts. (Atomicity itself is tested against moto
server in tests/integration/test_quota_and_auth.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ekmint.errors import RateLimited
from ekmint.quota import QuotaLimits, charge

NOW = datetime(2026, 11, 25, 22, 38, 15, tzinfo=UTC)


def canceled(reasons: list[str]) -> ClientError:
    """What botocore raises for a cancelled transaction: AWS's code, its reasons beside it."""
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
        "CancellationReasons": [{"Code": code} for code in reasons],
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    return ClientError(response, "TransactWriteItems")


class FakeDynamo:
    def __init__(self, *answers: list[str] | None) -> None:
        self.answers = list(answers)
        self.calls: list[list[dict[str, Any]]] = []

    def transact_write_items(self, *, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(TransactItems)
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise canceled(answer)
        return {}


LIMITS = QuotaLimits(per_minute=3, per_day=30, global_daily=5000)


def keys(call: list[dict[str, Any]]) -> list[str]:
    return [item["Update"]["Key"]["pk"]["S"] for item in call]


def test_one_transaction_charges_minute_day_and_global_counters() -> None:
    dynamo = FakeDynamo()
    assert charge(dynamo, "q", "203.0.113.9", LIMITS, now=NOW) == 1
    assert keys(dynamo.calls[0]) == [
        "m#203.0.113.9#2026-11-25T22:38",
        "d#203.0.113.9#2026-11-25",
        "g#2026-11-25",
    ]
    limits = [
        item["Update"]["ExpressionAttributeValues"][":limit"]["N"] for item in dynamo.calls[0]
    ]
    assert limits == ["3", "30", "5000"]


def test_zero_limits_are_left_out_and_no_limits_make_no_call() -> None:
    dynamo = FakeDynamo()
    charge(dynamo, "q", "p", QuotaLimits(per_minute=0, per_day=10, global_daily=0), now=NOW)
    assert keys(dynamo.calls[0]) == ["d#p#2026-11-25"]
    assert charge(dynamo, "q", "p", QuotaLimits(0, 0, 0), now=NOW) == 0
    assert len(dynamo.calls) == 1


@pytest.mark.parametrize(
    ("reasons", "limit", "retry_after_s"),
    [
        (["ConditionalCheckFailed", "None", "None"], "minute", 45),
        (["None", "ConditionalCheckFailed", "None"], "day", 4905),
        (["None", "None", "ConditionalCheckFailed"], "global", 4905),
    ],
)
def test_a_spent_limit_is_named_with_the_seconds_until_its_window_ends(
    reasons: list[str], limit: str, retry_after_s: int
) -> None:
    with pytest.raises(RateLimited) as caught:
        charge(FakeDynamo(reasons), "q", "p", LIMITS, now=NOW)
    assert caught.value.limit == limit
    assert caught.value.retry_after_s == retry_after_s


def test_transaction_conflicts_are_retried() -> None:
    dynamo = FakeDynamo(["TransactionConflict", "None", "None"], None)
    assert charge(dynamo, "q", "p", LIMITS, now=NOW, sleep=lambda _: None) == 2


def test_endless_conflicts_give_up() -> None:
    dynamo = FakeDynamo(*[["TransactionConflict"]] * 10)
    with pytest.raises(ClientError, match="TransactionCanceledException"):
        charge(dynamo, "q", "p", LIMITS, now=NOW, sleep=lambda _: None)
    assert len(dynamo.calls) == 5
