"""The OpenAI API key, from Secrets Manager, cached per execution environment.

Powertools' SecretsProvider keeps the value for `max_age_s`, so a warm mint makes no Secrets
Manager call; `refresh=True` (after an upstream 401) fetches again to pick up a rotated key.
Nothing here ever puts the secret's value, or any part of it, in an exception or a log line.
"""

from __future__ import annotations

import json
from typing import Any

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
    def __init__(self, provider: Any, secret_id: str, max_age_s: int) -> None:
        # provider: a Powertools SecretsProvider (or anything with its get() signature).
        self._provider = provider
        self._secret_id = secret_id
        self._max_age_s = max_age_s

    def get(self, *, refresh: bool = False) -> str:
        try:
            raw = self._provider.get(self._secret_id, max_age=self._max_age_s, force_fetch=refresh)
        except Exception as exc:
            # The provider wraps botocore errors; their text names the secret, never its value.
            cause = exc.__cause__ or exc
            raise SecretUnusable(
                f"reading secret {self._secret_id} failed: {type(cause).__name__}: {cause}"
            ) from None
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        if not isinstance(raw, str):
            raise SecretUnusable("the secret has no string value")
        return extract_key(raw)
