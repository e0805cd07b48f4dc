"""AWS Signature Version 4 for the JSON-protocol POSTs the function makes (DynamoDB, Secrets
Manager): no query string, path "/", a handful of headers.

This is the algorithm of AWS's "Create a signed AWS API request" guide, restricted to what those
calls need; tests/unit/test_sigv4.py checks every signature against botocore's own signer. The
signing key changes once a day per credential, so it is derived once and kept.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from functools import lru_cache

ALGORITHM = "AWS4-HMAC-SHA256"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


@lru_cache(maxsize=8)
def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret_key}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def authorization(
    *,
    method: str,
    headers: Mapping[str, str],
    body: bytes,
    amz_date: str,
    region: str,
    service: str,
    access_key: str,
    secret_key: str,
) -> str:
    """The Authorization header for a request to path "/" with no query, signing every header
    in `headers` (lower-case names; they must include host and x-amz-date)."""
    names = sorted(headers)
    canonical_headers = "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in names)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        (
            method,
            "/",
            "",
            canonical_headers,
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        )
    )
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        (ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
    )
    signature = hmac.new(
        signing_key(secret_key, date, region, service), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    return (
        f"{ALGORITHM} Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
