"""X-Ray tracing with Powertools Tracer, kept to names, timings and outcomes.

A trace of one mint holds Powertools' `## lambda_handler` subsegment (with its own ColdStart and
Service annotations), one subsegment each around the quota charge, the OpenAI call and the audit
write, an AWS subsegment for every DynamoDB and Secrets Manager call (named and shaped as the
X-Ray SDK's botocore patch names them, so the service map shows DynamoDB and Secrets Manager:
operation, region, request id, retries; never an item or a secret's value), and four
annotations of ours,
ANNOTATED_FIELDS, searchable in the X-Ray console (`annotation.request_id = "..."`).

It never holds the handler's answer (it carries the `ek_` value: `capture_response=False`),
headers, bodies or the OpenAI key. httpx is deliberately not patched: X-Ray's httpx patch would
also send our trace header to OpenAI. The OpenAI call is a subsegment of ours instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

from .audit import AuditRecord
from .aws_client import Span

SERVICE = "ekmint"
ANNOTATED_FIELDS = ("request_id", "outcome", "error_code", "model")

QUOTA_SUBSEGMENT = "## quota.charge"
UPSTREAM_SUBSEGMENT = "## openai.client_secrets"
AUDIT_SUBSEGMENT = "## audit.write"

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Powertools' own rule: off with POWERTOOLS_TRACE_DISABLED=true, outside Lambda (no
    LAMBDA_TASK_ROOT) and under `sam local` or the local stack (AWS_SAM_LOCAL)."""
    env = os.environ if environ is None else environ
    if resolve_truthy_env_var_choice(env=env.get("POWERTOOLS_TRACE_DISABLED", "false")):
        return False
    return bool(env.get("LAMBDA_TASK_ROOT")) and not env.get("AWS_SAM_LOCAL")


def make_tracer() -> Tracer | None:
    """The Tracer, or None where it would be disabled anyway.

    A disabled Powertools Tracer still imports aws_xray_sdk, whose recorder, outside Lambda,
    builds a botocore X-Ray client for its sampler: ~170 ms of every local cold start for nothing.
    In Lambda the import and the botocore patch cost ~15 ms (docs/operations.md, "Tracing").
    """
    if not tracing_enabled():
        return None
    # Nothing patched: the function's AWS calls are not botocore's (aws_span traces them), and
    # patch_all() would add httpx (see above), requests, sqlite3... and ~30 ms of init.
    return Tracer(service=SERVICE, auto_patch=False)


def trace_handler(tracer: Tracer | None) -> Callable[[Handler], Handler]:
    """Powertools' capture_lambda_handler, never capturing the answer: it carries the ek_ value."""

    def decorate(handler: Handler) -> Handler:
        if tracer is None:
            return handler
        return cast(Handler, tracer.capture_lambda_handler(handler, capture_response=False))

    return decorate


@contextmanager
def subsegment(tracer: Tracer | None, name: str) -> Iterator[None]:
    """A named subsegment when tracing; nothing otherwise. An exception leaving it is recorded
    by X-Ray (type, message, stack frames): our exception messages never carry secrets."""
    if tracer is None or tracer.disabled:
        yield
        return
    with tracer.provider.in_subsegment(name=name):
        yield


def aws_span(tracer: Tracer | None, service: str, region: str) -> Span | None:
    """A subsegment per AWS call for aws_client.AwsJsonClient, or None when not tracing."""
    if tracer is None:
        return None

    @contextmanager
    def span(operation: str) -> Iterator[dict[str, Any]]:
        facts: dict[str, Any] = {}
        if tracer.disabled:
            yield facts
            return
        provider: Any = tracer.provider
        with provider.in_subsegment(name=service, namespace="aws") as entity:
            try:
                yield facts
            finally:
                entity.set_aws(
                    {
                        "operation": operation,
                        "region": region,
                        "request_id": facts.get("request_id"),
                        "retries": facts.get("retries", 0),
                    }
                )
                if facts.get("status"):
                    entity.put_http_meta("status", facts["status"])

    return span


def annotate(tracer: Tracer | None, record: AuditRecord) -> None:
    """Index the request's trace by the audit record's id, outcome, error code and model."""
    if tracer is None:
        return
    for field in ANNOTATED_FIELDS:
        value = getattr(record, field)
        if value is not None:
            tracer.put_annotation(key=field, value=value)
