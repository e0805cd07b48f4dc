"""The mint path with UPSTREAM_PROVIDER=azure against the real parts: moto server over HTTP, the
emulator in its Azure dialect over HTTP (api-key auth, deployment names, Azure's error shapes),
the real handler module. The OpenAI dialect's matrix is test_mint_faults.py's."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from support import (
    OPENAI_KEY,
    ROTATED_KEY,
    HandlerFactory,
    audit_items,
    base_env,
    body_of,
    header,
    invoke,
    post,
)

from ekmint.audit import fingerprint
from ekmint_dev.emulator import Emulator
from ekmint_dev.local_aws import LocalNames

DEPLOYMENT = "realtime-swedencentral"
POLICY = f'{{"models": ["{DEPLOYMENT}"]}}'


@pytest.fixture(scope="module")
def azure_emulator() -> Iterator[Emulator]:
    with Emulator(api_keys=[OPENAI_KEY], dialect="azure", deployments=[DEPLOYMENT]) as running:
        yield running


@pytest.fixture
def azure(azure_emulator: Emulator) -> Emulator:
    azure_emulator.clear_faults()
    azure_emulator.clear_requests()
    azure_emulator.set_api_keys([OPENAI_KEY])
    return azure_emulator


@pytest.fixture
def endpoint(moto_server: Any) -> str:
    return str(moto_server.url)


@pytest.fixture
def make_azure_handler(
    aws: LocalNames, azure: Emulator, monkeypatch: pytest.MonkeyPatch
) -> HandlerFactory:
    def _make(**overrides: str) -> ModuleType:
        env = base_env(aws, azure.url) | {
            "UPSTREAM_PROVIDER": "azure",
            "SESSION_POLICY": POLICY,
        }
        for name, value in (env | overrides).items():
            monkeypatch.setenv(name, value)
        if "ekmint.handler" in sys.modules:
            return importlib.reload(sys.modules["ekmint.handler"])
        return importlib.import_module("ekmint.handler")

    return _make


def test_azure_mint_returns_the_key_and_the_resources_calls_url(
    make_azure_handler: HandlerFactory, azure: Emulator, aws: LocalNames, endpoint: str
) -> None:
    result = invoke(make_azure_handler(), post({}))
    body = body_of(result)
    assert result["statusCode"] == 200, result["body"]
    assert body["session"]["model"] == DEPLOYMENT
    assert body["webrtc_url"] == azure.calls_url
    assert body["expires_at"] == pytest.approx(time.time() + 300, abs=5)
    # The Azure dialect refuses a bearer key: a 200 means the key went as api-key.
    assert [r["authorized"] for r in azure.requests] == [True]
    (record,) = audit_items(aws, endpoint)
    assert record["key_fingerprint"] == fingerprint(body["value"])
    assert "expires_at_derived" not in record


def test_the_webrtc_filter_setting_reaches_the_answer(
    make_azure_handler: HandlerFactory, azure: Emulator, aws: LocalNames
) -> None:
    result = invoke(make_azure_handler(AZURE_WEBRTC_FILTER="true"), post({}))
    assert body_of(result)["webrtc_url"] == azure.calls_url + "?webrtcfilter=on"


def test_a_missing_expires_at_is_derived_and_marked_in_the_audit_record(
    make_azure_handler: HandlerFactory, azure: Emulator, aws: LocalNames, endpoint: str
) -> None:
    azure.set_faults([{"kind": "missing_expires_at"}])
    before = int(time.time())
    result = invoke(make_azure_handler(), post({"expires_after": {"seconds": 120}}))
    assert result["statusCode"] == 200, result["body"]
    expires_at = body_of(result)["expires_at"]
    assert before + 120 - 1 <= expires_at <= int(time.time()) + 120
    (record,) = audit_items(aws, endpoint)
    assert record["expires_at_derived"] is True and record["expires_at"] == expires_at


def test_azure_429_waits_retry_after_ms_not_retry_after(
    make_azure_handler: HandlerFactory, azure: Emulator, aws: LocalNames
) -> None:
    handler = make_azure_handler()
    # retry-after says 5 s; retry-after-ms (Azure's, and OpenAI's SDK's) says 0.4 s and wins.
    azure.set_faults([{"kind": "status", "status": 429, "retry_after_ms": 400, "retry_after_s": 5}])
    started = time.monotonic()
    result = invoke(handler, post({}))
    elapsed = time.monotonic() - started
    assert result["statusCode"] == 200, result["body"]
    assert len(azure.requests) == 2
    assert 0.4 <= elapsed < 4.0


# fault script, expected status, expected code, expected upstream attempts, words in the message
AZURE_FAULTS = [
    pytest.param(
        [{"kind": "status", "status": 429, "retry_after_ms": 50, "sticky": True}],
        503,
        "openai_api_unavailable",
        4,
        "Azure OpenAI",
        id="429-always",
    ),
    pytest.param([{"kind": "status", "status": 500}], 200, None, 2, None, id="500-then-ok"),
    pytest.param(
        [{"kind": "status", "status": 503, "sticky": True}],
        503,
        "openai_api_unavailable",
        4,
        "Azure OpenAI",
        id="503-always",
    ),
    pytest.param(
        [{"kind": "status", "status": 403}],
        502,
        "token_generation_failed",
        1,
        "region",
        id="403-region",
    ),
    pytest.param(
        [{"kind": "malformed"}], 502, "token_generation_failed", 1, "Azure OpenAI", id="malformed"
    ),
    pytest.param(
        [{"kind": "missing_value"}], 502, "token_generation_failed", 1, "ek_", id="no-value"
    ),
]


@pytest.mark.parametrize(("faults", "status", "code", "attempts", "words"), AZURE_FAULTS)
def test_azure_upstream_fault(
    make_azure_handler: HandlerFactory,
    azure: Emulator,
    aws: LocalNames,
    endpoint: str,
    faults: list[dict[str, Any]],
    status: int,
    code: str | None,
    attempts: int,
    words: str | None,
) -> None:
    handler = make_azure_handler()
    azure.set_faults(faults)
    result = invoke(handler, post({}))
    assert result["statusCode"] == status, result["body"]
    assert len(azure.requests) == attempts
    (record,) = audit_items(aws, endpoint)
    assert record["upstream_attempts"] == attempts
    if code:
        error = body_of(result)["error"]
        assert error["code"] == code and words is not None and words in error["message"]
        assert record["outcome"] == "failed" and record["error_code"] == code
        assert "key_fingerprint" not in record
    if status == 503:
        assert int(header(result, "Retry-After") or 0) >= 1


def test_a_bad_azure_key_is_refreshed_once_then_token_generation_failed(
    make_azure_handler: HandlerFactory, azure: Emulator, aws: LocalNames, endpoint: str
) -> None:
    handler = make_azure_handler()
    azure.set_api_keys([ROTATED_KEY])
    result = invoke(handler, post({}))
    assert result["statusCode"] == 502
    error = body_of(result)["error"]
    assert error["code"] == "token_generation_failed" and "api-key" in error["message"]
    assert [r["authorized"] for r in azure.requests] == [False, False]
    (record,) = audit_items(aws, endpoint)
    assert record["key_refreshed"] is True


def test_a_model_that_is_no_deployment_is_token_generation_failed(
    make_azure_handler: HandlerFactory, azure: Emulator, aws: LocalNames
) -> None:
    # The policy allows a name the resource has no deployment for: Azure's 404.
    handler = make_azure_handler(SESSION_POLICY='{"models": ["gpt-realtime"]}')
    result = invoke(handler, post({}))
    assert result["statusCode"] == 502
    assert "deployment" in body_of(result)["error"]["message"]
