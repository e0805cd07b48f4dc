"""Which browser origins may call, and the CORS headers they get.

API Gateway answers preflight itself when the HTTP API has a CorsConfiguration; the handler
repeats the same allow-list so a misconfigured API cannot hand keys to another site's page.
"""

from __future__ import annotations

from collections.abc import Sequence

PREFLIGHT_MAX_AGE_S = 600


def origin_allowed(origin: str | None, allowed: Sequence[str]) -> bool:
    # No Origin header: not a browser cross-origin call (curl, a server), so CORS does not apply.
    if origin is None:
        return True
    return "*" in allowed or origin in allowed


def cors_headers(origin: str | None, allowed: Sequence[str]) -> dict[str, str]:
    if origin is None or not origin_allowed(origin, allowed):
        return {}
    # The origin itself, never "*": answers differ by origin, hence Vary. No credentials ever:
    # callers authenticate with a bearer header, not cookies.
    return {
        "Access-Control-Allow-Origin": origin,
        # Date: the browser client corrects a wrong device clock with it (key expiry).
        "Access-Control-Expose-Headers": "X-Request-Id, Retry-After, Date",
        "Vary": "Origin",
    }


def preflight_headers(origin: str | None, allowed: Sequence[str]) -> dict[str, str]:
    headers = cors_headers(origin, allowed)
    if headers:
        headers |= {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            # X-OpenAI-Agents-SDK: the browser SDK sends it with the offer it posts to
            # /api/realtime/calls; template.yaml's CorsConfiguration allows the same three.
            "Access-Control-Allow-Headers": "Content-Type, Authorization, X-OpenAI-Agents-SDK",
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        }
    return headers
