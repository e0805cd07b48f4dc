"""X-Ray tracing of a mint, kept to names, timings and outcomes (the sending is xray.py's).

A sampled mint's trace holds a `## lambda_handler` subsegment (annotated ColdStart and Service,
as Powertools Tracer did), one subsegment each around the quota charge, the OpenAI call and the
audit write, an AWS subsegment for every DynamoDB and Secrets Manager call (named and shaped as
the X-Ray SDK's botocore patch names them, so the service map shows DynamoDB and Secrets
Manager: operation, region, request id, retries; never an item or a secret's value), and four
annotations of ours, ANNOTATED_FIELDS, searchable in the X-Ray console
(`annotation.request_id = "..."`).

It never holds the handler's answer (it carries the `ek_` value), headers, bodies or the OpenAI
key: a subsegment records names, times, statuses and exception types and messages, and our
exception messages never carry secrets. OpenAI never sees our trace header.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

from .audit import AuditRecord
from .aws_client import Span
from .xray import Tracer, daemon_address, udp_sender

SERVICE = "ekmint"
ANNOTATED_FIELDS = ("request_id", "outcome", "error_code", "model")

QUOTA_SUBSEGMENT = "## quota.charge"
UPSTREAM_SUBSEGMENT = "## openai.client_secrets"
AUDIT_SUBSEGMENT = "## audit.write"
HANDLER_SUBSEGMENT = "## lambda_handler"

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Powertools' own rule: off with POWERTOOLS_TRACE_DISABLED=true, outside Lambda (no
    LAMBDA_TASK_ROOT) and under `sam local` or the local stack (AWS_SAM_LOCAL)."""
    env = os.environ if environ is None else environ
    if resolve_truthy_env_var_choice(env=env.get("POWERTOOLS_TRACE_DISABLED", "false")):
        return False
    return bool(env.get("LAMBDA_TASK_ROOT")) and not env.get("AWS_SAM_LOCAL")


def make_tracer(environ: Mapping[str, str] | None = None) -> Tracer | None:
    """The tracer, or None where tracing is off (nothing is built or sent then)."""
    env = os.environ if environ is None else environ
    if not tracing_enabled(env):
        return None
    address = daemon_address(env.get("AWS_XRAY_DAEMON_ADDRESS"))
    return Tracer(SERVICE, udp_sender(address), environ=env)


def trace_handler(tracer: Tracer | None) -> Callable[[Handler], Handler]:
    """Each invocation in a `## lambda_handler` subsegment; the answer is never recorded."""

    def decorate(handler: Handler) -> Handler:
        if tracer is None:
            return handler
        cold = [True]

        def traced(event: Any, context: Any) -> Any:
            cold_start, cold[0] = cold[0], False
            with tracer.invocation(HANDLER_SUBSEGMENT, cold_start):
                return handler(event, context)

        return cast(Handler, functools.wraps(handler)(traced))

    return decorate


@contextmanager
def subsegment(tracer: Tracer | None, name: str) -> Iterator[None]:
    """A named subsegment when the invocation is traced and sampled; nothing otherwise. An
    exception leaving it is recorded (type and message)."""
    if tracer is None:
        yield
        return
    with tracer.subsegment(name):
        yield


def aws_span(tracer: Tracer | None, service: str, region: str) -> Span | None:
    """A subsegment per AWS call for aws_client.AwsJsonClient, or None when not tracing."""
    if tracer is None:
        return None

    @contextmanager
    def span(operation: str) -> Iterator[dict[str, Any]]:
        facts: dict[str, Any] = {}
        with tracer.subsegment(service, namespace="aws") as entity:
            try:
                yield facts
            finally:
                if entity is not None:
                    entity.aws = {
                        "operation": operation,
                        "region": region,
                        "request_id": facts.get("request_id"),
                        "retries": facts.get("retries", 0),
                    }
                    if facts.get("status"):
                        entity.set_http_status(facts["status"])

    return span


def annotate(tracer: Tracer | None, record: AuditRecord) -> None:
    """Index the request's trace by the audit record's id, outcome, error code and model."""
    if tracer is None:
        return
    for field in ANNOTATED_FIELDS:
        value = getattr(record, field)
        if value is not None:
            tracer.annotate(field, value)
