"""Lambda entry point: wires POST /api/client-secret to the mint logic and
POST /api/realtime/calls to the relay. No rules live here.

Everything at module scope (settings, clients, the key cache) is built once per execution
environment (dependencies.py) and reused by every warm invocation.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from .cors import cors_headers, preflight_headers
from .deadline import Deadline
from .dependencies import build_dependencies, openai_client
from .errors import InternalError, MintError, NotFound
from .lifecycle import open_openai_connection, register_snapstart_hooks, warm_aws
from .mint import mint
from .relay import SDP_MEDIA_TYPE, relay
from .request import Incoming, from_event
from .settings import SettingsError, load_settings
from .telemetry import NAMESPACE

ROUTE = "/api/client-secret"
CALLS_ROUTE = "/api/realtime/calls"

logger = Logger(service="ekmint")
metrics = Metrics(namespace=NAMESPACE, service="ekmint")
# Third-party loggers print requests and answers at DEBUG (httpx and httpcore log every
# request, botocore every signed header). Pin them, so no log level setting, ours or
# Lambda's, can turn that on.
for _name in ("httpx", "httpcore", "botocore", "boto3", "urllib3", "aws_lambda_powertools"):
    logging.getLogger(_name).setLevel(logging.WARNING)
try:
    settings = load_settings()
except SettingsError as exc:
    # Stop at cold start, loudly, naming the variable: better than a function that half works.
    logger.error("invalid configuration", extra={"setting_error": str(exc)})
    raise

# In a function runtime (Lambda, sam local, the local stack and the benchmark set _HANDLER),
# do during init what the first mint would pay for (lifecycle.py); a test importing the
# module stays offline. The OpenAI connection first: its handshakes then overlap the
# construction of the AWS clients (~100 ms of CPU) instead of following it.
_in_runtime = bool(os.environ.get("_HANDLER"))
_openai = openai_client(settings)
if _in_runtime:
    open_openai_connection(_openai)
deps = build_dependencies(settings, logger, metrics, http=_openai)
if _in_runtime:
    warm_aws(deps)
register_snapstart_hooks(deps)
app = APIGatewayHttpResolver()
_cold_start = True


def _request_id() -> str:
    context = app.current_event.request_context
    return context.request_id or app.lambda_context.aws_request_id


def _respond(
    status: int,
    body: dict[str, Any] | None,
    extra: dict[str, str],
    *,
    sdp: str | None = None,
) -> Response[str]:
    origin = app.current_event.headers.get("origin")
    headers = {
        "Cache-Control": "no-store",
        "X-Request-Id": _request_id(),
        **cors_headers(origin, settings.allowed_origins),
        **extra,
    }
    if sdp is not None:
        return Response(status_code=status, content_type=SDP_MEDIA_TYPE, body=sdp, headers=headers)
    return Response(
        status_code=status,
        content_type="application/json" if body is not None else None,
        body=json.dumps(body, separators=(",", ":")) if body is not None else "",
        headers=headers,
    )


def _cold() -> bool:
    global _cold_start
    cold, _cold_start = _cold_start, False
    return cold


def _incoming() -> tuple[Incoming, Deadline]:
    incoming = from_event(app.current_event.raw_event, app.lambda_context.aws_request_id)
    return incoming, Deadline.for_invocation(app.lambda_context)


@app.post(ROUTE)
def client_secret() -> Response[str]:
    incoming, deadline = _incoming()
    answer = mint(incoming, deps, deadline, cold_start=_cold())
    return _respond(200, answer.model_dump(), {})


@app.post(CALLS_ROUTE)
def realtime_call() -> Response[str]:
    incoming, deadline = _incoming()
    call = relay(incoming, deps, deadline, cold_start=_cold())
    return _respond(201, None, {}, sdp=call.answer_sdp)


@app.route(ROUTE, method="OPTIONS")
@app.route(CALLS_ROUTE, method="OPTIONS")
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
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
