"""Shared test values and helpers: the fake keys whose appearance anywhere is a leak, event
loading, and running the real handler on an event."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from ekmint_dev.events import http_api_event
from ekmint_dev.lambda_context import LocalLambdaContext

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "events"

# Fake OpenAI keys. They must never show up in any output of the run (conftest scans for them).
# The dots keep them from looking like real keys to secret scanners.
OPENAI_KEY = "sk-local.test.key.for-ekmint.0001"
ROTATED_KEY = "sk-local.test.key.for-ekmint.0002"
SECRET_VALUES = (OPENAI_KEY, ROTATED_KEY)
# make_handler's type: settings overrides in, a freshly imported ekmint.handler out.
HandlerFactory = Callable[..., ModuleType]
EK_VALUE = re.compile(r"ek_[A-Za-z0-9_\-]{8,}")
ORIGIN = "http://localhost:3000"


def base_env(names: Any, upstream_url: str) -> dict[str, str]:
    return {
        "OPENAI_SECRET_ID": names.secret_id,
        "AUDIT_TABLE_NAME": names.audit_table,
        "QUOTA_TABLE_NAME": names.quota_table,
        "OPENAI_BASE_URL": upstream_url,
        "ALLOWED_ORIGINS": f"{ORIGIN},http://127.0.0.1:3000",
        "QUOTA_PER_MINUTE": "1000",
        "QUOTA_PER_DAY": "10000",
        "GLOBAL_DAILY_CAP": "100000",
        # Fast retries so fault tests take milliseconds; the schedule's shape is unit-tested.
        "UPSTREAM_BACKOFF_BASE_S": "0.02",
        "UPSTREAM_READ_TIMEOUT_S": "1",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "POWERTOOLS_SERVICE_NAME": "ekmint",
    }


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def event_env() -> dict[str, str]:
    env: dict[str, str] = json.loads((EVENTS / "env.json").read_text())["Parameters"]
    return env


def post(
    body: bytes | str | dict[str, Any] | None = None,
    *,
    origin: str | None = ORIGIN,
    content_type: str | None = "application/json",
    source_ip: str = "198.51.100.7",
    headers: list[tuple[str, str]] | None = None,
    claims: dict[str, Any] | None = None,
    path: str = "/api/client-secret",
    query: str = "",
) -> dict[str, Any]:
    if isinstance(body, dict):
        body = json.dumps(body)
    raw = body.encode() if isinstance(body, str) else (body or b"")
    all_headers = [("user-agent", "pytest")]
    if origin:
        all_headers.append(("origin", origin))
    if content_type and raw:
        all_headers.append(("content-type", content_type))
    all_headers.extend(headers or [])
    return http_api_event(
        "POST",
        path,
        all_headers,
        raw,
        source_ip=source_ip,
        query=query,
        route_key=f"POST {path}",
        jwt_claims=claims,
    )


def invoke(handler: ModuleType, event: dict[str, Any], timeout_s: float = 25.0) -> dict[str, Any]:
    result: dict[str, Any] = handler.lambda_handler(event, LocalLambdaContext(timeout_s=timeout_s))
    return result


def body_of(result: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(result["body"]) if result.get("body") else {}
    return body


def header(result: dict[str, Any], name: str) -> str | None:
    for key, value in (result.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def audit_items(names: Any, endpoint: str) -> list[dict[str, Any]]:
    """Every audit record in the local table (a Scan: fine for a test, never for the product)."""
    from ekmint.audit import from_item
    from ekmint_dev.local_aws import client

    items = client("dynamodb", endpoint).scan(TableName=names.audit_table)["Items"]
    return [from_item(item) for item in items]


def find_leaks(text: str) -> list[str]:
    leaks = [f"OpenAI key {value[:12]}…" for value in SECRET_VALUES if value in text]
    leaks += [f"ek_ value {m.group()[:8]}…" for m in EK_VALUE.finditer(text)]
    return leaks


class LogTap:
    """Copies every line the handler's Powertools logger writes, formatted as in CloudWatch."""

    def __init__(self, handler: ModuleType) -> None:
        import io
        import logging

        self._buffer = io.StringIO()
        self._logger = logging.getLogger(handler.logger.name)
        self._tap = logging.StreamHandler(self._buffer)
        self._tap.setFormatter(handler.logger.registered_handler.formatter)
        self._logger.addHandler(self._tap)

    @property
    def text(self) -> str:
        return self._buffer.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]

    def close(self) -> None:
        self._logger.removeHandler(self._tap)

    # As a context manager the tap is removed even when the invocation raises, so it never
    # goes on copying a later test's lines.
    def __enter__(self) -> LogTap:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def sdp_offer() -> bytes:
    """A browser-like WebRTC offer for POST /api/realtime/calls (realtime_peer.py). The
    emulator's peer answers the same offer again and again, since nothing connects to it."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from ekmint_dev.realtime_peer import browser_like_offer

    # On a thread of its own: a test module may keep an event loop running on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, browser_like_offer()).result().encode()
