"""HTTP requests to API Gateway HTTP API (payload format 2.0) events, as API Gateway builds them.

Header names are lowercased, repeated headers are joined with commas, cookies move to
`cookies`, query parameters are parsed (repeats joined with commas), JWT claims arrive as
strings, and a body that is not text is base64-encoded with isBase64Encoded set.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

ROUTE_KEY = "POST /api/client-secret"
TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")


def _is_text(content_type: str | None, body: bytes) -> bool:
    if content_type and content_type.lower().startswith(TEXT_TYPES):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return not body


def claim_string(value: Any) -> str:
    """A claim as API Gateway passes it on: every value a string, arrays as "[a b]"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + " ".join(claim_string(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def query_parameters(query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def http_api_event(
    method: str,
    path: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    source_ip: str = "127.0.0.1",
    query: str = "",
    route_key: str | None = None,
    jwt_claims: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    now = datetime.now(UTC)
    request_context: dict[str, Any] = {
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": merged.get("host", "127.0.0.1"),
        "domainPrefix": "local",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": request_id or uuid.uuid4().hex[:16] + "=",
        "routeKey": route_key or f"{method} {path}",
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(time.time() * 1000),
    }
    if jwt_claims is not None:
        request_context["authorizer"] = {
            "jwt": {"claims": {k: claim_string(v) for k, v in jwt_claims.items()}, "scopes": None}
        }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": request_context["routeKey"],
        "rawPath": path,
        "rawQueryString": query,
        "headers": merged,
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query_parameters(query)
    if body:
        if _is_text(merged.get("content-type"), body):
            event["body"] = body.decode("utf-8")
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event
