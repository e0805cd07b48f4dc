"""The OpenAI API key, from Secrets Manager, cached per execution environment.

The key is kept for `max_age_s`, so a warm mint makes no Secrets Manager call; `refresh=True`
(after an upstream 401) fetches again to pick up a rotated key. `prefetch()`, called as a mint
starts with a stale key, fetches in the background so that the fetch overlaps the quota charge
instead of following it; `get()` joins it and returns its key or raises its error, so the calls
made and the errors seen are the same as a fetch inside `get()`.
Nothing here ever puts the secret's value, or any part of it, in an exception or a log line.

This is Powertools' SecretsProvider cache (max age, force fetch) in a few lines over the
function's own AWS client (aws_client.py): the Powertools parameters module imports boto3 and
botocore (~200 ms of cold start) for one call (docs/performance.md).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import threading
import time
from collections.abc import Callable

from .aws_client import AwsCaller
from .errors import InternalError

# Names under which a JSON secret may hold the key, checked in this order.
JSON_KEY_NAMES = ("OPENAI_API_KEY", "openai_api_key", "api_key", "apiKey")


class SecretUnusable(InternalError):
    """The secret is missing, unreadable or holds no key; the detail is only for the log."""

    def __init__(self, detail: str) -> None:
        super().__init__("The service is not configured correctly.")
        self.detail = detail


def extract_key(secret: str) -> str:
    text = secret.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            raise SecretUnusable("the secret looks like JSON but does not parse") from None
        if not isinstance(document, dict):
            raise SecretUnusable("the secret's JSON is not an object")
        for name in JSON_KEY_NAMES:
            value = document.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()
        raise SecretUnusable(f"the secret's JSON has none of the keys {list(JSON_KEY_NAMES)}")
    if not text:
        raise SecretUnusable("the secret is empty")
    if any(ch.isspace() for ch in text):
        raise SecretUnusable("the secret holds whitespace inside the key")
    return text


class OpenAIKeySource:
    def __init__(
        self,
        secretsmanager: AwsCaller,
        secret_id: str,
        max_age_s: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = secretsmanager
        self._secret_id = secret_id
        self._max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._raw: str | bytes | None = None
        self._fetched_at = 0.0
        self._prefetch: threading.Thread | None = None
        self._prefetch_error: Exception | None = None
        self._prefetched: str | bytes | None = None

    def fresh(self) -> bool:
        """True while the cached value may be used without asking Secrets Manager."""
        return (
            self._raw is not None
            and self._max_age_s > 0
            and self._clock() - self._fetched_at < self._max_age_s
        )

    def forget(self) -> None:
        """Drop the cached value (after any fetch under way): the next get() asks Secrets
        Manager. For SnapStart: the snapshot should not hold the key, a restore re-checks it."""
        with contextlib.suppress(Exception):
            self._join_prefetch()
        with self._lock:
            self._raw = None

    def prefetch(self) -> None:
        """Fetch in the background if the cached value is stale and no fetch is under way."""
        with self._lock:
            if self.fresh() or (self._prefetch is not None and self._prefetch.is_alive()):
                return
            self._prefetch_error = self._prefetched = None
            self._prefetch = threading.Thread(
                target=self._background_fetch, name="ekmint-secret-prefetch", daemon=True
            )
            self._prefetch.start()

    def _background_fetch(self) -> None:
        try:
            self._prefetched = self._fetch()
        except Exception as exc:
            # Kept for get(), which reports it as if it had made the call itself.
            self._prefetch_error = exc

    def _fetch(self) -> str | bytes:
        answer = self._client.call("GetSecretValue", {"SecretId": self._secret_id})
        # As Powertools' SecretsProvider: the string value, else the binary one (base64 in
        # the JSON protocol).
        raw: str | bytes | None = answer.get("SecretString")
        if raw is None and isinstance(answer.get("SecretBinary"), str):
            try:
                raw = base64.b64decode(answer["SecretBinary"], validate=True)
            except binascii.Error:
                raise SecretUnusable("the secret's binary value is not base64") from None
        if raw is None:
            raise SecretUnusable("the secret has no string value")
        with self._lock:
            self._raw, self._fetched_at = raw, self._clock()
        return raw

    def _join_prefetch(self) -> str | bytes | None:
        """Wait for a prefetch under way; its value (even with a max age of 0), or its error
        raised, once."""
        prefetch = self._prefetch
        if prefetch is None:
            return None
        prefetch.join()
        with self._lock:
            error, self._prefetch_error = self._prefetch_error, None
            raw, self._prefetched = self._prefetched, None
            self._prefetch = None
        if error is not None:
            raise error
        return raw

    def get(self, *, refresh: bool = False) -> str:
        try:
            raw = None if refresh else self._join_prefetch()
            if raw is None:
                raw = self._raw if self.fresh() and not refresh else self._fetch()
        except SecretUnusable:
            raise
        except Exception as exc:
            # AWS's error text names the secret, never its value.
            raise SecretUnusable(
                f"reading secret {self._secret_id} failed: {type(exc).__name__}: {exc}"
            ) from None
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        if not isinstance(raw, str):
            raise SecretUnusable("the secret has no string value")
        return extract_key(raw)
