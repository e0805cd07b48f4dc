"""Lambda entry point: wires POST /api/client-secret to the mint logic. No rules live here.

Everything at module scope (settings, clients, the key cache) is built once per execution
environment and reused by every warm invocation.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

# First, before the heavy imports: importing it starts opening the first mint's connections.
from . import warm_start

# isort: split
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from .aws_client import (
    DYNAMODB,
    SECRETS_MANAGER,
    AwsJsonClient,
    AwsService,
    endpoints_of,
    fetch_json,
    make_http,
    region_of,
)
from .aws_credentials import CredentialSource
from .cors import cors_headers, preflight_headers
from .deadline import Deadline
from .errors import InternalError, MintError, NotFound
from .lifecycle import prepare_connection, register_snapstart_hooks
from .mint import MintDeps, mint
from .request import from_event
from .secret_cache import OpenAIKeySource
from .settings import SettingsError, load_settings
from .telemetry import NAMESPACE
from .tracing import aws_span, make_tracer, trace_handler
from .upstream import RetryPolicy, make_client

ROUTE = "/api/client-secret"

logger = Logger(service="ekmint")
metrics = Metrics(namespace=NAMESPACE, service="ekmint")
# None where tracing is off (POWERTOOLS_TRACE_DISABLED, outside Lambda): see tracing.py.
tracer = make_tracer()
# Third-party loggers print requests and answers at DEBUG (httpcore logs every read and write).
# Pin them, so no log level setting, ours or Lambda's, can turn that on.
for _name in ("httpcore", "aws_lambda_powertools"):
    logging.getLogger(_name).setLevel(logging.WARNING)
try:
    settings = load_settings()
except SettingsError as exc:
    # Stop at cold start, loudly, naming the variable: better than a function that half works.
    logger.error("invalid configuration", extra={"setting_error": str(exc)})
    raise

retry_policy = RetryPolicy(
    max_attempts=settings.upstream_max_attempts,
    backoff_base_s=settings.upstream_backoff_base_s,
    connect_timeout_s=settings.upstream_connect_timeout_s,
    read_timeout_s=settings.upstream_read_timeout_s,
)
# Both pools start from warm_start's spares: the connections it opened while this module was
# importing. prepare_connection opens any still missing (outside a function runtime: all), in
# the background; no request is sent (lifecycle.py).
_http = make_client(settings.openai_base_url, retry_policy, warm_start.SPARES)
prepare_connection(_http)
# AWS through our own small JSON-protocol client rather than botocore (~190 ms of imports and
# ~0.9 ms more per call: docs/performance.md). It fails fast: a 1 s connect and 2 s read
# timeout and standard-mode retries (3 attempts, backing off on throttling) keep a sick
# dependency from eating the caller's 30 s.
_region = region_of(os.environ)
_endpoints = endpoints_of(_region, os.environ)
_aws_http = make_http(list(_endpoints.values()), spares=warm_start.SPARES)
prepare_connection(_aws_http)
_credentials = CredentialSource(os.environ, fetch_json(_aws_http))


def _aws_client(service: AwsService) -> AwsJsonClient:
    return AwsJsonClient(
        _aws_http,
        service,
        region=_region,
        endpoint=_endpoints[service],
        credentials=_credentials,
        span=aws_span(tracer, service.name, _region),
    )


deps = MintDeps(
    settings=settings,
    key_source=OpenAIKeySource(
        _aws_client(SECRETS_MANAGER),
        settings.openai_secret_id,
        settings.openai_secret_max_age_s,
    ),
    dynamodb=_aws_client(DYNAMODB),
    http=_http,
    aws_http=_aws_http,
    credentials=_credentials,
    retry=retry_policy,
    logger=logger,
    metrics=metrics,
    tracer=tracer,
)
register_snapstart_hooks(deps)
app = APIGatewayHttpResolver()
_cold_start = True


def _request_id() -> str:
    context = app.current_event.request_context
    return context.request_id or app.lambda_context.aws_request_id


def _respond(status: int, body: dict[str, Any] | None, extra: dict[str, str]) -> Response[str]:
    origin = app.current_event.headers.get("origin")
    headers = {
        "Cache-Control": "no-store",
        "X-Request-Id": _request_id(),
        **cors_headers(origin, settings.allowed_origins),
        **extra,
    }
    return Response(
        status_code=status,
        content_type="application/json" if body is not None else None,
        body=json.dumps(body, separators=(",", ":")) if body is not None else "",
        headers=headers,
    )


@app.post(ROUTE)
def client_secret() -> Response[str]:
    global _cold_start
    cold, _cold_start = _cold_start, False
    incoming = from_event(app.current_event.raw_event, app.lambda_context.aws_request_id)
    deadline = Deadline.for_invocation(app.lambda_context)
    answer = mint(incoming, deps, deadline, cold_start=cold)
    return _respond(200, answer.model_dump(), {})


@app.route(ROUTE, method="OPTIONS")
def preflight() -> Response[str]:
    # API Gateway answers preflight itself when CORS is configured; this serves the local stack
    # and any deployment without it.
    origin = app.current_event.headers.get("origin")
    return _respond(204, None, preflight_headers(origin, settings.allowed_origins))


def _error_response(error: MintError) -> Response[str]:
    extra = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s else {}
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "action": error.action,
            "request_id": _request_id(),
        }
    }
    return _respond(error.status, body, extra)


@app.exception_handler(MintError)  # type: ignore[untyped-decorator]
def mint_error(error: MintError) -> Response[str]:
    return _error_response(error)


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def unexpected(exc: Exception) -> Response[str]:
    logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
    return _error_response(InternalError("Something went wrong on our side."))


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return _error_response(
        NotFound(f"no route for {app.current_event.http_method} {app.current_event.path}")
    )


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@trace_handler(tracer)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
