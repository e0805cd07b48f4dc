"""CloudWatch metrics (embedded metric format: log lines, no API calls), derived from the audit
record so that what is counted and what is recorded can never disagree.

The names here are the ones template.yaml's alarms and dashboard use; a test ties them together.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from .audit import AuditRecord

NAMESPACE = "ekmint"
KEYS_MINTED = "KeysMinted"
CALLS_RELAYED = "CallsRelayed"
REQUESTS_REFUSED = "RequestsRefused"
REQUESTS_FAILED = "RequestsFailed"
ERRORS_BY_CODE = "Errors"
QUOTA_REJECTIONS = "QuotaRejections"
GLOBAL_CAP_REACHED = "GlobalCapReached"
OPENAI_UNAVAILABLE = "OpenAIUnavailable"
AUDIT_WRITE_FAILURES = "AuditWriteFailures"
UPSTREAM_ATTEMPTS = "UpstreamAttempts"
UPSTREAM_RETRIES = "UpstreamRetries"
UPSTREAM_LATENCY = "UpstreamLatency"
MINT_LATENCY = "MintLatency"


def record_metrics(metrics: Any, record: AuditRecord, *, stored: bool) -> None:
    """Add this request's metrics to `metrics` (a Powertools Metrics, flushed per invocation)."""

    def count(name: str, value: float = 1) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    if record.outcome == "minted":
        # A relayed call is granted like a key (outcome minted) and counted on its own.
        count(KEYS_MINTED if record.kind == "mint" else CALLS_RELAYED)
    else:
        count(REQUESTS_REFUSED if record.outcome == "refused" else REQUESTS_FAILED)
        # Its own EMF line, so the code can be a dimension without touching the other metrics.
        with single_metric(
            name=ERRORS_BY_CODE, unit=MetricUnit.Count, value=1, namespace=NAMESPACE
        ) as metric:
            metric.add_dimension(name="code", value=record.error_code or "unknown")
    if record.error_code == "rate_limited":
        count(QUOTA_REJECTIONS)
        if record.quota_limit == "global":
            count(GLOBAL_CAP_REACHED)
    if record.error_code == "openai_api_unavailable":
        count(OPENAI_UNAVAILABLE)
    if not stored or record.error_code == "audit_unavailable":
        count(AUDIT_WRITE_FAILURES)
    if record.upstream_attempts:
        count(UPSTREAM_ATTEMPTS, record.upstream_attempts)
        count(UPSTREAM_RETRIES, record.upstream_attempts - 1)
    if record.upstream_latency_ms is not None:
        metrics.add_metric(
            name=UPSTREAM_LATENCY, unit=MetricUnit.Milliseconds, value=record.upstream_latency_ms
        )
    if record.latency_ms is not None:
        metrics.add_metric(name=MINT_LATENCY, unit=MetricUnit.Milliseconds, value=record.latency_ms)
