"""One request's decision, whatever it hands out (a key: mint.py; a call: relay.py): who asks
(origin, principal), what it costs (the key, then the quota), the upstream exchange, and the
audit record written either way, fail closed.

A route's own work is a function of a `Decision`; `decide` runs it and records the outcome, so
both routes share one path for everything the audit trail and the quota depend on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from . import audit, quota
from .deadline import Deadline
from .dependencies import MintDeps
from .errors import AuditUnavailable, InternalError, MintError, RateLimited
from .policy import EffectiveSession
from .request import Incoming, check_origin, principal_of
from .secret_cache import SecretUnusable
from .telemetry import record_metrics
from .upstream import PROVIDERS, UpstreamFailure, UpstreamReport

AUDIT_RETRY_AFTER_S = 2
_A = TypeVar("_A")


@dataclass
class Decision:
    """What the audit record is built from, filled in as the request goes along."""

    kind: audit.Kind
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
    # Milliseconds spent in each phase (secret, quota, upstream, audit): the request's log line
    # carries them, so Logs Insights answers "where did the time go" without traces.
    phases_ms: dict[str, float] = field(default_factory=dict)
    # Sizes of what was relayed (offer_bytes, answer_bytes): the log line carries them, never
    # the content.
    sizes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Granted:
    """What the caller got, as the audit record keeps it."""

    http_status: int
    model: str | None
    voice: str | None
    expires_at: int | None = None
    # True when the upstream's answer had no expires_at (Azure) and the mint derived it.
    expires_at_derived: bool | None = None
    key_fingerprint: str | None = None
    call_id: str | None = None


@contextmanager
def phase(deps: MintDeps, decision: Decision, name: str) -> Iterator[None]:
    started = deps.monotonic()
    try:
        yield
    finally:
        decision.phases_ms[name] = round((deps.monotonic() - started) * 1000, 1)


def decide(
    kind: audit.Kind,
    incoming: Incoming,
    deps: MintDeps,
    work: Callable[[Decision], tuple[_A, Granted]],
    *,
    cold_start: bool = False,
) -> _A:
    """Run `work` and record its outcome; what it grants reaches the caller only once recorded."""
    started = deps.monotonic()
    decision = Decision(kind, incoming, deps.now())
    try:
        answer, granted = work(decision)
    except MintError as error:
        _record(deps, decision, started, cold_start, error=error)
        raise
    except Exception as exc:
        # Details only in the log; the caller gets a plain internal_error.
        deps.logger.exception("unexpected failure", extra={"error_type": type(exc).__name__})
        internal = InternalError("Something went wrong on our side.")
        _record(deps, decision, started, cold_start, error=internal)
        raise internal from None
    if not _record(deps, decision, started, cold_start, granted=granted):
        # Fail closed: a key (or a call) nobody can trace is never handed out.
        raise _withheld(kind)
    return answer


def _withheld(kind: audit.Kind) -> AuditUnavailable:
    # A 503 that says when to come back, like openai_api_unavailable: DynamoDB throttling
    # usually passes within a second or two.
    what = "key" if kind == "mint" else "call"
    return AuditUnavailable(
        f"The {what} could not be recorded, so it was withheld.",
        retry_after_s=AUDIT_RETRY_AFTER_S,
    )


def admit(incoming: Incoming, deps: MintDeps, decision: Decision) -> None:
    """The origin check and the caller's principal (a trusted edge's viewer IP when set)."""
    settings = deps.settings
    check_origin(incoming, settings.allowed_origins)
    viewer_ip = None
    if deps.edge is not None and settings.auth_mode != "jwt":
        try:
            viewer_ip, why = deps.edge.viewer_ip(incoming.headers)
        except Exception as exc:
            raise SecretUnusable(f"reading the edge secret failed: {type(exc).__name__}") from None
        decision.viewer_ip_trusted = viewer_ip is not None
        if why not in ("trusted", "no viewer header"):
            # A spoofed or broken header: ignored (the source IP is the principal), and said.
            deps.logger.warning("viewer address not trusted", extra={"edge_reason": why})
    decision.principal, decision.principal_type = principal_of(
        incoming, settings.auth_mode, viewer_ip
    )


def pay(deps: MintDeps, decision: Decision) -> Callable[[bool], str]:
    """The OpenAI key, then the quota charge; returns the key getter the upstream call uses.

    The key before the charge: a missing or unreadable secret costs the caller no quota.
    Warm (cached key): no call."""
    settings = deps.settings
    with phase(deps, decision, "secret"):
        keys = [deps.key_source.get()]
    with phase(deps, decision, "quota"):
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
        # After a 401 the key may have been rotated: fetch it again and use the new one.
        if refresh:
            keys.append(deps.key_source.get(refresh=True))
        return keys[-1]

    return get_key


def upstream(
    deps: MintDeps,
    decision: Decision,
    exchange: Callable[..., tuple[_A, UpstreamReport]],
    payload: Any,
    *,
    get_key: Callable[[bool], str],
    deadline: Deadline,
    **extra: Any,
) -> _A:
    """One upstream exchange (upstream.py's create_client_secret or create_call) on the shared
    client, retry policy, clocks and provider (OpenAI or Azure), keeping its report for the
    audit record."""
    try:
        with phase(deps, decision, "upstream"):
            result, decision.report = exchange(
                deps.http,
                payload,
                get_key,
                deadline,
                deps.retry,
                sleep=deps.sleep,
                rand=deps.rand,
                clock=deps.monotonic,
                provider=PROVIDERS[deps.settings.upstream_provider],
                **extra,
            )
    except UpstreamFailure as failure:
        decision.report = failure.report
        raise failure.error from None
    return result


def _record(
    deps: MintDeps,
    decision: Decision,
    started: float,
    cold_start: bool,
    *,
    error: MintError | None = None,
    granted: Granted | None = None,
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
        kind=decision.kind,
        outcome=outcome,
        http_status=granted.http_status if granted else error.status if error else 500,
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
        model=granted.model if granted else effective.model if effective else None,
        voice=granted.voice if granted else effective.voice if effective else None,
        # A call has no TTL of its own: the upstream ends it (at most 60 minutes).
        ttl_s=effective.ttl_s if effective and decision.kind == "mint" else None,
        expires_at=granted.expires_at if granted else None,
        expires_at_derived=granted.expires_at_derived if granted else None,
        key_fingerprint=granted.key_fingerprint if granted else None,
        call_id=granted.call_id if granted else None,
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
    phases = decision.phases_ms
    context = {"phases_ms": phases, **({"sizes": decision.sizes} if decision.sizes else {})}
    try:
        with phase(deps, decision, "audit"):
            audit.write(deps.dynamodb, deps.settings.audit_table_name, record)
        stored = True
    except audit.AuditWriteFailed as exc:
        stored = False
        if granted is not None:
            # What was granted is withheld: the record says what the caller really got.
            withheld = _withheld(decision.kind)
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
                **context,
            },
        )
    else:
        deps.logger.info("audit", extra={"audit": record.model_dump(exclude_none=True), **context})
    if deps.metrics is not None:
        record_metrics(deps.metrics, record, stored=stored)
    return stored
