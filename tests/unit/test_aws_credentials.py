"""Where the function's AWS credentials come from: the environment (on-demand Lambda, the local
stack), else the container credentials endpoint (SnapStart), refreshed before they expire."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ekmint.aws_credentials import REFRESH_BEFORE_EXPIRY_S, CredentialSource, NoCredentials

SECRET = "container/secret.access.key"
FULL_URI = "http://127.0.0.1:9001/2018-06-01/credentials"


class Endpoint:
    def __init__(self, expiration: str = "2026-11-26T02:00:00Z") -> None:
        self.expiration = expiration
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.error: Exception | None = None

    def __call__(self, url: str, headers: dict[str, str]) -> Any:
        self.calls.append((url, headers))
        if self.error is not None:
            raise self.error
        n = len(self.calls)
        return {
            "AccessKeyId": f"ASIACONTAINER{n}",
            "SecretAccessKey": SECRET,
            "Token": f"token-{n}",
            "Expiration": self.expiration,
        }


def test_environment_credentials_come_first() -> None:
    endpoint = Endpoint()
    env = {
        "AWS_ACCESS_KEY_ID": "ASIAENV",
        "AWS_SECRET_ACCESS_KEY": "env-secret",
        "AWS_SESSION_TOKEN": "env-token",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": FULL_URI,
    }
    credentials = CredentialSource(env, endpoint).get()
    assert (credentials.access_key, credentials.token) == ("ASIAENV", "env-token")
    assert endpoint.calls == []
    # Never in a repr (a log line of the object would otherwise carry them).
    assert "env-secret" not in repr(credentials) and "env-token" not in repr(credentials)


def test_container_credentials_are_fetched_with_the_token_and_kept_until_near_expiry() -> None:
    endpoint = Endpoint(expiration="2026-11-26T02:00:00Z")
    expires = 1795658400.0  # 2026-11-26T02:00:00Z
    now = [expires - 3600]
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": FULL_URI,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "t0",
    }
    source = CredentialSource(env, endpoint, clock=lambda: now[0])
    first = source.get()
    assert (first.access_key, first.token, first.expires_at) == (
        "ASIACONTAINER1",
        "token-1",
        expires,
    )
    assert endpoint.calls == [(FULL_URI, {"Authorization": "t0"})]
    assert source.get() is first
    now[0] = expires - REFRESH_BEFORE_EXPIRY_S + 1
    assert source.get().access_key == "ASIACONTAINER2"
    source.forget()
    assert source.get().access_key == "ASIACONTAINER3"


def test_the_authorization_token_may_come_from_a_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    endpoint = Endpoint()
    env = {
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file),
    }
    CredentialSource(env, endpoint, clock=lambda: 0).get()
    assert endpoint.calls == [
        ("http://169.254.170.2/v2/credentials/x", {"Authorization": "from-file"})
    ]


def test_no_credentials_says_which_variables_to_set() -> None:
    with pytest.raises(NoCredentials, match="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        CredentialSource({}, Endpoint()).get()


def test_a_failing_endpoint_is_reported_without_its_answer() -> None:
    endpoint = Endpoint()
    endpoint.error = KeyError(SECRET)
    with pytest.raises(NoCredentials) as raised:
        CredentialSource({"AWS_CONTAINER_CREDENTIALS_FULL_URI": FULL_URI}, endpoint).get()
    assert "KeyError" in str(raised.value) and SECRET not in str(raised.value)
