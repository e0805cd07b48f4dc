"""The emulator's Azure OpenAI dialect over real HTTP: its paths, `api-key` auth, deployment
names, and its 401/403/404/429 shapes. The OpenAI dialect is test_emulator.py's."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ekmint_dev.emulator import Emulator

API_KEY = "sk-emulator.azure.key.0001"
MINT_PATH = "/realtime/client_secrets"
DEPLOYMENT = "realtime-eastus2"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(api_keys=[API_KEY], dialect="azure", deployments=[DEPLOYMENT]) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_emulator(emulator: Emulator) -> None:
    emulator.reset()


@pytest.fixture(scope="module")
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, headers={"api-key": API_KEY}, timeout=5) as http:
        yield http


def mint(client: httpx.Client, model: str = DEPLOYMENT, **kwargs: Any) -> httpx.Response:
    body = {"session": {"type": "realtime", "model": model}}
    return client.post(MINT_PATH, json=body, **kwargs)


def azure_error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message"}
    return error


def test_serves_the_resources_v1_paths(emulator: Emulator) -> None:
    assert emulator.url.endswith("/openai/v1")
    assert emulator.calls_url == emulator.url + "/realtime/calls"


def test_mints_for_a_deployment_with_the_api_key_header(
    emulator: Emulator, client: httpx.Client
) -> None:
    response = mint(client)
    assert response.status_code == 200
    body = response.json()
    assert body["value"].startswith("ek_") and body["session"]["model"] == DEPLOYMENT
    assert emulator.lookup(body["value"]) is not None
    assert emulator.requests[-1]["path"] == "/openai/v1/realtime/client_secrets"


def test_a_bearer_key_is_not_an_azure_key(emulator: Emulator) -> None:
    with httpx.Client(base_url=emulator.url, timeout=5) as http:
        response = mint(http, headers={"authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 401
    assert azure_error(response)["code"] == "401"


def test_an_unknown_deployment_is_404_deployment_not_found(client: httpx.Client) -> None:
    response = mint(client, model="gpt-realtime")
    assert response.status_code == 404
    assert azure_error(response)["code"] == "DeploymentNotFound"


def test_openai_paths_are_not_served(emulator: Emulator) -> None:
    origin = emulator.url.removesuffix("/openai/v1")
    response = httpx.post(
        f"{origin}/v1/realtime/client_secrets", json={}, headers={"api-key": API_KEY}, timeout=5
    )
    assert response.status_code == 404


def test_429_carries_retry_after_ms_in_azures_shape(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults([{"kind": "status", "status": 429, "retry_after_ms": 1500}])
    response = mint(client)
    assert response.status_code == 429
    assert response.headers["retry-after-ms"] == "1500"
    assert azure_error(response)["code"] == "429"


def test_403_says_the_region_lacks_the_model(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_faults([{"kind": "status", "status": 403}])
    response = mint(client)
    assert response.status_code == 403
    assert "region" in azure_error(response)["message"]


def test_an_answer_without_expires_at_still_opens_a_call(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults([{"kind": "missing_expires_at"}])
    body = mint(client).json()
    assert "expires_at" not in body
    # Azure's answer may lack expires_at and still be a working key.
    assert emulator.lookup(body["value"]) is not None


def test_the_models_warm_up_path_needs_the_key_and_is_not_logged(
    emulator: Emulator, client: httpx.Client
) -> None:
    assert httpx.get(emulator.url + "/models", timeout=5).status_code == 401
    assert client.get("/models").status_code == 200
    assert emulator.requests == []


def test_the_command_line_serves_the_azure_dialect() -> None:
    command = [sys.executable, "-m", "ekmint_dev.emulator", "--port", "0", "--api-key", API_KEY]
    command += ["--dialect", "azure", "--deployment", DEPLOYMENT]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            url = line.split()[2]
            assert url.endswith("/openai/v1")
            response = httpx.post(
                url + MINT_PATH,
                json={"session": {"type": "realtime", "model": DEPLOYMENT}},
                headers={"api-key": API_KEY},
                timeout=5,
            )
            assert response.status_code == 200
        finally:
            process.terminate()
            process.wait(5)
