"""The AWS JSON-protocol client against a scripted HTTP server on loopback: signatures that
botocore's own signer agrees with, standard-mode retries, AWS's error shapes, the idempotency
token and DynamoDB's CRC32. (The same client runs against moto server and the fault proxy in
tests/integration and tests/e2e.)"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ekmint.aws_client import (
    DYNAMODB,
    SECRETS_MANAGER,
    AwsError,
    AwsJsonClient,
    endpoint_of,
    make_http,
    region_of,
)
from ekmint.aws_credentials import CredentialSource

ACCESS_KEY = "ASIATESTTESTTESTTEST"
SECRET_KEY = "test/secret+access.key.for-ekmint"
SESSION_TOKEN = "test-session-token/with+odd=chars"
# 2026-11-26T01:02:03Z
FIXED_EPOCH = 1795654923.0


class Scripted(ThreadingHTTPServer):
    """Answers each POST with the next scripted (status, headers, body); records requests."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def script(
        self, *answers: tuple[int, dict[str, Any] | bytes] | tuple[int, Any, dict[str, str]]
    ) -> None:
        for answer in answers:
            status, body = answer[0], answer[1]
            headers = answer[2] if len(answer) > 2 else {}  # type: ignore[misc]
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.answers.append((status, headers, raw))


class _Handler(BaseHTTPRequestHandler):
    server: Scripted
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
        status, headers, raw = (
            self.server.answers.pop(0) if self.server.answers else (200, {}, b"{}")
        )
        self.send_response(status)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("content-length", str(len(raw)))
        self.send_header("x-amzn-requestid", f"REQ{len(self.server.requests)}")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Scripted]:
    running = Scripted()
    threading.Thread(target=running.serve_forever, daemon=True).start()
    yield running
    running.shutdown()
    running.server_close()


def client_for(
    server: Scripted, service: Any = DYNAMODB, token: str | None = SESSION_TOKEN
) -> tuple[AwsJsonClient, list[float]]:
    sleeps: list[float] = []
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    if token:
        env["AWS_SESSION_TOKEN"] = token
    client = AwsJsonClient(
        make_http([server.url]),
        service,
        region="eu-west-1",
        endpoint=server.url,
        credentials=CredentialSource(env, fetch_json=lambda *_: pytest.fail("no container")),
        sleep=sleeps.append,
        rand=lambda: 0.5,
        clock=lambda: FIXED_EPOCH,
    )
    return client, sleeps


def botocore_authorization(
    headers: dict[str, str], body: bytes, url: str, service: str, token: str | None
) -> str:
    """What botocore's SigV4 signer makes of the same request, signing the same headers."""
    from unittest import mock

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    request = AWSRequest(
        method="POST",
        url=url + "/",
        data=body,
        # botocore adds x-amz-date and x-amz-security-token itself.
        headers={n: headers[n] for n in signed if n not in {"x-amz-date", "x-amz-security-token"}},
    )
    at = datetime.fromtimestamp(FIXED_EPOCH, UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, token), service, "eu-west-1").add_auth(
            request
        )
    return str(request.headers["Authorization"])


@pytest.mark.parametrize("token", [SESSION_TOKEN, None])
@pytest.mark.parametrize("service", [DYNAMODB, SECRETS_MANAGER])
def test_signature_matches_botocores_signer(
    server: Scripted, service: Any, token: str | None
) -> None:
    client, _ = client_for(server, service, token)
    client.call("PutItem", {"TableName": "t", "Item": {"pk": {"S": "ünïcode 🎙"}}})
    ((headers, body),) = server.requests
    assert headers["x-amz-date"] == "20261126T010203Z"
    assert headers.get("x-amz-security-token") == token
    expected_signed = {"content-type", "host", "x-amz-date", "x-amz-target"} | (
        {"x-amz-security-token"} if token else set()
    )
    assert f"SignedHeaders={';'.join(sorted(expected_signed))}," in headers["authorization"]
    assert headers["authorization"] == botocore_authorization(
        headers, body, server.url, service.name, token
    )


def test_the_request_names_the_operation_and_protocol(server: Scripted) -> None:
    client, _ = client_for(server, SECRETS_MANAGER)
    server.script((200, {"SecretString": "x", "Name": "n"}))
    assert client.call("GetSecretValue", {"SecretId": "n"}) == {"SecretString": "x", "Name": "n"}
    ((headers, body),) = server.requests
    assert headers["x-amz-target"] == "secretsmanager.GetSecretValue"
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert json.loads(body) == {"SecretId": "n"}


