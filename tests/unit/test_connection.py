"""The prepared transport (OpenAI's pool and AWS's) against real sockets: requests reuse a
kept-alive connection, a connection prepared ahead of time carries the next request, preparing
never sends a request, httpcore's failures come out as TransportError, and the TLS context is
the one httpx would build."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from ekmint.aws_client import make_http
from ekmint.connection import PreparedTransport, shared_ssl_context, transport_of
from ekmint.http_client import HttpClient, Limits, TimedOut, Timeouts, TransportError
from ekmint.upstream import RetryPolicy, make_client

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class CountingServer:
    """HTTP/1.1 keep-alive on 127.0.0.1 that counts accepted connections and requests, and
    answers each with `answer` (None: never answers)."""

    def __init__(self, answer: bytes | None = ANSWER) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        self.requests = 0
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self.open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    head, _, rest = buffer.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    if len(rest) < length:
                        break
                    buffer = rest[length:]
                    self.requests += 1
                    if self.answer is not None:
                        conn.sendall(self.answer)
        except OSError:
            return

    def counts(self, expected: tuple[int, int], timeout_s: float = 2.0) -> tuple[int, int]:
        """(connections, requests), once they reach `expected` or the timeout passes: the
        accepting thread may lag the client by a moment."""
        deadline = time.monotonic() + timeout_s
        while (self.connections, self.requests) != expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.connections, self.requests

    def drop_all(self) -> None:
        for conn in self.open:
            # shutdown() sends the FIN now; close() alone waits for the thread blocked in recv.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def stop(self) -> None:
        self.listener.close()
        self.drop_all()


@pytest.fixture
def server() -> Iterator[CountingServer]:
    running = CountingServer()
    yield running
    running.stop()


def client_for(url: str) -> HttpClient:
    return make_client(url, RetryPolicy(connect_timeout_s=1, read_timeout_s=2))


def test_requests_reuse_one_kept_alive_connection(server: CountingServer) -> None:
    client = client_for(server.url)
    for _ in range(3):
        assert client.post(client.url("/x"), content=b"{}").status_code == 200
    assert server.counts((1, 3)) == (1, 3)


def test_a_prepared_connection_carries_the_next_request_and_sends_nothing(
    server: CountingServer,
) -> None:
    client = client_for(server.url)
    transport = transport_of(client)
    assert transport is not None
    assert transport.prepare()
    assert server.counts((1, 0)) == (1, 0)
    assert client.post(client.url("/x"), content=b"{}").status_code == 200
    assert server.counts((1, 1)) == (1, 1)


def test_preparing_is_skipped_while_a_connection_is_idle(server: CountingServer) -> None:
    client = client_for(server.url)
    client.post(client.url("/x"), content=b"{}")
    transport = transport_of(client)
    assert transport is not None
    transport.prepare_in_background()
    assert transport.prepare()
    assert server.counts((1, 1)) == (1, 1)


def test_a_prepared_connection_the_server_closed_is_replaced(server: CountingServer) -> None:
    client = client_for(server.url)
    transport = transport_of(client)
    assert transport is not None
    transport.prepare()
    assert server.counts((1, 0)) == (1, 0)
    server.drop_all()
    time.sleep(0.05)
    assert client.post(client.url("/x"), content=b"{}").status_code == 200
    assert server.counts((2, 1)) == (2, 1)


def test_reset_closes_every_connection_and_the_client_still_works(server: CountingServer) -> None:
    client = client_for(server.url)
    transport = transport_of(client)
    assert transport is not None
    client.post(client.url("/x"), content=b"{}")
    transport.reset()
    assert transport.idle_connections() == 0
    assert client.post(client.url("/x"), content=b"{}").status_code == 200
    assert server.counts((2, 2)) == (2, 2)


def test_an_unreachable_upstream_fails_to_prepare_quietly() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = client_for(f"http://127.0.0.1:{port}")
    transport = transport_of(client)
    assert transport is not None
    assert transport.prepare() is False
    with pytest.raises(TransportError) as raised:
        client.post(client.url("/x"), content=b"{}")
    assert raised.value.kind == "ConnectError" and not isinstance(raised.value, TimedOut)


@pytest.mark.parametrize(
    ("answer", "kind", "timed_out"),
    [
        (None, "ReadTimeout", True),
        (b"HTTP/1.1 OK\r\n\r\n", "RemoteProtocolError", False),
    ],
)
def test_no_usable_answer_is_a_transport_error_named_as_httpcore_names_it(
    answer: bytes | None, kind: str, timed_out: bool
) -> None:
    silent = CountingServer(answer)
    try:
        client = client_for(silent.url)
        with pytest.raises(TransportError) as raised:
            client.post(client.url("/x"), content=b"{}", timeouts=Timeouts(connect=1, read=0.2))
        assert raised.value.kind == kind
        assert isinstance(raised.value, TimedOut) is timed_out
    finally:
        silent.stop()


def test_the_answer_is_read_in_full_with_lower_case_header_names(server: CountingServer) -> None:
    client = client_for(server.url)
    answer = client.post(client.url("/x"), content=b"{}", headers={"X-Test": "1"})
    assert (answer.status_code, answer.reason_phrase, answer.json()) == (200, "OK", {})
    assert answer.headers == {"content-type": "application/json", "content-length": "2"}


def test_the_tls_context_is_the_one_httpx_would_build() -> None:
    transport = PreparedTransport(
        ["https://api.openai.com/v1"],
        Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=5),
        connect_timeout_s=1,
    )
    transport.wait_ready()
    context = transport._ssl_context
    reference = httpx.create_ssl_context()
    assert context is not None
    assert (context.verify_mode, context.check_hostname, context.verify_flags) == (
        reference.verify_mode,
        reference.check_hostname,
        reference.verify_flags,
    )
    assert len(context.get_ca_certs()) == len(reference.get_ca_certs()) > 0
    # Loaded once per process: the AWS pool gets the same context, not a second CA load.
    assert context is shared_ssl_context()


def test_the_aws_pool_prepares_one_connection_per_endpoint_and_requests_use_them() -> None:
    dynamodb, secrets = CountingServer(), CountingServer()
    try:
        client = make_http([dynamodb.url, secrets.url])
        transport = transport_of(client)
        assert transport is not None
        transport.prepare_in_background()
        assert (dynamodb.counts((1, 0)), secrets.counts((1, 0))) == ((1, 0), (1, 0))
        for _ in range(2):
            assert client.post(dynamodb.url + "/", content=b"{}").status_code == 200
            assert client.post(secrets.url + "/", content=b"{}").status_code == 200
        assert (dynamodb.counts((1, 2)), secrets.counts((1, 2))) == ((1, 2), (1, 2))
        # Both idle now: preparing again opens nothing.
        assert transport.prepare()
        assert (dynamodb.counts((1, 2)), secrets.counts((1, 2))) == ((1, 2), (1, 2))
    finally:
        dynamodb.stop()
        secrets.stop()
