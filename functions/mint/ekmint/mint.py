"""One mint, from a parsed request to an answer, with its audit record written either way.

Collaborators (DynamoDB client, key source, HTTP client, clocks) come in as arguments so tests
can pass moto-backed clients, the emulator's URL, or fakes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import audit, quota
from .aws_client import AwsCaller
from .aws_credentials import CredentialSource
from .deadline import Deadline
from .errors import AuditUnavailable, InternalError, MintError, RateLimited
from .http_client import HttpClient
from .lifecycle import prepare
from .models import ClientSecretAnswer, SessionSummary
from .policy import EffectiveSession, apply_policy, parse_request
from .request import Incoming, check_body, check_origin, principal_of
from .secret_cache import OpenAIKeySource, SecretUnusable
from .settings import Settings
from .telemetry import record_metrics
from .tracing import AUDIT_SUBSEGMENT, QUOTA_SUBSEGMENT, UPSTREAM_SUBSEGMENT, annotate, subsegment
from .upstream import RetryPolicy, UpstreamFailure, UpstreamReport, create_client_secret
from .xray import Tracer

AUDIT_RETRY_AFTER_S = 2


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MintDeps:
    settings: Settings
    dynamodb: AwsCaller
    key_source: OpenAIKeySource
    http: HttpClient
    retry: RetryPolicy
    logger: logging.Logger | Any
    # The AWS clients' pool and credentials, for SnapStart's hooks (lifecycle.py).
    aws_http: HttpClient | None = None
    credentials: CredentialSource | None = None
    metrics: Any = None
    tracer: Tracer | None = None
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = _utcnow


@dataclass
class _Decision:
    """What the audit record is built from, filled in as the request goes along."""

    incoming: Incoming
    # The request's one wall-clock time: the quota window it is charged to and the audit
    # record's ts, so counting the audit trail per window gives exactly what the quota allowed.
    at: datetime
    principal: str = "unknown"
    principal_type: str = "ip"
    effective: EffectiveSession | None = None
    report: UpstreamReport = field(default_factory=UpstreamReport)
    quota_calls: int = 0


def mint(
    incoming: Incoming, deps: MintDeps, deadline: Deadline, *, cold_start: bool = False
) -> ClientSecretAnswer:
    started = deps.monotonic()
    decision = _Decision(incoming, deps.now())
    try:
        answer, value = _decide(incoming, deps, deadline, decision)
    except MintError as error:
        _record(deps, decision, started, cold_start, error=error)
        raise
    except Exception as exc:
        # Details only in the log; the caller gets a plain internal_error.
        deps.logger.exception("unexpected failure", extra={"error_type": type(exc).__name__})
        internal = InternalError("Something went wrong on our side.")
        _record(deps, decision, started, cold_start, error=internal)
        raise internal from None
    if not _record(deps, decision, started, cold_start, answer=answer, value=value):
        # Fail closed: a key nobody can trace is never handed out.
        raise _withheld()
    return answer


def _withheld() -> AuditUnavailable:
    # A 503 that says when to come back, like openai_api_unavailable: DynamoDB throttling
    # usually passes within a second or two.
    return AuditUnavailable(
        "The key could not be recorded, so it was withheld.", retry_after_s=AUDIT_RETRY_AFTER_S
    )


def _decide(
    incoming: Incoming, deps: MintDeps, deadline: Deadline, decision: _Decision
) -> tuple[ClientSecretAnswer, str]:
    settings = deps.settings
    check_origin(incoming, settings.allowed_origins)
    decision.principal, decision.principal_type = principal_of(incoming, settings.auth_mode)
    check_body(incoming, settings.max_body_bytes)
    effective = apply_policy(parse_request(incoming.body), settings.session_policy)
    decision.effective = effective
    # A stale key and a missing OpenAI connection are fetched and opened while the quota is
    # charged, not after it (nothing is sent to OpenAI before the charge). Warm: no-op.
    prepare(deps)
    with subsegment(deps.tracer, QUOTA_SUBSEGMENT):
        decision.quota_calls = quota.charge(
            deps.dynamodb,
            settings.quota_table_name,
            decision.principal,
            quota.QuotaLimits(
                settings.quota_per_minute, settings.quota_per_day, settings.global_daily_cap
            ),
            now=decision.at,
            sleep=deps.sleep,
        )

    def get_key(refresh: bool) -> str:
        return deps.key_source.get(refresh=refresh)

    try:
        with subsegment(deps.tracer, UPSTREAM_SUBSEGMENT):
            secret, decision.report = create_client_secret(
                deps.http,
                effective.upstream_body,
                get_key,
                deadline,
                deps.retry,
                sleep=deps.sleep,
                rand=deps.rand,
                clock=deps.monotonic,
            )
    except UpstreamFailure as failure:
        decision.report = failure.report
        raise failure.error from None
    echoed = secret.session
    output = (echoed.get("audio") or {}).get("output") or {}
    summary = SessionSummary(
        type=str(echoed.get("type") or effective.session_type),
        model=echoed.get("model") or effective.model,
        voice=output.get("voice") or effective.voice,
    )
    return ClientSecretAnswer(
        value=secret.value, expires_at=secret.expires_at, session=summary
    ), secret.value


def _record(
    deps: MintDeps,
    decision: _Decision,
    started: float,
    cold_start: bool,
    *,
    error: MintError | None = None,
    answer: ClientSecretAnswer | None = None,
    value: str | None = None,
) -> bool:
    """Write the audit record and log it as one line; False if DynamoDB would not take it."""
    incoming, effective, report = decision.incoming, decision.effective, decision.report
    record = audit.AuditRecord(
        request_id=incoming.request_id,
        **audit.timestamps(decision.at, deps.settings.audit_retention_days),
        outcome="minted" if error is None else error.outcome,
        http_status=200 if error is None else error.status,
        error_code=None if error is None else error.code,
        error_message=None if error is None else error.message,
        principal=decision.principal,
        principal_type=decision.principal_type,
        source_ip=incoming.source_ip,
        origin=incoming.origin,
        user_agent=incoming.user_agent,
        session_type=effective.session_type if effective else None,
        requested_model=effective.requested_model if effective else None,
        requested_voice=effective.requested_voice if effective else None,
        requested_ttl_s=effective.requested_ttl_s if effective else None,
        model=answer.session.model if answer else effective.model if effective else None,
        voice=answer.session.voice if answer else effective.voice if effective else None,
        ttl_s=effective.ttl_s if effective else None,
        expires_at=answer.expires_at if answer else None,
        key_fingerprint=audit.fingerprint(value) if value else None,
        upstream_request_id=report.last_request_id,
        upstream_status=report.last_status,
        upstream_attempts=len(report.attempts),
        upstream_latency_ms=round(report.latency_ms, 1) if report.attempts else None,
        key_refreshed=report.key_refreshed,
        quota_limit=error.limit if isinstance(error, RateLimited) else None,
        quota_calls=decision.quota_calls,
        latency_ms=round((deps.monotonic() - started) * 1000, 1),
        cold_start=cold_start,
    )
    if report.attempts:
        deps.logger.debug(
            "upstream attempts", extra={"attempts": [asdict(a) for a in report.attempts]}
        )
    if isinstance(error, SecretUnusable):
        deps.logger.error("secret unusable", extra={"secret_error": error.detail})
    try:
        with subsegment(deps.tracer, AUDIT_SUBSEGMENT):
            audit.write(deps.dynamodb, deps.settings.audit_table_name, record)
        stored = True
    except audit.AuditWriteFailed as exc:
        stored = False
        if answer is not None:
            # The key is withheld: the record says what the caller really got.
            withheld = _withheld()
            record = record.model_copy(
                update={
                    "outcome": withheld.outcome,
                    "http_status": withheld.status,
                    "error_code": withheld.code,
                    "error_message": withheld.message,
                }
            )
        # The log line is now the only copy of the record: ERROR, so alarms and queries see it.
        deps.logger.error(
            "audit write failed",
            extra={"audit": record.model_dump(exclude_none=True), "audit_error": str(exc)[:300]},
        )
    else:
        deps.logger.info("audit", extra={"audit": record.model_dump(exclude_none=True)})
    # After the write: when it failed, the record (and so the trace) says the key was withheld.
    annotate(deps.tracer, record)
    if deps.metrics is not None:
        record_metrics(deps.metrics, record, stored=stored)
    return stored