def test_throttling_is_retried_with_botocores_backoff_then_raised(server: Scripted) -> None:
    client, sleeps = client_for(server)
    throttled = {
        "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "message": "slow",
    }
    server.script((400, throttled), (400, throttled), (400, throttled))
    with pytest.raises(AwsError) as raised:
        client.call("PutItem", {})
    assert (raised.value.code, raised.value.throttled, raised.value.status) == (
        "ThrottlingException",
        True,
        400,
    )
    assert raised.value.request_id == "REQ3"
    assert "(ThrottlingException) when calling the PutItem operation: slow" in str(raised.value)
    assert len(server.requests) == 3
    # rand() * 1 s * 2^(attempt-1), with rand() = 0.5.
    assert sleeps == [0.5, 1.0]


def test_a_server_error_is_retried_quickly_and_then_succeeds(server: Scripted) -> None:
    client, sleeps = client_for(server)
    server.script((500, {"__type": "InternalServerError", "message": "oops"}), (200, {}))
    assert client.call("PutItem", {}) == {}
    assert len(server.requests) == 2
    # DynamoDB's scale for non-throttling errors: 25 ms.
    assert sleeps == [0.0125]


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        ({"__type": "AccessDeniedException", "Message": "no"}, {}, "AccessDeniedException"),
        (
            {"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"},
            {},
            "ResourceNotFoundException",
        ),
        (b"", {"x-amzn-ErrorType": "ValidationException:http://internal"}, "ValidationException"),
        (b"<html>", {}, "HTTP403"),
    ],
)
def test_client_errors_are_not_retried_and_keep_awss_code(
    server: Scripted, body: Any, headers: dict[str, str], code: str
) -> None:
    client, sleeps = client_for(server)
    server.script((403 if code == "HTTP403" else 400, body, headers))
    with pytest.raises(AwsError) as raised:
        client.call("PutItem", {})
    assert (raised.value.code, raised.value.retryable) == (code, False)
    assert len(server.requests) == 1 and sleeps == []


def test_a_cancelled_transaction_carries_its_reasons(server: Scripted) -> None:
    client, _ = client_for(server)
    reasons = [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "failed"}]
    server.script(
        (400, {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
               "Message": "Transaction cancelled", "CancellationReasons": reasons})
    )  # fmt: skip
    with pytest.raises(AwsError) as raised:
        client.call("TransactWriteItems", {"TransactItems": []})
    assert raised.value.code == "TransactionCanceledException"
    assert raised.value.body["CancellationReasons"] == reasons


def test_transactions_carry_one_idempotency_token_across_retries(server: Scripted) -> None:
    client, _ = client_for(server)
    server.script((500, {"__type": "InternalServerError"}), (200, {}))
    client.call("TransactWriteItems", {"TransactItems": []})
    tokens = [json.loads(body)["ClientRequestToken"] for _, body in server.requests]
    assert len(tokens) == 2 and tokens[0] == tokens[1] and len(tokens[0]) == 36
    client.call("TransactWriteItems", {"TransactItems": []})
    assert json.loads(server.requests[2][1])["ClientRequestToken"] != tokens[0]
    client.call("PutItem", {"TableName": "t"})
    assert "ClientRequestToken" not in json.loads(server.requests[3][1])


def test_a_damaged_dynamodb_answer_is_retried(server: Scripted) -> None:
    client, _ = client_for(server)
    good = json.dumps({"ok": 1}).encode()
    server.script(
        (200, good, {"x-amz-crc32": str(zlib.crc32(good) ^ 1)}),
        (200, good, {"x-amz-crc32": str(zlib.crc32(good))}),
    )
    assert client.call("PutItem", {}) == {"ok": 1}
    assert len(server.requests) == 2


def test_no_answer_at_all_is_retried_then_raised_with_the_network_error() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    sleeps: list[float] = []
    client = AwsJsonClient(
        make_http([url]),
        DYNAMODB,
        region="us-east-1",
        endpoint=url,
        credentials=CredentialSource(
            {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, print
        ),
        sleep=sleeps.append,
    )
    with pytest.raises(AwsError) as raised:
        client.call("PutItem", {})
    assert raised.value.code == "ConnectError" and raised.value.status is None
    assert len(sleeps) == 2


def test_endpoints_follow_the_sdks_environment_variables() -> None:
    assert endpoint_of(DYNAMODB, "eu-west-1", {}) == "https://dynamodb.eu-west-1.amazonaws.com"
    assert (
        endpoint_of(SECRETS_MANAGER, "cn-north-1", {})
        == "https://secretsmanager.cn-north-1.amazonaws.com.cn"
    )
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566/", "AWS_ENDPOINT_URL_DYNAMODB": "http://d"}
    assert endpoint_of(DYNAMODB, "us-east-1", env) == "http://d"
    assert endpoint_of(SECRETS_MANAGER, "us-east-1", env) == "http://127.0.0.1:4566"
    assert region_of({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}) == "eu-west-1"
    with pytest.raises(ValueError, match="AWS_REGION"):
        region_of({})
