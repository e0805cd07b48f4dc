"""Per-principal and global quotas, charged in one atomic DynamoDB call before the upstream call.

One TransactWriteItems updates up to three counters (this minute and this day for the
principal, this day for everyone), each with a condition that it is under its limit. Either all
three are charged or none, so concurrent requests from many execution environments can never
mint more than the limit. Counters expire through the table's TTL attribute.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .errors import RateLimited

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Counters outlive their window a little, so the TTL sweep (hours late at times) never
# removes a live one.
MINUTE_COUNTER_TTL_S = 3600
DAY_COUNTER_TTL_S = 2 * 86400
# Transactions touching the same counter at the same moment conflict; retry those briefly.
CONFLICT_RETRIES = 4
CONFLICT_BACKOFF_S = 0.02


@dataclass(frozen=True)
class QuotaLimits:
    per_minute: int
    per_day: int
    global_daily: int


@dataclass(frozen=True)
class _Counter:
    limit_name: str
    key: str
    limit: int
    ttl: int
    window_end: datetime
    message: str


def _counters(principal: str, now: datetime, limits: QuotaLimits) -> list[_Counter]:
    minute = now.replace(second=0, microsecond=0)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    epoch = int(now.timestamp())
    counters = [
        _Counter(
            "minute",
            f"m#{principal}#{minute:%Y-%m-%dT%H:%M}",
            limits.per_minute,
            epoch + MINUTE_COUNTER_TTL_S,
            minute + timedelta(minutes=1),
            f"Too many keys for this caller this minute (limit {limits.per_minute}).",
        ),
        _Counter(
            "day",
            f"d#{principal}#{day:%Y-%m-%d}",
            limits.per_day,
            epoch + DAY_COUNTER_TTL_S,
            day + timedelta(days=1),
            f"Too many keys for this caller today (limit {limits.per_day}).",
        ),
        _Counter(
            "global",
            f"g#{day:%Y-%m-%d}",
            limits.global_daily,
            epoch + DAY_COUNTER_TTL_S,
            day + timedelta(days=1),
            "The service has handed out all the keys it may today (global daily cap).",
        ),
    ]
    return [c for c in counters if c.limit > 0]


def _update(table: str, counter: _Counter) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": counter.key}},
            "UpdateExpression": "ADD #n :one SET #ttl = if_not_exists(#ttl, :ttl)",
            "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
            "ExpressionAttributeNames": {"#n": "n", "#ttl": "ttl"},
            "ExpressionAttributeValues": {
                ":one": {"N": "1"},
                ":limit": {"N": str(counter.limit)},
                ":ttl": {"N": str(counter.ttl)},
            },
        }
    }


def charge(
    dynamodb: DynamoDBClient,
    table: str,
    principal: str,
    limits: QuotaLimits,
    *,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Charge one mint to `principal`; raise RateLimited naming the limit that is spent.

    Returns the number of DynamoDB calls made (for the audit record and the benchmarks).
    """
    at = now or datetime.now(UTC)
    counters = _counters(principal, at, limits)
    if not counters:
        return 0
    items = [_update(table, c) for c in counters]
    calls = 0
    for attempt in range(CONFLICT_RETRIES + 1):
        calls += 1
        try:
            dynamodb.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
            return calls
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            # botocore puts the per-item reasons beside Error, in the order of TransactItems.
            cancelled: Any = exc.response
            reasons = [r.get("Code") for r in cancelled.get("CancellationReasons") or []]
            for counter, reason in zip(counters, reasons, strict=False):
                if reason == "ConditionalCheckFailed":
                    wait_s = max(1, int((counter.window_end - at).total_seconds() + 0.999))
                    raise RateLimited(
                        counter.message, retry_after_s=wait_s, limit=counter.limit_name
                    ) from None
            if "TransactionConflict" not in reasons or attempt == CONFLICT_RETRIES:
                raise
            sleep(CONFLICT_BACKOFF_S * (attempt + 1) * (0.5 + random.random()))  # noqa: S311
    return calls
