"""Issue 17, item 1: a web page in the developer's browser must not reach the local stack.

Every TCP port a running `ekmint dev` listens on (found from /proc, so a new server cannot be
missed) is probed as a hostile page would: a rebinding Host, a foreign Origin on a state-changing
request, "simple" cross-site POSTs that need no preflight, and CORS preflights. Each must be
refused, no answer may grant CORS, and no secret may come back; the stack's own uses (the SDK's
calls, curl, the demo page's origin on the API route) keep working.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stack_harness import Stack, _children_of, start_stack

from ekmint_dev import stack_info
from ekmint_dev.local_aws import client

pytestmark = pytest.mark.e2e

EVIL = "http://evil.example"
GET_SECRET = {
    "x-amz-target": "secretsmanager.GetSecretValue",
    # moto picks the service from the credential scope (it does not check the signature).
    "authorization": "AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/secretsmanager/"
    "aws4_request, SignedHeaders=host, Signature=0",
}
LIST_TABLES = {"x-amz-target": "DynamoDB_20120810.ListTables"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("guard"), workers=1)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def info(stack: Stack) -> stack_info.StackInfo:
    found = stack_info.find(stack.aws_port)
    assert found is not None and found.emulator_admin_url and found.aws_faults_url
    return found


@pytest.fixture(scope="module")
def secret(info: stack_info.StackInfo) -> str:
    """The upstream key in local Secrets Manager, read as the SDK does (the legitimate path)."""
    value = client("secretsmanager", info.aws_endpoint).get_secret_value(SecretId=info.secret_id)
    return str(value["SecretString"])


def _port(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def listening_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN state held by `pid` or its children (from /proc)."""
    inodes: set[str] = set()
    for owner in (pid, *_children_of(pid)):
        for fd in Path(f"/proc/{owner}/fd").iterdir():
            try:
                target = str(fd.readlink())
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def ports_by_role(stack: Stack, info: stack_info.StackInfo) -> dict[str, int]:
    assert info.emulator_admin_url and info.aws_faults_url
    return {
        "gateway": stack.port,
        "moto": stack.aws_port,
        "emulator": _port(info.emulator_admin_url),
        "fault proxy": _port(info.aws_faults_url),
    }


def send(
    port: int, method: str, path: str, host: str | None = None, **kwargs: object
) -> httpx.Response:
    headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[call-overload]
    headers["host"] = host or f"127.0.0.1:{port}"
    return httpx.request(
        method,
        f"http://127.0.0.1:{port}{path}",
        headers=headers,
        timeout=10,
        **kwargs,  # type: ignore[arg-type]
    )


def test_every_listening_port_is_one_the_guard_covers(
    stack: Stack, info: stack_info.StackInfo
) -> None:
    assert listening_ports(stack.process.pid) == set(ports_by_role(stack, info).values())


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}"])
def test_a_rebinding_host_is_refused_on_every_port(
    stack: Stack, info: stack_info.StackInfo, secret: str, host: str
) -> None:
    for role, port in ports_by_role(stack, info).items():
        for method, path, headers in (
            ("GET", "/", {}),
            ("GET", "/moto-api/data.json", {}),
            ("POST", "/", GET_SECRET),
            ("POST", "/api/client-secret", {}),
        ):
            content = json.dumps({"SecretId": info.secret_id}) if method == "POST" else None
            answer = send(
                port,
                method,
                path,
                host.format(port=port),
                headers={**headers, "content-type": "application/x-amz-json-1.1"},
                content=content,
            )
            assert answer.status_code == 403, (role, method, path, answer.status_code)
            assert secret not in answer.text, role


SECRET_BODY = {"SecretId": "ekmint/openai-api-key"}


