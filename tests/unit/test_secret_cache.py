"""The key cache, on Powertools' SecretsProvider over a real boto3 client and moto server: one
Secrets Manager call per max age, force-fetch after a 401, forget() for SnapStart, the key taken
out of a bare or JSON secret, and errors that never carry the secret's value."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from support import OPENAI_KEY, ROTATED_KEY

from ekmint.dependencies import AWS_CONFIG
from ekmint.secret_cache import OpenAIKeySource, SecretUnusable, extract_key
from ekmint_dev.local_aws import LocalNames, put_secret


class Counted:
    """A real Secrets Manager client, with its GetSecretValue calls counted through botocore's
    own event hooks."""

    def __init__(self) -> None:
        self.client: Any = boto3.client("secretsmanager", config=AWS_CONFIG)
        self.calls = 0
        self.client.meta.events.register("before-call.secrets-manager.GetSecretValue", self._count)

    def _count(self, **_: Any) -> None:
        self.calls += 1


@pytest.fixture
def secrets(aws: LocalNames) -> Counted:
    return Counted()


def test_a_fresh_key_is_served_from_the_cache(aws: LocalNames, secrets: Counted) -> None:
    keys = OpenAIKeySource(secrets.client, aws.secret_id, 300)
    assert [keys.get(), keys.get()] == [OPENAI_KEY, OPENAI_KEY]
    assert secrets.calls == 1


def test_refresh_picks_up_a_rotated_key(
    aws: LocalNames, secrets: Counted, moto_server: Any
) -> None:
    keys = OpenAIKeySource(secrets.client, aws.secret_id, 300)
    keys.get()
    put_secret(moto_server.url, aws.secret_id, ROTATED_KEY)
    assert keys.get() == OPENAI_KEY  # still cached
    assert keys.get(refresh=True) == ROTATED_KEY
    assert keys.get() == ROTATED_KEY
    assert secrets.calls == 2


def test_a_max_age_of_zero_never_caches(aws: LocalNames, secrets: Counted) -> None:
    keys = OpenAIKeySource(secrets.client, aws.secret_id, 0)
    keys.get()
    keys.get()
    assert secrets.calls == 2


def test_forget_makes_the_next_get_ask_again(aws: LocalNames, secrets: Counted) -> None:
    keys = OpenAIKeySource(secrets.client, aws.secret_id, 300)
    keys.get()
    keys.forget()
    keys.get()
    assert secrets.calls == 2


def test_a_json_secret_gives_its_key(aws: LocalNames, secrets: Counted, moto_server: Any) -> None:
    put_secret(moto_server.url, aws.secret_id, json.dumps({"OPENAI_API_KEY": OPENAI_KEY}))
    assert OpenAIKeySource(secrets.client, aws.secret_id, 300).get() == OPENAI_KEY


def test_a_binary_secret_is_decoded(aws: LocalNames, moto_server: Any) -> None:
    client: Any = boto3.client("secretsmanager", config=AWS_CONFIG)
    client.create_secret(Name="binary-key", SecretBinary=OPENAI_KEY.encode())
    assert OpenAIKeySource(client, "binary-key", 300).get() == OPENAI_KEY


def test_a_missing_secret_names_the_secret_not_a_value(aws: LocalNames, secrets: Counted) -> None:
    keys = OpenAIKeySource(secrets.client, "ekmint/does-not-exist", 300)
    with pytest.raises(SecretUnusable) as caught:
        keys.get()
    assert "ekmint/does-not-exist" in caught.value.detail
    assert "ResourceNotFoundException" in caught.value.detail
    assert caught.value.message == "The service is not configured correctly."


@pytest.mark.parametrize(
    ("secret", "detail"),
    [
        ("", "the secret is empty"),
        ("  \n", "the secret is empty"),
        ("sk-one two", "the secret holds whitespace inside the key"),
        ("{not json", "the secret looks like JSON but does not parse"),
        ('{"other": "x"}', "the secret's JSON has none of the keys"),
    ],
)
def test_an_unusable_secret_says_why_without_its_value(secret: str, detail: str) -> None:
    with pytest.raises(SecretUnusable) as caught:
        extract_key(secret)
    assert caught.value.detail.startswith(detail)
    assert secret.strip() == "" or secret not in caught.value.detail


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "openai_api_key", "api_key", "apiKey"])
def test_the_json_key_names_we_read(name: str) -> None:
    assert extract_key(json.dumps({name: f" {OPENAI_KEY} "})) == OPENAI_KEY
