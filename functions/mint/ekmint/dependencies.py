"""The mint's collaborators, built once per execution environment from the settings.

`build_dependencies` is the one place that turns settings into clients: the handler calls it at
module scope, and tests get the same wiring by importing the handler with their own environment
(a moto server's endpoint, the emulator's URL). Building opens no connection and starts no
thread.

- AWS through boto3 clients on one botocore session, with an explicit `Config`: standard retry
  mode (3 attempts, backing off on throttling), short timeouts so a sick dependency cannot eat
  the caller's 30 s (deadline.py reserves the audit write's worst case), TCP keep-alive.
- The OpenAI key through Powertools parameters (secret_cache.py) on that Secrets Manager client.
- OpenAI through one `httpx.Client`: base URL, explicit `Timeout` and `Limits`, kept-alive
  connections. The retry policy stays ours (upstream.py): it is product logic, not transport.
"""

from __future__ import annotations

import logging
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import botocore
import httpx
from botocore.config import Config

from .deadline import AWS_CONNECT_TIMEOUT_S, AWS_MAX_ATTEMPTS, AWS_READ_TIMEOUT_S
from .edge import TrustedEdge
from .secret_cache import OpenAIKeySource
from .settings import Settings
from .upstream import USER_AGENT, RetryPolicy

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

AWS_CONFIG = Config(
    connect_timeout=AWS_CONNECT_TIMEOUT_S,
    read_timeout=AWS_READ_TIMEOUT_S,
    # total_max_attempts counts the first call too; botocore's max_attempts would not.
    retries={"mode": "standard", "total_max_attempts": AWS_MAX_ATTEMPTS},
    tcp_keepalive=True,
    # The function builds every request itself from validated settings; botocore's client-side
    # parameter validation would check them again on every call.
    parameter_validation=False,
    # A fixed User-Agent: botocore otherwise rebuilds its full one (SDK, OS, language, config
    # and feature metadata, each component sanitised character by character) twice per call,
    # ~0.2 ms of a warm mint's CPU (docs/performance.md); a supplied one is a plain join.
    user_agent=f"ekmint/0.1 Botocore/{botocore.__version__} Python/{platform.python_version()}",
)
# One connection per mint at a time (Lambda runs one request per environment); a second kept
# alive covers the rare overlap of a retry with a closing connection.
OPENAI_LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=2, keepalive_expiry=60)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class MintDeps:
    """Everything a mint needs from outside. Not frozen: after a SnapStart restore the OpenAI
    client is built anew (lifecycle.py)."""

    settings: Settings
    dynamodb: DynamoDBClient
    key_source: OpenAIKeySource
    http: httpx.Client
    retry: RetryPolicy
    logger: logging.Logger | Any
    metrics: Any = None
    # Set when TRUSTED_EDGE_SECRET_ID is: the viewer's IP behind CloudFront (edge.py).
    edge: TrustedEdge | None = None
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = random.random
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = _utcnow


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.upstream_max_attempts,
        backoff_base_s=settings.upstream_backoff_base_s,
        connect_timeout_s=settings.upstream_connect_timeout_s,
        read_timeout_s=settings.upstream_read_timeout_s,
    )


def openai_client(settings: Settings) -> httpx.Client:
    """The one OpenAI client of an execution environment. Its timeouts are the per-attempt
    ceilings; each attempt passes its own, capped by the time left (upstream.py)."""
    return httpx.Client(
        base_url=settings.openai_base_url,
        timeout=httpx.Timeout(
            settings.upstream_read_timeout_s, connect=settings.upstream_connect_timeout_s
        ),
        limits=OPENAI_LIMITS,
        headers={"user-agent": USER_AGENT},
        # Nothing we call redirects; a redirect would carry the key to another host.
        follow_redirects=False,
    )


def aws_clients(
    session: boto3.session.Session | None = None,
) -> tuple[DynamoDBClient, SecretsManagerClient]:
    """DynamoDB and Secrets Manager clients on one session (region, credentials and
    AWS_ENDPOINT_URL from the environment, as botocore resolves them)."""
    session = session or boto3.session.Session()
    return (
        session.client("dynamodb", config=AWS_CONFIG),
        session.client("secretsmanager", config=AWS_CONFIG),
    )


def build_dependencies(
    settings: Settings,
    logger: logging.Logger | Any,
    metrics: Any,
    http: httpx.Client | None = None,
) -> MintDeps:
    """`http`: an OpenAI client built (and warmed) ahead of the rest, or None for a new one."""
    dynamodb, secretsmanager = aws_clients()
    key_source = OpenAIKeySource(
        secretsmanager, settings.openai_secret_id, settings.openai_secret_max_age_s
    )
    edge = None
    if settings.trusted_edge_secret_id:
        # The same provider, so both secrets share one client and one cache.
        edge = TrustedEdge(
            key_source.provider,
            settings.trusted_edge_secret_id,
            settings.trusted_edge_secret_header,
            settings.viewer_ip_header,
            settings.openai_secret_max_age_s,
        )
    return MintDeps(
        settings=settings,
        dynamodb=dynamodb,
        key_source=key_source,
        http=http or openai_client(settings),
        retry=retry_policy(settings),
        logger=logger,
        metrics=metrics,
        edge=edge,
    )