@pytest.mark.parametrize(
    ("role", "path", "headers", "body"),
    [
        ("emulator", "/_emulator/faults", {}, {"faults": [{"kind": "status", "status": 500}]}),
        ("emulator", "/_emulator/latency", {}, {"min_ms": 9000, "max_ms": 9000}),
        ("emulator", "/_emulator/realtime/faults", {}, {"faults": [{"kind": "refuse"}]}),
        ("fault proxy", "/_aws_faults", {}, []),
        ("fault proxy", "/", GET_SECRET, SECRET_BODY),
        ("moto", "/", GET_SECRET, SECRET_BODY),
        ("moto", "/moto-api/reset", {}, {}),
        ("gateway", "/local-issuer/anything", {}, {}),
    ],
)
def test_a_cross_site_post_without_preflight_is_refused(
    stack: Stack,
    info: stack_info.StackInfo,
    secret: str,
    role: str,
    path: str,
    headers: dict[str, str],
    body: object,
) -> None:
    port = ports_by_role(stack, info)[role]
    # What a page's fetch(url, {method: "POST", mode: "no-cors", body: "…"}) sends.
    answer = send(
        port,
        "POST",
        path,
        headers={**headers, "origin": EVIL, "content-type": "text/plain;charset=UTF-8"},
        content=json.dumps(body),
    )
    assert answer.status_code == 403, answer.text
    assert secret not in answer.text
    # Nothing changed: no fault scripted, local AWS still holds its resources.
    assert httpx.get(f"{info.emulator_admin_url}/faults").json() == []
    assert httpx.get(f"{info.emulator_admin_url}/latency").json() == {"min_ms": 0, "max_ms": 0}
    assert httpx.get(f"{info.emulator_admin_url}/realtime/faults").json() == []
    assert info.audit_table in client("dynamodb", info.aws_endpoint).list_tables()["TableNames"]
    proxy = info.aws_faults_url.removesuffix("/_aws_faults")  # type: ignore[union-attr]
    through_proxy = client("secretsmanager", proxy).get_secret_value(SecretId=info.secret_id)
    assert through_proxy["SecretString"] == secret


def test_moto_refuses_any_cross_site_request_even_a_get(
    stack: Stack, info: stack_info.StackInfo, secret: str
) -> None:
    # moto has GET actions that change state (query protocol); an <img> sends no Origin.
    for port in (stack.aws_port, ports_by_role(stack, info)["fault proxy"]):
        answer = send(port, "GET", "/moto-api/data.json", headers={"sec-fetch-site": "cross-site"})
        assert answer.status_code == 403
        assert secret not in answer.text


def test_no_port_grants_cors_to_a_foreign_origin(stack: Stack, info: stack_info.StackInfo) -> None:
    for role, port in ports_by_role(stack, info).items():
        for path in ("/", "/api/client-secret", "/moto-api/data.json", "/_emulator/faults"):
            preflight = send(
                port,
                "OPTIONS",
                path,
                headers={
                    "origin": EVIL,
                    "access-control-request-method": "POST",
                    "access-control-request-headers": "x-amz-target,content-type",
                },
            )
            read = send(port, "GET", path, headers={"origin": EVIL})
            for answer in (preflight, read):
                granted = {k for k in answer.headers if k.lower().startswith("access-control-")}
                assert not granted, (role, path, answer.request.method, granted)


def test_moto_grants_no_cors_even_to_the_stacks_own_pages(stack: Stack) -> None:
    # Only the gateway's API route (and the WebRTC offer route) is for browsers.
    answer = send(stack.aws_port, "POST", "/", headers={**LIST_TABLES, "origin": stack.origin})
    assert answer.status_code == 403
    read = send(stack.aws_port, "GET", "/moto-api/data.json", headers={"origin": stack.origin})
    assert not any(k.lower().startswith("access-control-") for k in read.headers)


def test_the_api_route_keeps_its_own_origin_rules(stack: Stack) -> None:
    foreign = stack.post({}, origin=EVIL)
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (403, "origin_not_allowed")
    assert "access-control-allow-origin" not in foreign.headers
    own = stack.post({}, origin=stack.origin)
    assert own.status_code == 200
    assert own.headers["access-control-allow-origin"] == stack.origin
    preflight = httpx.options(
        f"{stack.url}/api/client-secret",
        headers={"origin": stack.origin, "access-control-request-method": "POST"},
    )
    assert preflight.headers["access-control-allow-origin"] == stack.origin


@pytest.mark.parametrize("name", ["localhost", "[::1]", "host.docker.internal", "127.0.0.1"])
def test_loopback_host_names_are_served(
    stack: Stack, info: stack_info.StackInfo, secret: str, name: str
) -> None:
    for port in (stack.aws_port, ports_by_role(stack, info)["fault proxy"]):
        answer = send(
            port,
            "POST",
            "/",
            f"{name}:{port}",
            headers={**GET_SECRET, "content-type": "application/x-amz-json-1.1"},
            content=json.dumps({"SecretId": info.secret_id}),
        )
        assert answer.status_code == 200
        assert answer.json()["SecretString"] == secret
    assert send(stack.port, "GET", "/", f"{name}:{stack.port}").status_code in (200, 404)
