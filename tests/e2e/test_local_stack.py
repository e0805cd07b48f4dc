"""`make dev` end to end: the real stack as a subprocess (gateway, execution environments, moto,
the emulator), driven over HTTP and through the `ekmint` CLI, as a developer would."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from botocore.client import BaseClient
from cryptography.hazmat.primitives.asymmetric import rsa
from stack_harness import REPO, Stack, run_cli, stack_env, start_stack
from support import OPENAI_KEY, sdp_offer

from ekmint_dev import cli, stack_info
from ekmint_dev.emulator import Emulator
from ekmint_dev.jwt_local import issue_token, load_or_create_key
from ekmint_dev.local_aws import free_port

pytestmark = pytest.mark.e2e

EVENT_STATUS = {
    "mint": 200,
    "empty-body": 200,
    "full-session": 200,
    "base64-body": 200,
    "invalid-json": 400,
    "disallowed-model": 400,
    "ttl-over-ceiling": 400,
    "wrong-content-type": 415,
    "oversized-body": 413,
    "foreign-origin": 403,
    "cors-preflight": 204,
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack (emulator upstream, AUTH_MODE=none, 3 environments) for most tests here;
    stopping it checks the clean exit, the workers' end and the secret scan of its output."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def emulator_admin(stack: Stack) -> str:
    info = stack_info.find(stack.aws_port)
    assert info is not None and info.emulator_admin_url
    return info.emulator_admin_url


# -- execution environments -----------------------------------------------------------------


def test_burst_of_concurrent_requests_starts_several_environments_cold(stack: Stack) -> None:
    # Each upstream call holds its environment 200 ms, so the burst overlaps for sure.
    already_started = len(stack.worker_pids())  # 0 when this test runs first, as it does
    admin = emulator_admin(stack)
    httpx.post(f"{admin}/latency", json={"min_ms": 200, "max_ms": 200}).raise_for_status()
    try:
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: stack.post(), range(6)))
    finally:
        httpx.post(f"{admin}/latency", json={"min_ms": 0, "max_ms": 0}).raise_for_status()
    assert [a.status_code for a in answers] == [200] * 6
    served = [(a.headers["x-local-env-id"], a.headers["x-local-cold-start"]) for a in answers]
    assert {env for env, _ in served} == {"1", "2", "3"}  # --workers 3, all of them used
    assert sum(cold == "true" for _, cold in served) == 3 - already_started
    assert len(stack.worker_pids()) == 3  # three environments, each started cold once
    log = stack.log()
    assert "env-3 started cold (pid" in log
    assert "POST /api/client-secret 200 env-2 cold (init" in log


def test_a_request_on_a_warm_environment_is_warm(stack: Stack) -> None:
    stack.post().raise_for_status()  # whichever environment: warm from now on
    answer = stack.post()
    assert answer.headers["x-local-cold-start"] == "false"
    assert f"env-{answer.headers['x-local-env-id']} warm" in stack.log()


# -- the gateway and the handler over HTTP ---------------------------------------------------


def test_curl_style_post_returns_an_ek_key(stack: Stack) -> None:
    answer = stack.post()
    assert answer.status_code == 200
    assert answer.json()["value"].startswith("ek_")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["apigw-requestid"] == answer.headers["x-request-id"]


def test_preflight_from_an_allowed_origin_is_answered_by_the_gateway(stack: Stack) -> None:
    answer = httpx.options(
        f"{stack.url}/api/client-secret",
        headers={"origin": stack.origin, "access-control-request-method": "POST"},
    )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == stack.origin
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "authorization" in answer.headers["access-control-allow-headers"]
    assert "x-local-env-id" not in answer.headers  # no function call


def test_preflight_from_another_origin_gets_no_grant(stack: Stack) -> None:
    answer = httpx.options(
        f"{stack.url}/api/client-secret",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert answer.status_code == 204
    assert not [h for h in answer.headers if h.startswith("access-control-")]


def test_post_from_a_foreign_origin_is_refused_by_the_handler(stack: Stack) -> None:
    answer = stack.post({}, origin="https://evil.example")
    assert (answer.status_code, error_code(answer)) == (403, "origin_not_allowed")
    assert "access-control-allow-origin" not in answer.headers


def test_post_from_the_stacks_own_origin_gets_cors_headers(stack: Stack) -> None:
    answer = stack.post({}, origin=stack.origin)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == stack.origin
    assert "x-request-id" in answer.headers["access-control-expose-headers"]


def test_unknown_routes_are_404_from_the_gateway(stack: Stack) -> None:
    tried = [("GET", "/api/nope"), ("GET", "/api/client-secret"), ("TRACE", "/api/client-secret")]
    for method, path in tried:
        answer = httpx.request(method, f"{stack.url}{path}")
        assert (answer.status_code, answer.json()) == (404, {"message": "Not Found"})


def test_body_over_the_handlers_limit_is_413_from_the_handler(stack: Stack) -> None:
    answer = stack.post(b'{"session": {}, "pad": "' + b"x" * 20_000 + b'"}')
    assert (answer.status_code, error_code(answer)) == (413, "payload_too_large")


def test_body_over_api_gateways_limit_is_413_before_the_function(stack: Stack) -> None:
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as sock:
        sock.sendall(
            b"POST /api/client-secret HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 11000000\r\n\r\n"
        )
        answer = b"".join(iter(lambda: sock.recv(4096), b"")).decode()  # until it closes
    assert answer.startswith("HTTP/1.1 413")
    assert answer.endswith('{"message":"Request Entity Too Large"}')


def test_static_site_files_are_served_without_traversal(stack: Stack) -> None:
    page = REPO / "examples" / "static-site" / "index.html"
    if not page.exists():
        pytest.skip("examples/static-site/ is not there yet")
    answer = httpx.get(f"{stack.url}/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    with socket.create_connection(("127.0.0.1", stack.port), timeout=5) as sock:
        sock.sendall(
            b"GET /../pyproject.toml HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 404")


# -- faults, invoke, audit -------------------------------------------------------------------


def test_faults_set_through_the_cli_reach_the_page(stack: Stack) -> None:
    sticky_429 = '[{"kind": "status", "status": 429, "sticky": true}]'
    assert stack.cli("faults", "set", sticky_429).returncode == 0
    try:
        failed = stack.post()
        assert (failed.status_code, error_code(failed)) == (503, "openai_api_unavailable")
        assert int(failed.headers["retry-after"]) >= 1
    finally:
        assert stack.cli("faults", "clear").returncode == 0
    assert json.loads(stack.cli("faults", "show").stdout) == []
    assert stack.post().status_code == 200


def test_invoke_prints_each_events_response_like_sam_local_invoke(stack: Stack) -> None:
    names = sorted(EVENT_STATUS)
    paths = [f"events/{name}.json" for name in names]
    run = stack.cli("invoke", *paths, "--env-vars", "events/env.json")
    assert run.returncode == 0, run.stderr[-2000:]
    answers = [json.loads(line) for line in run.stdout.splitlines()]
    statuses = [answer["statusCode"] for answer in answers]
    assert dict(zip(names, statuses, strict=True)) == EVENT_STATUS
    assert "using the local stack" in run.stderr
    minted = json.loads(answers[names.index("mint")]["body"])["value"]
    assert re.fullmatch(r"ek_\.\.\.[A-Za-z0-9_-]{4}", minted), "shown masked"


def test_sam_env_file_for_docker_names_the_stack_and_runs_the_events(
    stack: Stack, tmp_path: Path
) -> None:
    # What can be tested without Docker: the file `sam local invoke --env-vars` gets, from the
    # running stack, and its settings through `ekmint invoke` (which keeps its own endpoints).
    info = stack_info.find(stack.aws_port)
    assert info is not None
    generated = stack.cli("sam-env")
    assert generated.returncode == 0, generated.stderr
    document = json.loads(generated.stdout)
    function = document["MintFunction"]
    assert function["AWS_ENDPOINT_URL"] == f"http://host.docker.internal:{stack.aws_port}"
    assert function["OPENAI_BASE_URL"].startswith("http://host.docker.internal:")
    assert function["AUDIT_TABLE_NAME"] == info.audit_table
    host_network = json.loads(stack.cli("sam-env", "--host", "127.0.0.1").stdout)
    assert host_network["MintFunction"]["AWS_ENDPOINT_URL"] == info.aws_endpoint
    assert host_network["MintFunction"]["OPENAI_BASE_URL"] == info.openai_base_url
    path = tmp_path / "env.docker.json"
    path.write_text(generated.stdout)
    # A request id of its own: the audit table keeps one record per id, and other tests here
    # invoke events/mint.json as it is.
    event = json.loads((REPO / "events" / "mint.json").read_text())
    event["requestContext"]["requestId"] = f"sam-env-{uuid.uuid4()}"
    mint = tmp_path / "mint.json"
    mint.write_text(json.dumps(event))
    run = stack.cli("invoke", str(mint), "events/foreign-origin.json", "--env-vars", str(path))
    assert run.returncode == 0, run.stderr[-2000:]
    statuses = [json.loads(line)["statusCode"] for line in run.stdout.splitlines()]
    assert statuses == [200, 403]


def test_invoke_without_a_running_stack_starts_its_own_aws_and_emulator() -> None:
    nothing_there = {"LOCAL_AWS_PORT": str(free_port())}
    run = run_cli(
        stack_env(**nothing_there), "invoke", "events/mint.json", "--env-vars", "events/env.json"
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout)["statusCode"] == 200
    assert "ephemeral moto and emulator" in run.stderr


@pytest.fixture
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every AWS operation made in this process, by name (botocore's one choke point)."""
    calls: list[str] = []
    original = BaseClient._make_api_call

    def record(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    return calls


def audit(stack: Stack, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert cli.main(["audit", "--aws-port", str(stack.aws_port), *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_audit_lists_the_records_just_minted_without_a_scan(
    stack: Stack, capsys: pytest.CaptureFixture[str], dynamodb_calls: list[str]
) -> None:
    since = datetime.now(UTC).isoformat()
    minted = {stack.post().headers["x-request-id"] for _ in range(2)}
    by_principal = audit(stack, capsys, "--principal", "127.0.0.1", "--since", since)
    assert {r["request_id"] for r in by_principal} == minted
    assert {r["outcome"] for r in by_principal} == {"minted"}
    by_day = audit(stack, capsys, "--since", since)
    assert minted <= {r["request_id"] for r in by_day}
    one = next(iter(minted))
    assert [r["request_id"] for r in audit(stack, capsys, "--request-id", one)] == [one]
    assert "Scan" not in dynamodb_calls
    assert {"Query", "GetItem"} <= set(dynamodb_calls)


# -- a real upstream ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[Emulator]:
    """Stands in for api.openai.com: a separate emulator that only knows OPENAI_KEY."""
    with Emulator(api_keys=[OPENAI_KEY]) as emulator:
        yield emulator


def test_with_openai_api_key_each_mint_makes_exactly_one_upstream_request(
    upstream: Emulator, tmp_path: Path
) -> None:
    real = start_stack(tmp_path, workers=2, OPENAI_API_KEY=OPENAI_KEY, OPENAI_BASE_URL=upstream.url)
    try:
        assert [real.post().status_code for _ in range(2)] == [200, 200]
        calls = upstream.requests
        assert [(c["path"], c["authorized"], c["status"]) for c in calls] == [
            ("/v1/realtime/client_secrets", True, 200)
        ] * 2
        assert f"upstream   OpenAI at {upstream.url}" in real.log()
        assert real.cli("faults", "show").returncode == 1  # no emulator to script
    finally:
        real.stop()


# -- JWT mode ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jwt_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("jwt"), workers=2, AUTH_MODE="jwt", QUOTA_PER_DAY="3"
    )
    yield running
    running.stop()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_jwt_mode_without_a_token_is_401_from_the_gateway(jwt_stack: Stack) -> None:
    answer = jwt_stack.post()
    assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert not jwt_stack.worker_pids()  # the function never ran


@pytest.mark.parametrize(
    ("case", "reason"),
    [("bad-signature", "signature"), ("wrong-audience", "audience"), ("expired", "expired")],
)
def test_jwt_mode_refuses_bad_tokens_like_api_gateway(
    jwt_stack: Stack, case: str, reason: str
) -> None:
    key = load_or_create_key(Path(jwt_stack.env["EKMINT_LOCAL_DIR"]))
    issuer = f"{jwt_stack.url}/local-issuer"
    claims = {"sub": "mallory", "iss": issuer, "aud": "ekmint-local", "exp": time.time() + 60}
    if case == "bad-signature":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode(claims, other, algorithm="RS256", headers={"kid": key.kid})
    elif case == "wrong-audience":
        token = issue_token(key, sub="mallory", issuer=issuer, audience="someone-else")
    else:
        token = issue_token(key, sub="mallory", issuer=issuer, audience="ekmint-local", ttl_s=-5)
    answer = jwt_stack.post(headers=bearer(token))
    assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})
    assert reason in answer.headers["www-authenticate"]


def test_jwt_mode_token_from_the_cli_mints_and_is_audited_under_its_sub(
    jwt_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = f"alice-{uuid.uuid4().hex[:6]}"
    token = jwt_stack.cli("token", "--sub", sub).stdout.strip()
    answer = jwt_stack.post(headers=bearer(token))
    assert answer.status_code == 200
    (record,) = audit(jwt_stack, capsys, "--principal", sub)
    assert (record["principal"], record["principal_type"]) == (sub, "sub")
    assert record["request_id"] == answer.headers["x-request-id"]


def test_jwt_mode_guards_the_relayed_calls_route_too(
    jwt_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """The page's own token rides along with the offer (the SDK's Authorization header); the
    gateway's authorizer checks it before the function runs."""
    offer = sdp_offer()
    sdp = {"content-type": "application/sdp"}
    calls = f"{jwt_stack.url}/api/realtime/calls"
    refused = httpx.post(calls, content=offer, headers=sdp, timeout=30)
    assert (refused.status_code, refused.json()) == (401, {"message": "Unauthorized"})
    sub = f"dave-{uuid.uuid4().hex[:6]}"
    token = jwt_stack.cli("token", "--sub", sub).stdout.strip()
    answer = httpx.post(calls, content=offer, headers=sdp | bearer(token), timeout=30)
    assert answer.status_code == 201, answer.text
    assert answer.headers["content-type"] == "application/sdp"
    (record,) = audit(jwt_stack, capsys, "--principal", sub)
    assert (record["kind"], record["principal_type"]) == ("call", "sub")
    assert record["call_id"].startswith("rtc_")


def test_quota_holds_across_concurrent_environments(jwt_stack: Stack) -> None:
    token = jwt_stack.cli("token", "--sub", f"carol-{uuid.uuid4().hex[:6]}").stdout.strip()
    with ThreadPoolExecutor(6) as pool:
        statuses = list(
            pool.map(lambda _: jwt_stack.post(headers=bearer(token)).status_code, range(6))
        )
    # QUOTA_PER_DAY=3 (a day, not a minute: the burst cannot straddle a window), whatever the race.
    assert sorted(statuses) == [200] * 3 + [429] * 3


# -- refusing to start -----------------------------------------------------------------------


def test_a_bad_setting_stops_the_stack_before_it_starts() -> None:
    port, aws_port = free_port(), free_port()
    result = run_cli(
        stack_env(AUTH_MODE="open"),
        "dev",
        "--port",
        str(port),
        "--aws-port",
        str(aws_port),
        timeout_s=30,
    )
    assert result.returncode != 0
    assert "invalid configuration: AUTH_MODE" in result.stderr


def test_repeated_signals_still_stop_the_stack_cleanly(tmp_path: Path) -> None:
    # A Ctrl-C pressed twice, or a SIGTERM followed by another, once deadlocked the stack: a
    # signal landing while the first handler held its lock. A burst makes that landing likely.
    running = start_stack(tmp_path, workers=1)
    assert running.post({}).status_code == 200
    for n in range(300):
        if running.process.poll() is not None:
            break
        running.process.send_signal(signal.SIGINT if n % 2 else signal.SIGTERM)
    running.stop()
