"""Reading audit records the way the table is built to be read: never a Scan.

- by request id: GetItem on the table's key;
- by caller: Query on the `by_principal` index (principal, ts), with the time range on ts;
- by time: Query on the `by_day` index (day, ts), one Query per UTC day in the range.
A Scan reads (and bills) the whole table; on a year of records that is the difference between
milliseconds and minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ekmint.audit import from_item

BY_PRINCIPAL = "by_principal"
BY_DAY = "by_day"
DEFAULT_WINDOW = timedelta(days=1)
# A day-by-day read of more than this is more likely a typo than a wish.
MAX_DAYS = 400


class QueryError(ValueError):
    pass


# Credentials the developer must renew, by the code AWS answers with.
_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "ExpiredToken",
    }
)
_FIX_CREDENTIALS = (
    "configure credentials (`aws configure`, `aws sso login`, or AWS_PROFILE) and try again"
)


def aws_error_line(error: Exception, *, table: str, where: str) -> str:
    """One line for a failed AWS call while reading `table` (`where`: a region or endpoint):
    what went wrong and what to do, instead of botocore's traceback."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        CredentialRetrievalError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
        TokenRetrievalError,
    )

    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return f"no usable AWS credentials: {_FIX_CREDENTIALS}"
    if isinstance(error, CredentialRetrievalError | TokenRetrievalError):
        return f"your AWS credentials could not be loaded ({error}): {_FIX_CREDENTIALS}"
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return f"could not reach DynamoDB in {where}: check your network and the region"
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "?"))
        if code == "ResourceNotFoundException":
            return (
                f"no table {table!r} in {where}: check --table (the stack's AuditTableName "
                "output) and --region"
            )
        if code in {"AccessDeniedException", "AccessDenied"}:
            return (
                f"access denied to {table!r}: reading the audit needs dynamodb:Query on the "
                "table and its indexes and dynamodb:GetItem on the table (docs/operations.md)"
            )
        if code in _CREDENTIAL_CODES:
            return f"AWS refused your credentials ({code}): {_FIX_CREDENTIALS}"
        return f"AWS answered {code} reading {table!r} in {where}"
    return f"the AWS call failed ({type(error).__name__}: {error})"


def parse_time(text: str, *, end_of_day: bool = False) -> datetime:
    """ISO 8601 date or time -> aware UTC datetime; naive times are taken as UTC. A bare date
    means the start of that day (or its end, for --until)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            at = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return at + timedelta(days=1, milliseconds=-1) if end_of_day else at
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{text!r} is not an ISO 8601 date or time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def ts_key(at: datetime) -> str:
    """The audit record's `ts` format (ekmint.audit.timestamps), so ranges compare as strings."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class AuditFilter:
    principal: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    request_id: str | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        ts = str(record.get("ts", ""))
        return (
            (self.principal is None or record.get("principal") == self.principal)
            and (self.since is None or ts >= ts_key(self.since))
            and (self.until is None or ts <= ts_key(self.until))
        )


def _pages(dynamodb: Any, **query: Any) -> Iterator[dict[str, Any]]:
    while True:
        page = dynamodb.query(**query)
        for item in page.get("Items", []):
            yield from_item(item)
        if "LastEvaluatedKey" not in page:
            return
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _range_condition(
    since: datetime | None, until: datetime | None
) -> tuple[str, dict[str, dict[str, str]]]:
    if since and until:
        return " AND ts BETWEEN :since AND :until", {
            ":since": {"S": ts_key(since)},
            ":until": {"S": ts_key(until)},
        }
    if since:
        return " AND ts >= :since", {":since": {"S": ts_key(since)}}
    if until:
        return " AND ts <= :until", {":until": {"S": ts_key(until)}}
    return "", {}


def read_records(
    dynamodb: Any, table: str, wanted: AuditFilter, *, now: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Audit records matching `wanted`, oldest first."""
    if wanted.since and wanted.until and wanted.since > wanted.until:
        raise QueryError("--since is after --until")
    if wanted.request_id:
        answer = dynamodb.get_item(TableName=table, Key={"request_id": {"S": wanted.request_id}})
        if "Item" in answer:
            record = from_item(answer["Item"])
            if wanted.matches(record):
                yield record
        return
    if wanted.principal:
        condition, values = _range_condition(wanted.since, wanted.until)
        yield from _pages(
            dynamodb,
            TableName=table,
            IndexName=BY_PRINCIPAL,
            KeyConditionExpression="principal = :principal" + condition,
            ExpressionAttributeValues={":principal": {"S": wanted.principal}} | values,
        )
        return
    until = wanted.until or (now or datetime.now(UTC))
    since = wanted.since or until - DEFAULT_WINDOW
    days = (until.date() - since.date()).days + 1
    if days > MAX_DAYS:
        raise QueryError(f"the range spans {days} days; narrow it to at most {MAX_DAYS}")
    condition, values = _range_condition(since, until)
    for offset in range(days):
        day = (since.date() + timedelta(days=offset)).isoformat()
        yield from _pages(
            dynamodb,
            TableName=table,
            IndexName=BY_DAY,
            KeyConditionExpression="#day = :day" + condition,
            # DAY is one of DynamoDB's reserved words: it needs a placeholder name.
            ExpressionAttributeNames={"#day": "day"},
            ExpressionAttributeValues={":day": {"S": day}} | values,
        )
