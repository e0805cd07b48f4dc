"""The OpenAI API key, from Secrets Manager through Powertools parameters, cached per execution
environment.

Powertools' `SecretsProvider` keeps the value for `max_age` seconds, so a warm mint makes no
Secrets Manager call; `refresh=True` (after an upstream 401) is its `force_fetch`, which picks up
a rotated key. What is ours: taking the key out of a bare string or a JSON secret, and errors
that never carry the secret's value (the log gets a detail that names the secret, never its
content).

A mint reads the key before it charges the quota (mint.py): when the secret is missing or
unreadable the caller gets 500 and spends nothing. On a stale cache that puts one Secrets
Manager call (a few ms in-region, once per max age) before the quota charge rather than beside it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from .errors import InternalError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

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
        self, secretsmanager: SecretsManagerClient, secret_id: str, max_age_s: int
    ) -> None:
        self.provider = SecretsProvider(boto3_client=secretsmanager)
        self._secret_id = secret_id
        self._max_age_s = max_age_s

    def forget(self) -> None:
        """Drop the cached value: the next get() asks Secrets Manager. For SnapStart: the
        snapshot should not hold the key, a restore re-checks it."""
        self.provider.clear_cache()  # type: ignore[no-untyped-call]

    def get(self, *, refresh: bool = False) -> str:
        try:
            raw = self.provider.get(self._secret_id, max_age=self._max_age_s, force_fetch=refresh)
        except Exception as exc:
            # Powertools wraps botocore's error, whose text names the secret, never its value.
            raise SecretUnusable(
                f"reading secret {self._secret_id} failed: {type(exc).__name__}: {exc}"
            ) from None
        if isinstance(raw, bytes):
            # As SecretsProvider returns a binary secret: its bytes (boto3 decoded the base64).
            raw = raw.decode("utf-8", "replace")
        if not isinstance(raw, str):
            raise SecretUnusable("the secret has no string value")
        return extract_key(raw)
