"""A small client for AWS's JSON protocol: the three calls the function makes.

DynamoDB (JSON 1.0: TransactWriteItems, PutItem) and Secrets Manager (JSON 1.1: GetSecretValue)
are both one signed POST to "/" naming the operation in X-Amz-Target, with a JSON body in and
out. botocore does this with ~190 ms of imports (urllib3, its docs and waiter machinery, every
service model's JSON); this does it over the HttpClient the function already has for OpenAI
(http_client.py), and a call takes ~1 ms less than botocore's (`python -m bench.aws_call`,
docs/performance.md).

What it keeps from botocore, because the function's guarantees rest on it:
- standard-mode retries: 3 attempts on throttling, 5xx, transient codes and network errors,
  with botocore's jittered exponential backoff (1 s scale when throttled, 50/25 ms otherwise);
- TransactWriteItems carries a ClientRequestToken, as botocore fills it in, so a retry after a
  lost answer cannot charge the quota twice;
- DynamoDB's x-amz-crc32 check of every answer (a mismatch is retried);
- errors with AWS's code, message and, for a cancelled transaction, its CancellationReasons;
- endpoints from AWS_ENDPOINT_URL_<SERVICE> / AWS_ENDPOINT_URL (local stack, tests, bench).
What it leaves out: the retry quota bucket (one call at a time per environment never drains it),
other protocols and services.
"""

from __future__ import annotations

import json
import random
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from . import sigv4
from .aws_credentials import CredentialSource
from .connection import SpareConnections, prepared_client
from .http_client import Answer, HttpClient, Limits, Timeouts, TransportError

MAX_ATTEMPTS = 3
CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 2.0
MAX_BACKOFF_S = 20.0
THROTTLING_BACKOFF_S = 1.0
# botocore's standard mode (retries/standard.py): throttling, transient codes and statuses.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"}
)
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
USER_AGENT = "ekmint/0.1"


@dataclass(frozen=True)
class AwsService:
    name: str  # signing name and endpoint prefix
    target_prefix: str
    json_version: str
    env_suffix: str  # AWS_ENDPOINT_URL_<env_suffix>
    backoff_s: float  # backoff scale for errors other than throttling
    crc32: bool = False


# Operations whose input has an idempotency token (by service and operation), which botocore
# fills in when the caller leaves it out.
IDEMPOTENCY_TOKENS = {("dynamodb", "TransactWriteItems"): "ClientRequestToken"}


DYNAMODB = AwsService(
    "dynamodb",
    "DynamoDB_20120810",
    "1.0",
    "DYNAMODB",
    backoff_s=0.025,
    crc32=True,
)
SECRETS_MANAGER = AwsService("secretsmanager", "secretsmanager", "1.1", "SECRETS_MANAGER", 0.05)
AWS_SERVICES = (DYNAMODB, SECRETS_MANAGER)


class AwsError(Exception):
    """An AWS call that failed for good (after retries). `code` is AWS's error code, or the
    network error's type when no answer came; `body` is AWS's JSON error document."""

    def __init__(
        self,
        operation: str,
        code: str,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        body: Mapping[str, Any] | None = None,
        throttled: bool = False,
        retryable: bool = False,
    ) -> None:
        # botocore's wording, so log queries written against it keep working.
        super().__init__(
            f"An error occurred ({code}) when calling the {operation} operation: {message}"
        )
        self.operation = operation
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.body: Mapping[str, Any] = body or {}
        self.throttled = throttled
        self.retryable = retryable


def region_of(environ: Mapping[str, str]) -> str:
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ValueError("AWS_REGION is not set (Lambda and the local stack set it)")
    return region


def endpoint_of(service: AwsService, region: str, environ: Mapping[str, str]) -> str:
    explicit = environ.get(f"AWS_ENDPOINT_URL_{service.env_suffix}") or environ.get(
        "AWS_ENDPOINT_URL"
    )
    if explicit:
        return explicit.rstrip("/")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{service.name}.{region}.{domain}"


def endpoints_of(region: str, environ: Mapping[str, str]) -> dict[AwsService, str]:
    """The endpoint of each service the function calls."""
    return {service: endpoint_of(service, region, environ) for service in AWS_SERVICES}


# A context manager around one call (all its attempts), yielding a dict the client fills with
# what a trace should keep (operation, status, request id, retries): see tracing.aws_span.
Span = Callable[[str], AbstractContextManager[dict[str, Any]]]


@contextmanager
def _no_span(_: str) -> Iterator[dict[str, Any]]:
    yield {}


class AwsCaller(Protocol):
    """What quota.py, audit.py and secret_cache.py need of a client (tests pass fakes)."""

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]: ...


def make_http(
    endpoints: list[str],
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    spares: SpareConnections | None = None,
) -> HttpClient:
    """One kept-alive pool for every AWS endpoint the function calls, with its TLS context
    built off the cold start's critical path and connections that can be opened ahead of the
    first mint (connection.py). Redirects are never followed: a signed request is never re-sent
    to another host."""
    return prepared_client(
        endpoints,
        Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=60),
        Timeouts(connect=connect_timeout_s, read=READ_TIMEOUT_S),
        spares=spares,
    )


