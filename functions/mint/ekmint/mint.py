"""One mint, from a parsed request to an answer, with its audit record written either way.

Collaborators (DynamoDB client, key source, HTTP client, clocks) come in as arguments so tests
can pass moto-backed clients, the emulator's URL, or fakes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime

from . import audit, quota
from .deadline import Deadline
from .dependencies import MintDeps
from .errors import AuditUnavailable, InternalError, MintError, RateLimited
from .models import ClientSecretAnswer, SessionSummary
from .policy import EffectiveSession, apply_policy, parse_request
from .request import Incoming, check_body, check_origin, principal_of
from .secret_cache import SecretUnusable
from .telemetry import record_metrics
from .upstream import PROVIDERS, UpstreamFailure, UpstreamReport, create_client_secret

AUDIT_RETRY_AFTER_S = 2


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
    viewer_ip_trusted: bool = False
    # True when the upstream's answer had no expires_at (Azure) and the mint derived it.
    expires_at_derived: bool = False
    # Milliseconds spent in each phase (secret, quota, upstream, audit): the request's log line
    # carries them, so Logs Insights answers "where did the time go" without traces.
    phases_ms: dict[str, float] = field(default_factory=dict)


@contextmanager
def _phase(deps: MintDeps, decision: _Decision, name: str) -> Iterator[None]:
    started = deps.monotonic()
    try:
        yield
    finally:
        decision.phases_ms[name] = round((deps.monotonic() - started) * 1000, 1)


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


def _trusted_viewer_ip(deps: MintDeps, decision: _Decision) -> str | None:
    """The viewer's IP when a trusted edge vouches for it (edge.py); None otherwise."""
    if deps.edge is None or deps.settings.auth_mode == "jwt":
        return None
    try:
        viewer_ip, why = deps.edge.viewer_ip(decision.incoming.headers)
    except Exception as exc:
        raise SecretUnusable(f"reading the edge secret failed: {type(exc).__name__}") from None
    decision.viewer_ip_trusted = viewer_ip is not None
    if why not in ("trusted", "no viewer header"):
        # A spoofed or broken header: ignored (the source IP is the principal), and said.
        deps.logger.warning("viewer address not trusted", extra={"edge_reason": why})
    return viewer_ip


def _decide(
    incoming: Incoming, deps: MintDeps, deadline: Deadline, decision: _Decision
) -> tuple[ClientSecretAnswer, str]:
    settings = deps.settings
    check_origin(incoming, settings.allowed_origins)
    decision.principal, decision.principal_type = principal_of(
        incoming, settings.auth_mode, _trusted_viewer_ip(deps, decision)
    )
    check_body(incoming, settings.max_body_bytes)
    effective = apply_policy(parse_request(incoming.body), settings.session_policy)
    decision.effective = effective
    # The key before the charge: a missing or unreadable secret costs the caller no quota.
    # Warm (cached key): no call.
    with _phase(deps, decision, "secret"):
        key = deps.key_source.get()
    with _phase(deps, decision, "quota"):
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

    keys = [key]

    def get_key(refresh: bool) -> str:
        # After a 401 the key may have been rotated: fetch it again and use the new one.
        if refresh:
            keys.append(deps.key_source.get(refresh=True))
        return keys[-1]

    try:
        with _phase(deps, decision, "upstream"):
            secret, decision.report = create_client_secret(
                deps.http,
                effective.upstream_body,
                get_key,
                deadline,
                deps.retry,
                sleep=deps.sleep,
                rand=deps.rand,
                clock=deps.monotonic,
                provider=PROVIDERS[settings.upstream_provider],
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
    expires_at = secret.expires_at
    if expires_at is None:
        # Azure may not say: the request's time plus the TTL we asked for. The request's time
        # is before the upstream's creation time, so the derived expiry is never later than
        # the real one. The audit record says it was derived.
        expires_at = int(decision.at.timestamp()) + effective.ttl_s
        decision.expires_at_derived = True
    answer = ClientSecretAnswer(
        value=secret.value,
        expires_at=expires_at,
        session=summary,
        webrtc_url=settings.webrtc_url,
    )
    return answer, secret.value


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
    outcome = "minted" if error is None else error.outcome
    retention_days = (
        deps.settings.refused_retention_days
        if outcome == "refused"
        else deps.settings.audit_retention_days
    )
    record = audit.AuditRecord(
        request_id=incoming.request_id,
        **audit.timestamps(decision.at, retention_days),
        outcome=outcome,
        http_status=200 if error is None else error.status,
        error_code=None if error is None else error.code,
        error_message=None if error is None else error.message,
        principal=decision.principal,
        principal_type=decision.principal_type,
        viewer_ip_trusted=decision.viewer_ip_trusted,
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
        expires_at_derived=True if answer and decision.expires_at_derived else None,
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
        with _phase(deps, decision, "audit"):
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
            extra={
                "audit": record.model_dump(exclude_none=True),
                "audit_error": str(exc)[:300],
                "phases_ms": decision.phases_ms,
            },
        )
    else:
        deps.logger.info(
            "audit",
            extra={"audit": record.model_dump(exclude_none=True), "phases_ms": decision.phases_ms},
        )
    if deps.metrics is not None:
        record_metrics(deps.metrics, record, stored=stored)
    return stored
