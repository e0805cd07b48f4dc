"""The local stack in Azure mode (`UPSTREAM_PROVIDER=azure make dev`, no key): the gateway, the
environments, moto, and the emulator speaking Azure OpenAI's dialect, end to end over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stack_harness import REPO, Stack, run_cli, stack_env, start_stack
from support import OPENAI_KEY

from ekmint_dev import stack_info
from ekmint_dev.local_aws import client, free_port

DEPLOYMENT = "realtime-eastus2"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("azure"),
        workers=1,
        UPSTREAM_PROVIDER="azure",
        SESSION_POLICY=f'{{"models": ["{DEPLOYMENT}"]}}',
    )
    yield running
    running.stop()


@pytest.fixture
def admin(stack: Stack) -> Iterator[str]:
    info = stack_info.find(stack.aws_port)
    assert info is not None and info.emulator_admin_url
    httpx.delete(f"{info.emulator_admin_url}/faults")
    httpx.delete(f"{info.emulator_admin_url}/requests")
    yield info.emulator_admin_url
    httpx.delete(f"{info.emulator_admin_url}/faults")


def test_the_banner_names_the_azure_emulator(stack: Stack) -> None:
    assert "built-in Azure OpenAI emulator at http://127.0.0.1:" in stack.log()
    assert "/openai/v1 (no OPENAI_API_KEY set)" in stack.log()


def test_a_mint_goes_to_the_azure_paths_and_answers_the_resources_calls_url(
    stack: Stack, admin: str
) -> None:
    answer = stack.post({}, origin=stack.origin)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["value"].startswith("ek_") and body["session"]["model"] == DEPLOYMENT
    origin = admin.removesuffix("/_emulator")
    assert body["webrtc_url"] == f"{origin}/openai/v1/realtime/calls"
    (request,) = httpx.get(f"{admin}/requests").json()
    assert request["path"] == "/openai/v1/realtime/client_secrets" and request["authorized"]
    info = stack_info.find(stack.aws_port)
    assert info is not None
    item = client("dynamodb", info.aws_endpoint).get_item(
        TableName=info.audit_table, Key={"request_id": {"S": answer.headers["x-request-id"]}}
    )
    assert item["Item"]["model"] == {"S": DEPLOYMENT}


def test_azure_throttling_is_retried_after_retry_after_ms(stack: Stack, admin: str) -> None:
    faults = [{"kind": "status", "status": 429, "retry_after_ms": 200}]
    httpx.put(f"{admin}/faults", json={"faults": faults}).raise_for_status()
    answer = stack.post({}, origin=stack.origin)
    assert answer.status_code == 200, answer.text
    assert [r["status"] for r in httpx.get(f"{admin}/requests").json()] == [429, 200]


def test_a_region_without_the_model_is_token_generation_failed(stack: Stack, admin: str) -> None:
    httpx.put(f"{admin}/faults", json={"faults": [{"kind": "status", "status": 403}]})
    answer = stack.post({}, origin=stack.origin)
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert error["code"] == "token_generation_failed" and "region" in error["message"]


def test_invoke_against_the_azure_stack_speaks_its_dialect(stack: Stack, tmp_path: Path) -> None:
    # The env file says nothing of the provider: the running stack's is used.
    settings = json.loads((REPO / "events" / "env.json").read_text())
    settings["Parameters"]["SESSION_POLICY"] = f'{{"models": ["{DEPLOYMENT}"]}}'
    env_path = tmp_path / "env.json"
    env_path.write_text(json.dumps(settings))
    run = stack.cli("invoke", "events/empty-body.json", "--env-vars", str(env_path))
    assert run.returncode == 0, run.stderr[-2000:]
    answer = json.loads(run.stdout)
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"])["webrtc_url"].endswith("/openai/v1/realtime/calls")
    sam_env = json.loads(stack.cli("sam-env").stdout)
    assert sam_env["MintFunction"]["UPSTREAM_PROVIDER"] == "azure"


def test_azure_without_its_base_url_stops_the_stack_naming_the_variable() -> None:
    # A real key and Azure, but OPENAI_BASE_URL left at OpenAI's: the key would go to OpenAI.
    port, aws_port = free_port(), free_port()
    env = stack_env(UPSTREAM_PROVIDER="azure", OPENAI_API_KEY=OPENAI_KEY)
    result = run_cli(env, "dev", "--port", str(port), "--aws-port", str(aws_port), timeout_s=30)
    assert result.returncode != 0
    assert "invalid configuration: OPENAI_BASE_URL" in result.stderr
    assert OPENAI_KEY not in result.stdout + result.stderr


# fault script, status, code (None: minted), words in the error message
AZURE_MATRIX = [
    pytest.param(
        [{"kind": "status", "status": 503, "sticky": True}],
        503,
        "openai_api_unavailable",
        "Azure OpenAI",
        id="503-always",
    ),
    pytest.param([{"kind": "status", "status": 500}], 200, None, None, id="500-then-ok"),
    pytest.param(
        [{"kind": "malformed"}], 502, "token_generation_failed", "unusable", id="malformed"
    ),
    pytest.param([{"kind": "missing_expires_at"}], 200, None, None, id="no-expires-at"),
]


@pytest.mark.parametrize(("faults", "status", "code", "words"), AZURE_MATRIX)
def test_azure_fault_matrix(
    stack: Stack,
    admin: str,
    faults: list[dict[str, object]],
    status: int,
    code: str | None,
    words: str | None,
) -> None:
    httpx.put(f"{admin}/faults", json={"faults": faults}).raise_for_status()
    answer = stack.post({}, origin=stack.origin)
    assert answer.status_code == status, answer.text
    info = stack_info.find(stack.aws_port)
    assert info is not None
    item = client("dynamodb", info.aws_endpoint).get_item(
        TableName=info.audit_table, Key={"request_id": {"S": answer.headers["x-request-id"]}}
    )["Item"]
    if code is None:
        derived = faults[0]["kind"] == "missing_expires_at"
        assert ("expires_at_derived" in item) is derived
        assert item["expires_at"] == {"N": str(answer.json()["expires_at"])}
    else:
        error = answer.json()["error"]
        assert error["code"] == code and words is not None and words in error["message"]
        assert item["error_code"] == {"S": code}


def test_a_bad_resource_key_is_token_generation_failed_naming_api_key(
    stack: Stack, admin: str
) -> None:
    info = stack_info.find(stack.aws_port)
    assert info is not None
    # The stack's own (random) resource key, from the local secret, to put back afterwards.
    secret = client("secretsmanager", info.aws_endpoint).get_secret_value(SecretId=info.secret_id)
    httpx.put(f"{admin}/keys", json={"api_keys": ["sk-local.other.resource.key"]})
    try:
        answer = stack.post({}, origin=stack.origin)
    finally:
        restored = httpx.put(f"{admin}/keys", json={"api_keys": [secret["SecretString"]]})
        assert restored.status_code == 200
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert error["code"] == "token_generation_failed" and "api-key" in error["message"]
    assert [r["authorized"] for r in httpx.get(f"{admin}/requests").json()] == [False, False]
