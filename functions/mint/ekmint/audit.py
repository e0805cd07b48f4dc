"""The audit record: one per request decision (minted, refused, failed), kept in DynamoDB.

Schema (docs/audit.md) is versioned by `schema_version`. The table's key is `request_id`; the
`by_principal` and `by_day` indexes (both sorted by `ts`) serve the time-range reads. The record
holds a fingerprint of the `ek_` value, never the value, and nothing of the OpenAI key; for a
relayed call, the upstream's call id and nothing of the SDP offer or answer.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SCHEMA_VERSION = 1
Outcome = Literal["minted", "refused", "failed"]
# What the request asked for: an ek_ key (POST /api/client-secret) or a relayed call
# (POST /api/realtime/calls).
Kind = Literal["mint", "call"]


def fingerprint(value: str) -> str:
    """A stable, non-reversible id for an `ek_` value: enough to match a leaked key to its
    record, useless for opening a session."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:32]


class AuditRecord(BaseModel):
    schema_version: int = SCHEMA_VERSION
    request_id: str
    ts: str
    day: str
    ttl: int
    kind: Kind = "mint"
    outcome: Outcome
    http_status: int
    error_code: str | None = None
    error_message: str | None = None
    principal: str
    principal_type: Literal["ip", "sub"]
    viewer_ip_trusted: bool = False
    source_ip: str | None = None
    origin: str | None = None
    user_agent: str | None = None
    session_type: str | None = None
    requested_model: str | None = None
    requested_voice: str | None = None
    requested_ttl_s: int | None = None
    model: str | None = None
    voice: str | None = None
    ttl_s: int | None = None
    expires_at: int | None = None
    # Present (true) only when the upstream's answer lacked expires_at (Azure) and the mint
    # derived it from the request's time and TTL.
    expires_at_derived: bool | None = None
    key_fingerprint: str | None = None
    call_id: str | None = None
    upstream_request_id: str | None = None
    upstream_status: int | None = None
    upstream_attempts: int = 0
    upstream_latency_ms: float | None = None
    key_refreshed: bool = False
    quota_limit: str | None = None
    quota_calls: int = 0
    latency_ms: float | None = None
    cold_start: bool = False


def timestamps(now: datetime, retention_days: int) -> dict[str, Any]:
    at = now.astimezone(UTC)
    return {
        "ts": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "day": at.strftime("%Y-%m-%d"),
        "ttl": int((at + timedelta(days=retention_days)).timestamp()),
    }


def _digest(fields: dict[str, Any]) -> str:
    """A hash of the whole record: two writes of the same record have the same digest."""
    canonical = json.dumps(fields, sort_keys=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def to_item(record: AuditRecord) -> dict[str, dict[str, Any]]:
    """DynamoDB's attribute-value form, built by hand (boto3's TypeSerializer wants Decimal for
    every number); absent values are left out rather than stored as NULL. Carries the record's
    digest, which makes a retried write of the same record idempotent (write)."""
    fields = record.model_dump(exclude_none=True)
    item: dict[str, dict[str, Any]] = {"record_digest": {"S": _digest(fields)}}
    for name, value in fields.items():
        if isinstance(value, bool):
            item[name] = {"BOOL": value}
        elif isinstance(value, int | float):
            item[name] = {"N": repr(round(value, 3)) if isinstance(value, float) else str(value)}
        else:
            item[name] = {"S": str(value)}
    return item


def from_item(item: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The reverse of to_item, for readers (the CLI, tests)."""
    out: dict[str, Any] = {}
    for name, typed in item.items():
        ((kind, value),) = typed.items()
        if kind == "N":
            out[name] = float(value) if any(c in value for c in ".eE") else int(value)
        else:
            out[name] = value
    return out


class AuditWriteFailed(Exception):
    pass


def write(dynamodb: DynamoDBClient, table: str, record: AuditRecord) -> None:
    """Put the record; botocore's retries handle throttling and lost answers.

    Conditional on a new request_id, so a replayed invocation can never overwrite an earlier
    decision, or on the stored record being this very one (same digest): when DynamoDB applied
    an attempt whose answer was lost, botocore's retry of the same write succeeds instead of
    failing its own condition and withholding a key whose record says it was minted."""
    item = to_item(record)
    try:
        dynamodb.put_item(
            TableName=table,
            Item=item,
            ConditionExpression="attribute_not_exists(request_id) OR record_digest = :digest",
            ExpressionAttributeValues={":digest": item["record_digest"]},
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise AuditWriteFailed(f"{code}: {exc}") from None
    except Exception as exc:
        raise AuditWriteFailed(f"{type(exc).__name__}: {exc}") from None
