"""Instant (or deliberately slow) stand-ins for AWS and OpenAI on loopback, for the benchmark.

Why not moto and the emulator: moto server adds ~3 ms to every call and the emulator ~1 ms, so a
warm mint measured against them is mostly *their* time. These answer from a fixed table in a few
tens of microseconds, so what is left is the function's own overhead. They also count what the
function does (connections, calls by operation), which is the I/O part of the report.

- AWS: DynamoDB (JSON 1.0) `UpdateItem` (the quota's counters), `TransactWriteItems` (the quota
  of earlier checkouts, for bench/compare.py) and `PutItem`, Secrets Manager (JSON 1.1)
  `GetSecretValue`, chosen by `X-Amz-Target`; boto3 reaches it through `AWS_ENDPOINT_URL`.
- OpenAI: `POST /v1/realtime/client_secrets`, answering a fake `ek_` value.

Latency injection models a real cold mint: `request_delay_s` before each answer (an AWS call,
OpenAI's own work) and `connect_delay_s` from the moment a connection is accepted until its first
request may be answered, standing for the TCP and TLS handshakes. A connection opened well before
its first request (a pre-connect) therefore pays nothing more, as a real pre-opened TLS
connection would.

`GET /_bench/counts` answers the counters as JSON and `POST /_bench/reset` zeroes them; neither is
counted or delayed.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ADMIN_PREFIX = "/_bench/"
MAX_HEADER_BYTES = 64 * 1024
# A fake key: the OpenAI stub accepts only this one.
BENCH_OPENAI_KEY = "sk-bench.not.a.real.key"
STORED_KEY_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:bench/openai-AbCdEf"
# A fixed expiry far in the future: the answer is built once, not per request.
EXPIRES_AT = 4_102_444_800


@dataclass(frozen=True)
class Latency:
    """Delays of one stub server."""

    request_delay_s: float = 0.0
    connect_delay_s: float = 0.0


@dataclass(frozen=True)
class Profile:
    """The latency model of one run: each AWS call, each OpenAI call, each new OpenAI connection."""

    name: str
    aws_s: float = 0.0
    openai_s: float = 0.0
    upstream_connect_s: float = 0.0


INSTANT = Profile("instant")
# The brief's realistic cold mint: AWS calls 10 ms, OpenAI 150 ms, 50 ms of TCP+TLS handshakes.
REALISTIC = Profile("realistic", aws_s=0.010, openai_s=0.150, upstream_connect_s=0.050)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


Answer = Callable[[Request], tuple[str, Reply]]


def _response_bytes(reply: Reply) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
    head = (
        f"HTTP/1.1 {reply.status} {reason.get(reply.status, 'Error')}\r\n"
        f"Content-Type: {reply.content_type}\r\n"
        f"Content-Length: {len(reply.body)}\r\n"
        "x-request-id: req_bench\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    # One write: headers and body in two small writes would meet Nagle and delayed ACKs.
    return head.encode("ascii") + reply.body


class StubServer:
    """A threaded HTTP/1.1 keep-alive server on 127.0.0.1; one thread per connection."""

    def __init__(self, answer: Answer, latency: Latency = Latency()) -> None:
        self._answer = answer
        self._latency = latency
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="stub-accept", daemon=True)

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        self._thread.join(timeout=2)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def _count(self, name: str, delta: int = 1) -> None:
        with self._lock:
            self._counts[name] += delta

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            accepted = time.monotonic()
            # Counted when accepted, so a pre-opened connection counts even if never used.
            self._count("connections")
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(
                target=self._serve, args=(conn, accepted), name="stub-conn", daemon=True
            ).start()

    def _serve(self, conn: socket.socket, accepted: float) -> None:
        reader = conn.makefile("rb")
        first = True
        try:
            while True:
                request = _read_request(reader)
                if request is None:
                    return
                if request.path.startswith(ADMIN_PREFIX):
                    if first:
                        # The benchmark's own control connection is not the function's.
                        self._count("connections", -1)
                        first = False
                    conn.sendall(_response_bytes(self._admin(request)))
                    continue
                if first:
                    wait_s = accepted + self._latency.connect_delay_s - time.monotonic()
                    if wait_s > 0:
                        time.sleep(wait_s)
                    first = False
                name, reply = self._answer(request)
                self._count(name)
                # The modelled latency is the service's work; a refusal (a 4xx: no key, no such
                # route) is answered before any, as OpenAI answers an uncredentialed request.
                if self._latency.request_delay_s and reply.status < 400:
                    time.sleep(self._latency.request_delay_s)
                conn.sendall(_response_bytes(reply))
        except OSError:
            return
        finally:
            reader.close()
            conn.close()

    def _admin(self, request: Request) -> Reply:
        if request.path == ADMIN_PREFIX + "reset":
            self.reset()
        return Reply(200, json.dumps(self.counts()).encode())


def _read_request(reader: Any) -> Request | None:
    line = reader.readline(MAX_HEADER_BYTES)
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = reader.readline(MAX_HEADER_BYTES)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    body = reader.read(length) if length else b""
    return Request(method, target.split("?", 1)[0], headers, body)


# ---------------------------------------------------------------- AWS


def _aws_error(kind: str, message: str) -> Reply:
    body = json.dumps({"__type": f"com.amazonaws.bench#{kind}", "message": message})
    return Reply(400, body.encode(), "application/x-amz-json-1.0")


_SECRET_VALUE = json.dumps(
    {
        "ARN": STORED_KEY_ARN,
        "Name": "bench/openai",
        "SecretString": BENCH_OPENAI_KEY,
        "VersionId": "00000000-0000-0000-0000-000000000001",
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": 1_700_000_000.0,
    }
).encode()


def aws_answer(request: Request) -> tuple[str, Reply]:
    """DynamoDB and Secrets Manager over their JSON protocols, always successful."""
    target = request.headers.get("x-amz-target", "")
    if target in (
        "DynamoDB_20120810.TransactWriteItems",
        "DynamoDB_20120810.UpdateItem",
        "DynamoDB_20120810.PutItem",
    ):
        return "dynamodb." + target.rsplit(".", 1)[1], Reply(
            200, b"{}", "application/x-amz-json-1.0"
        )
    if target == "secretsmanager.GetSecretValue":
        return "secretsmanager.GetSecretValue", Reply(
            200, _SECRET_VALUE, "application/x-amz-json-1.1"
        )
    return "aws.unknown", _aws_error("UnknownOperationException", f"no stub for {target!r}")


# ---------------------------------------------------------------- OpenAI

_CLIENT_SECRET = json.dumps(
    {
        "value": "ek_bench" + "0" * 24,
        "expires_at": EXPIRES_AT,
        "session": {
            "type": "realtime",
            "object": "realtime.session",
            "id": "sess_bench",
            "model": "gpt-realtime",
            "output_modalities": ["audio"],
            "instructions": "You are a helpful, concise voice assistant.",
            "audio": {"output": {"voice": "marin", "format": {"type": "audio/pcm", "rate": 24000}}},
        },
    }
).encode()


def openai_answer(request: Request) -> tuple[str, Reply]:
    if (request.method, request.path) == ("GET", "/v1/models"):
        # ekmint's init opens its first connection with this request, without a key.
        return "openai.models", Reply(401, b'{"error": {"code": "invalid_api_key"}}')
    if (request.method, request.path) != ("POST", "/v1/realtime/client_secrets"):
        return "openai.unknown", Reply(404, b'{"error": {"message": "no such route"}}')
    if request.headers.get("authorization") != f"Bearer {BENCH_OPENAI_KEY}":
        return "openai.unauthorized", Reply(401, b'{"error": {"code": "invalid_api_key"}}')
    return "openai.client_secrets", Reply(200, _CLIENT_SECRET)


@dataclass
class Stubs:
    """One AWS stub and one OpenAI stub with the same latency model."""

    profile: Profile
    aws: StubServer
    openai: StubServer

    @classmethod
    def start(cls, profile: Profile = INSTANT) -> Stubs:
        # AWS calls have no handshake cost in this model: only OpenAI's connection is charged.
        aws = StubServer(aws_answer, Latency(request_delay_s=profile.aws_s)).start()
        openai = StubServer(
            openai_answer,
            Latency(request_delay_s=profile.openai_s, connect_delay_s=profile.upstream_connect_s),
        ).start()
        return cls(profile, aws, openai)

    def stop(self) -> None:
        self.aws.stop()
        self.openai.stop()