class FetchFailed(Exception):
    """The credentials endpoint answered, but not with 200."""


def fetch_json(http: HttpClient) -> Callable[[str, dict[str, str]], Any]:
    """GET a JSON document (the container credentials endpoint) through `http`."""
    timeouts = Timeouts(connect=CONNECT_TIMEOUT_S * 2, read=CONNECT_TIMEOUT_S * 2)

    def fetch(url: str, headers: dict[str, str]) -> Any:
        response = http.get(url, headers=headers, timeouts=timeouts)
        if response.status_code != 200:
            raise FetchFailed(f"HTTP {response.status_code}")
        return response.json()

    return fetch


class AwsJsonClient:
    def __init__(
        self,
        http: HttpClient,
        service: AwsService,
        *,
        region: str,
        endpoint: str,
        credentials: CredentialSource,
        max_attempts: int = MAX_ATTEMPTS,
        timeouts: Timeouts | None = None,
        span: Span | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.region = region
        self.endpoint = endpoint
        self._http = http
        self._host = urlsplit(endpoint).netloc
        self._url = endpoint + "/"
        self._credentials = credentials
        self._max_attempts = max_attempts
        self._timeouts = timeouts or Timeouts(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S)
        self._span = span or _no_span
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._content_type = f"application/x-amz-json-{service.json_version}"

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Make one call (with retries); its answer, or AwsError."""
        token_field = IDEMPOTENCY_TOKENS.get((self.service.name, operation))
        if token_field and token_field not in params:
            # Once per call, not per attempt: retries must carry the same token.
            params = {**params, token_field: str(uuid.uuid4())}
        body = json.dumps(params, separators=(",", ":")).encode()
        with self._span(operation) as facts:
            attempt = 0
            while True:
                attempt += 1
                try:
                    answer = self._attempt(operation, body)
                except AwsError as error:
                    facts.update(status=error.status, request_id=error.request_id)
                    if not error.retryable or attempt >= self._max_attempts:
                        facts.update(retries=attempt - 1, error=error.code)
                        raise
                    self._sleep(self._backoff_s(attempt, error.throttled))
                    continue
                facts.update(status=200, retries=attempt - 1)
                return answer

    def _backoff_s(self, attempt: int, throttled: bool) -> float:
        scale = THROTTLING_BACKOFF_S if throttled else self.service.backoff_s
        return float(min(self._rand() * scale * 2 ** (attempt - 1), MAX_BACKOFF_S))

    def _attempt(self, operation: str, body: bytes) -> dict[str, Any]:
        credentials = self._credentials.get()
        headers = {
            "content-type": self._content_type,
            "host": self._host,
            "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock())),
            "x-amz-target": f"{self.service.target_prefix}.{operation}",
        }
        if credentials.token:
            headers["x-amz-security-token"] = credentials.token
        headers["authorization"] = sigv4.authorization(
            method="POST",
            headers=headers,
            body=body,
            amz_date=headers["x-amz-date"],
            region=self.region,
            service=self.service.name,
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
        )
        # Unsigned: the CRC32 DynamoDB sends is of the bytes on the wire, so no compression.
        headers["accept-encoding"] = "identity"
        headers["user-agent"] = USER_AGENT
        try:
            response = self._http.post(
                self._url, content=body, headers=headers, timeouts=self._timeouts
            )
        except TransportError as exc:
            raise AwsError(operation, exc.kind, str(exc) or "no answer", retryable=True) from None
        raw = response.content
        if self.service.crc32 and not _crc32_matches(response.headers.get("x-amz-crc32"), raw):
            raise AwsError(
                operation, "CRC32CheckFailed", "the answer was damaged in transit",
                status=response.status_code, retryable=True,
            )  # fmt: skip
        if response.status_code == 200:
            document = json.loads(raw) if raw else {}
            return document if isinstance(document, dict) else {}
        raise _error(operation, response)


def _crc32_matches(expected: str | None, raw: bytes) -> bool:
    if expected is None:
        return True
    try:
        return int(expected) == zlib.crc32(raw)
    except ValueError:
        return False


def _error(operation: str, response: Answer) -> AwsError:
    """AWS's JSON-protocol error: the code in __type (or x-amzn-ErrorType), after any '#'."""
    try:
        document = json.loads(response.content)
    except ValueError:
        document = None
    body: dict[str, Any] = document if isinstance(document, dict) else {}
    code = str(body.get("__type") or response.headers.get("x-amzn-errortype") or "")
    code = code.split(":", maxsplit=1)[0].rsplit("#", 1)[-1] or f"HTTP{response.status_code}"
    message = str(body.get("message") or body.get("Message") or response.reason_phrase)
    throttled = code in THROTTLING_CODES
    return AwsError(
        operation,
        code,
        message,
        status=response.status_code,
        request_id=response.headers.get("x-amzn-requestid"),
        body=body,
        throttled=throttled,
        retryable=throttled or code in TRANSIENT_CODES or response.status_code in TRANSIENT_STATUS,
    )
