"""The key cache: one Secrets Manager call per max age, a prefetch that overlaps the quota charge
yet fails exactly like a fetch inside get(), and a forget() for SnapStart restores."""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping
from typing import Any

import pytest
from support import OPENAI_KEY, ROTATED_KEY

from ekmint.secret_cache import OpenAIKeySource, SecretUnusable


class FakeSecrets:
    def __init__(self, value: str = OPENAI_KEY, error: Exception | None = None) -> None:
        self.value = value
        self.error = error
        self.calls = 0
        self.release = threading.Event()
        self.release.set()

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        assert operation == "GetSecretValue"
        self.release.wait(5)
        self.calls += 1
        if self.error is not None:
            raise self.error
        return {"Name": params["SecretId"], "SecretString": self.value}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def source(secrets: FakeSecrets, clock: Clock, max_age_s: int = 300) -> OpenAIKeySource:
    return OpenAIKeySource(secrets, "ekmint/openai", max_age_s, clock=clock)


def test_a_fresh_key_is_served_from_the_cache_until_its_max_age() -> None:
    secrets, clock = FakeSecrets(), Clock()
    keys = source(secrets, clock)
    assert [keys.get(), keys.get()] == [OPENAI_KEY, OPENAI_KEY]
    assert secrets.calls == 1
    clock.now += 301
    secrets.value = ROTATED_KEY
    assert keys.get() == ROTATED_KEY
    assert secrets.calls == 2


def test_refresh_always_asks_secrets_manager() -> None:
    secrets, clock = FakeSecrets(), Clock()
    keys = source(secrets, clock)
    keys.get()
    secrets.value = ROTATED_KEY
    assert keys.get(refresh=True) == ROTATED_KEY
    assert secrets.calls == 2


def test_a_max_age_of_zero_never_caches() -> None:
    secrets, clock = FakeSecrets(), Clock()
    keys = source(secrets, clock, max_age_s=0)
    keys.get()
    keys.get()
    assert secrets.calls == 2


def test_a_max_age_of_zero_uses_its_prefetch_once() -> None:
    secrets, clock = FakeSecrets(), Clock()
    keys = source(secrets, clock, max_age_s=0)
    keys.prefetch()
    keys.get()
    assert secrets.calls == 1


def test_prefetch_runs_in_the_background_and_get_joins_it() -> None:
    secrets, clock = FakeSecrets(), Clock()
    secrets.release.clear()
    keys = source(secrets, clock)
    keys.prefetch()
    keys.prefetch()  # one fetch under way is enough
    assert secrets.calls == 0
    secrets.release.set()
    assert keys.get() == OPENAI_KEY
    assert secrets.calls == 1


def test_prefetch_does_nothing_while_the_key_is_fresh() -> None:
    secrets, clock = FakeSecrets(), Clock()
    keys = source(secrets, clock)
    keys.get()
    keys.prefetch()
    keys.get()
    assert secrets.calls == 1


def test_a_failed_prefetch_is_reported_by_get_without_a_second_call() -> None:
    secrets = FakeSecrets(error=RuntimeError("AccessDeniedException for ekmint/openai"))
    clock = Clock()
    keys = source(secrets, clock)
    keys.prefetch()
    with pytest.raises(SecretUnusable) as raised:
        keys.get()
    assert secrets.calls == 1
    assert "AccessDeniedException" in raised.value.detail
    assert OPENAI_KEY not in raised.value.detail
    # Reported once: the next get() asks again.
    secrets.error = None
    assert keys.get() == OPENAI_KEY
    assert secrets.calls == 2


def test_forget_makes_the_next_get_ask_again() -> None:
    secrets, clock = FakeSecrets(), Clock()
    keys = source(secrets, clock)
    keys.get()
    keys.forget()
    assert not keys.fresh()
    keys.get()
    assert secrets.calls == 2


def test_a_secret_without_a_string_value_is_unusable() -> None:
    class Binaryless(FakeSecrets):
        def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
            return {"Name": params["SecretId"]}

    with pytest.raises(SecretUnusable):
        source(Binaryless(), Clock()).get()


def test_a_binary_secret_is_decoded_from_base64() -> None:
    class Binary(FakeSecrets):
        def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
            # The JSON protocol carries blobs as base64.
            return {"SecretBinary": base64.b64encode(OPENAI_KEY.encode()).decode()}

    assert source(Binary(), Clock()).get() == OPENAI_KEY
