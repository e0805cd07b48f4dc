"""A fault-injecting HTTP proxy in front of moto server.

AWS SDKs address JSON-protocol services (DynamoDB, Secrets Manager) with one POST per call and
name the operation in `X-Amz-Target`. The proxy forwards every call to moto unchanged, except
those a scripted fault matches, which get the error AWS itself would send (throttling, a failed
condition, a 500). It also counts calls per operation, so tests can assert the I/O of a mint.

Faults are injected here, at the HTTP layer, rather than in botocore: the handler's own clients,
retry mode and error parsing run exactly as they do against AWS.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

ADMIN_PREFIX = "/_aws_faults"
# What AWS answers for each error type (JSON protocol): status and __type.
ERRORS: dict[str, tuple[int, str]] = {
    "ThrottlingException": (400, "ThrottlingException"),
    "ProvisionedThroughputExceededException": (
        400,
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    ),
    "ConditionalCheckFailedException": (
        400,
        "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
    ),
    "ResourceNotFoundException": (400, "ResourceNotFoundException"),
    "AccessDeniedException": (400, "AccessDeniedException"),
    "InternalServerError": (500, "InternalServerError"),
}
# Not an AWS error: the call is forwarded and applied, then the connection is closed without an
# answer, as when a network fault loses DynamoDB's answer. The SDK retries the same request.
ANSWER_LOST = "AnswerLost"
# Not an AWS error either: the call is not forwarded, and no answer comes for HANG_S seconds
# (longer than any client's read timeout), as from an overloaded or unreachable endpoint.
HANG = "Hang"
HANG_S = 3.0


@dataclass
class AwsFault:
    target: str  # e.g. "DynamoDB_20120810.PutItem" or "secretsmanager.GetSecretValue"
    error: str
    remaining: int | None  # None: every matching call until cleared

    @classmethod
    def parse(cls, spec: dict[str, Any]) -> AwsFault:
        error = str(spec.get("error", "ThrottlingException"))
        if error not in ERRORS and error not in (ANSWER_LOST, HANG):
            choices = sorted([*ERRORS, ANSWER_LOST, HANG])
            raise ValueError(f"unknown error {error!r}; choose from {choices}")
        repeat = spec.get("repeat", 1)
        return cls(
            target=str(spec["target"]),
            error=error,
            remaining=None if spec.get("sticky") else int(repeat),
        )


class AwsFaultProxy:
    def __init__(self, upstream_url: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream_url = upstream_url.rstrip("/")
        self._faults: list[AwsFault] = []
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=self.upstream_url, timeout=30)
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> AwsFaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def set_faults(self, specs: list[dict[str, Any]]) -> None:
        faults = [AwsFault.parse(spec) for spec in specs]
        with self._lock:
            self._faults = faults

    def clear(self) -> None:
        with self._lock:
            self._faults = []
            self._calls.clear()

    @property
    def calls(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def _take_fault(self, target: str) -> AwsFault | None:
        with self._lock:
            self._calls[target] += 1
            for fault in self._faults:
                if fault.target != target:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes; without NODELAY, Nagle's algorithm and
                # the client's delayed ACK hold the second one back ~40 ms on every call.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:
                # Quiet: request lines would add noise to every test's output.
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _admin(self, body: bytes) -> None:
                if self.command == "PUT":
                    proxy.set_faults(json.loads(body or b"[]"))
                elif self.command == "DELETE":
                    proxy.clear()
                answer = json.dumps({"calls": proxy.calls}).encode()
                self._send(200, answer, {"Content-Type": "application/json"})

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith(ADMIN_PREFIX):
                    self._admin(body)
                    return
                target = self.headers.get("X-Amz-Target", f"{self.command} {self.path}")
                fault = proxy._take_fault(target)
                if fault is not None and fault.error == HANG:
                    time.sleep(HANG_S)
                    self.close_connection = True
                    return
                if fault is not None and fault.error != ANSWER_LOST:
                    status, aws_type = ERRORS[fault.error]
                    payload = {"__type": aws_type, "message": f"injected {fault.error}"}
                    self._send(
                        status,
                        json.dumps(payload).encode(),
                        {"Content-Type": "application/x-amz-json-1.0"},
                    )
                    return
                skip = {"host", "content-length", "connection", "transfer-encoding"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                answer = proxy._client.request(
                    self.command, self.path, content=body, headers=headers
                )
                if fault is not None:  # ANSWER_LOST: applied upstream, the answer never arrives
                    self.close_connection = True
                    return
                keep = {
                    k: v
                    for k, v in answer.headers.items()
                    if k.lower() not in skip | {"content-encoding", "date", "server"}
                }
                self._send(answer.status_code, answer.content, keep)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        return Handler
