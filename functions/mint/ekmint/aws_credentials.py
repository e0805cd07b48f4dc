"""The execution role's credentials, found the way AWS SDKs find them inside Lambda.

1. Environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, which Lambda
   sets for every on-demand function (and the local stack sets to moto's test values).
2. Container credentials: with SnapStart, Lambda sets no keys in the environment but
   AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN (the SDKs' "container
   credential provider"); the answer carries an Expiration and is fetched again well before it.

Shared config files, profiles and IMDS are left out on purpose: a Lambda function has none of
them, and reading ~/.aws on a laptop would sign local calls with someone's real keys.
Nothing here puts a secret key or token in a message, a repr or a log line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# As the SDKs: refresh container credentials this long before they expire.
REFRESH_BEFORE_EXPIRY_S = 10 * 60
# ECS's fixed link-local host, for the relative-URI form of the container provider.
CONTAINER_HOST = "http://169.254.170.2"
CONTAINER_TIMEOUT_S = 2.0


class NoCredentials(Exception):
    """No usable credentials; the message says which variables were looked at."""


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    # Epoch seconds; None for credentials that do not expire while the environment lives.
    expires_at: float | None = None


# Fetches a URL with the given headers and returns the decoded JSON document.
FetchJson = Callable[[str, dict[str, str]], Any]


class CredentialSource:
    def __init__(
        self,
        environ: Mapping[str, str],
        fetch_json: FetchJson,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._environ = environ
        self._fetch_json = fetch_json
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: Credentials | None = None

    def get(self) -> Credentials:
        env = self._environ
        access_key, secret_key = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if access_key and secret_key:
            return Credentials(access_key, secret_key, env.get("AWS_SESSION_TOKEN") or None)
        with self._lock:
            cached = self._cached
            if cached is None or (
                cached.expires_at is not None
                and cached.expires_at - self._clock() < REFRESH_BEFORE_EXPIRY_S
            ):
                cached = self._cached = self._from_container()
            return cached

    def forget(self) -> None:
        """Drop fetched credentials (before a SnapStart snapshot: no snapshot holds them)."""
        with self._lock:
            self._cached = None

    def _from_container(self) -> Credentials:
        env = self._environ
        url = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        if not url and env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
            url = CONTAINER_HOST + env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
        if not url:
            raise NoCredentials(
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Lambda and "
                "the local stack do), or AWS_CONTAINER_CREDENTIALS_FULL_URI"
            )
        token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        token_file = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
        if token_file:
            token = Path(token_file).read_text().strip()
        headers = {"Authorization": token} if token else {}
        try:
            document = self._fetch_json(url, headers)
            expiration = document.get("Expiration")
            return Credentials(
                access_key=str(document["AccessKeyId"]),
                secret_key=str(document["SecretAccessKey"]),
                token=str(document["Token"]) if document.get("Token") else None,
                expires_at=_epoch(expiration) if expiration else None,
            )
        except NoCredentials:
            raise
        except Exception as exc:
            # The type only: an exception's text could quote the answer, keys included.
            raise NoCredentials(
                f"the container credentials endpoint gave no credentials ({type(exc).__name__})"
            ) from None


def _epoch(timestamp: str) -> float:
    # ISO 8601, "2026-11-26T01:00:00Z" as ECS and Lambda send it.
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
