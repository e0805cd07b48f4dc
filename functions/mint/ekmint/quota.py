"""Per-principal and global quotas, charged before the upstream call, exact under contention.

Each counter (this minute and this day for the principal, this day for everyone) is charged by
its own conditional UpdateItem, `ADD n 1` if `n < limit`, and the calls go out together: one
round trip. A mint is charged only when every counter accepted. When one refuses, the counters
that accepted are given back (`ADD n -1`, again together) and the caller gets a 429 naming the
spent limit.

Why not one TransactWriteItems over the three counters (the earlier design): DynamoDB cancels a
transaction that touches an item another transaction holds (TransactionConflict), and the
global counter is in every mint's transaction, as one caller's counters are in every request
of a burst. Single-item conditional writes of one item are applied one after the other, never
cancelled. docs/scaling.md has the comparison, the simulation and the write units.

Exact: no counter ever exceeds its limit (DynamoDB checks and applies each condition
atomically), and nothing is minted unless all counters took it. Conservative: between a charge
and its give-back a counter counts a request that will not be minted, so a concurrent request
can be refused that would have fitted a moment later; a crash before the give-back refuses a
little more until the window ends. Never more minted than a limit allows.

Counters expire through the table's TTL attribute.
"""

from __future__ import annotations

import contextvars
import functools
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
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
# A counter held by a transaction (an environment still running the earlier, transactional
# design during a deployment) answers TransactionConflictException; retried briefly.
CONFLICT_RETRIES = 2
CONFLICT_BACKOFF_S = 0.02
# Throttling that outlived the SDK's own retries: one item past ~1,000 writes a second.
THROTTLED_RETRY_AFTER_S = 1
THROTTLED_MESSAGE = "Too many requests at this moment; try again in a second."
MAX_PARALLEL_CALLS = 4

_OK = "ok"
_REFUSED = "ConditionalCheckFailedException"
_CONFLICT = "TransactionConflictException"
_THROTTLED = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
_DECIDED = frozenset({_REFUSED, _CONFLICT, *_THROTTLED})


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


# -- the DynamoDB requests: every parameter the quota sends, in one place ----------------------


def charge_params(table: str, counter: _Counter) -> dict[str, Any]:
    """UpdateItem: one more on the counter, if it is under its limit."""
    return {
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


def give_back_params(table: str, counter: _Counter) -> dict[str, Any]:
    """UpdateItem: one less on a counter this request charged but will not use."""
    return {
        "TableName": table,
        "Key": {"pk": {"S": counter.key}},
        "UpdateExpression": "ADD #n :minus_one",
        "ConditionExpression": "attribute_exists(#n)",
        "ExpressionAttributeNames": {"#n": "n"},
        "ExpressionAttributeValues": {":minus_one": {"N": "-1"}},
    }


# -- the transport: the one place that knows the client's call and error shapes -----------------


def _update(dynamodb: DynamoDBClient, params: Mapping[str, Any]) -> str:
    """One UpdateItem (botocore retries throttling itself); `_OK`, or the AWS error code the
    quota decides on (any other error is raised)."""
    try:
        dynamodb.update_item(**params)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _DECIDED:
            return code
        raise
    return _OK


# -- parallel calls -----------------------------------------------------------------------------


@functools.cache
def _pool() -> ThreadPoolExecutor:
    # Made on first use, not at import: no threads start before a request needs them.
    return ThreadPoolExecutor(max_workers=MAX_PARALLEL_CALLS, thread_name_prefix="quota")


def _all_at_once(calls: list[Callable[[], str]]) -> list[str | BaseException]:
    """Run the calls together (the last in this thread); each one's answer or exception."""
    futures: list[Future[str]] = [
        # Each call sees this request's context variables (OpenTelemetry's current span, when
        # the ADOT layer instruments botocore), as a call made in this thread would.
        _pool().submit(contextvars.copy_context().run, call)
        for call in calls[:-1]
    ]
    answers: list[str | BaseException] = []
    try:
        last: str | BaseException = calls[-1]()
    except Exception as exc:
        last = exc
    for future in futures:
        try:
            answers.append(future.result())
        except Exception as exc:
            answers.append(exc)
    return [*answers, last]


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
    answers: dict[str, str | BaseException] = {}
    pending = counters
    calls = 0
    for attempt in range(CONFLICT_RETRIES + 1):
        results = _all_at_once(
            [functools.partial(_update, dynamodb, charge_params(table, c)) for c in pending]
        )
        calls += len(pending)
        answers |= {c.key: r for c, r in zip(pending, results, strict=True)}
        pending = [c for c in pending if answers[c.key] == _CONFLICT]
        # A refusal or an error already decides the request: no counter is retried for it.
        decided = any(a == _REFUSED or isinstance(a, BaseException) for a in answers.values())
        if not pending or decided or attempt == CONFLICT_RETRIES:
            break
        sleep(CONFLICT_BACKOFF_S * (attempt + 1) * (0.5 + random.random()))  # noqa: S311
    if all(answers[c.key] == _OK for c in counters):
        return calls
    charged = [c for c in counters if answers[c.key] == _OK]
    if charged:
        # Best effort: a give-back that fails leaves its counter one high until the window
        # ends (a little more refused, never more minted); the refusal below stands.
        _all_at_once(
            [functools.partial(_update, dynamodb, give_back_params(table, c)) for c in charged]
        )
        calls += len(charged)
    for counter in counters:
        if answers[counter.key] == _REFUSED:
            wait_s = max(1, int((counter.window_end - at).total_seconds() + 0.999))
            raise RateLimited(counter.message, retry_after_s=wait_s, limit=counter.limit_name)
    for counter in counters:
        failure = answers[counter.key]
        if isinstance(failure, BaseException):
            raise failure
    # What is left is contention the SDK's retries and ours did not outlast.
    raise RateLimited(THROTTLED_MESSAGE, retry_after_s=THROTTLED_RETRY_AFTER_S, limit="throughput")
