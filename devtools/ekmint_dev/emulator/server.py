"""HTTP: one thread per connection; HTTP/1.1 keep-alive, because ekmint's client reuses one
connection (design.md, "one upstream call over a kept-alive connection")."""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import unified_calls
from ..local_http import LocalHTTPServer, LocalRequestHandler, without_cors
from . import client_secrets
from .admin import ADMIN_PREFIX, admin_reply
from .dialect import Headers
from .faults import HangFault, ResetFault, fault_reply
from .replies import ApiError, Reply, error_reply, json_reply, new_request_id
from .state import EmulatorState, LoggedRequest, parse_json_or_none

if TYPE_CHECKING:
    from ..realtime_peer import RealtimePeer

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# How often a hanging answer checks whether the client left or the server is stopping.
HANG_POLL_S = 0.05
# Lets the partial answer of a `reset` fault reach the client before the RST discards it.
RESET_DELAY_S = 0.02
# A mount answers some routes ahead of the client-secrets API (the WebRTC peer, peer.py), or
# returns None. Called with the method, the raw request target (query included), the headers
# and the body. Another route family plugs in by adding itself to `_Server.mounts` (before the
# peer's, to see a calls-path request first; e.g. from `Emulator.start`, service.py).
Mount = Callable[[str, str, Headers, bytes], Reply | None]


_PARTIAL_ANSWERS: dict[str, bytes] = {
    "before_answer": b"",
    "status_line": b"HTTP/1.1 200 OK\r\n",
    "headers": b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n",
    "partial_body": (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 512\r\n\r\n"
        b'{"value": "ek_'
    ),
}


class _Handler(LocalRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        # A page on another origin preflights its POST to the calls path (peer.py).
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        # http.server would print every request line to stderr; `_serve_api` logs instead.
        logger.debug("http.server: " + format, *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (bad request line, unsupported method) in OpenAI's
        # envelope too, and on a closed connection: the request body was never read.
        self.close_connection = True
        error = ApiError(code, message or self.responses.get(code, ("Error",))[0])
        self._send(error_reply(error, [("connection", "close")]), new_request_id())

    def _dispatch(self) -> None:
        started = time.monotonic()
        request_id = new_request_id()
        path = urlsplit(self.path).path
        if self.guard(allowed_origins=self._browser_origins(path)):
            return
        raw = self._read_body(request_id)
        if raw is None:
            return
        # Mounted routes first: the WebRTC peer's calls path and /_emulator/realtime/... . A
        # backend's multipart call (unified_calls.py) is an API request, with the fault script.
        state = self.server.state
        calls = state.dialect.calls_path
        unified = unified_calls.is_unified_call(
            self.command, path, self.headers.get("content-type"), calls
        )
        for mount in () if unified else self.server.mounts:
            mounted = mount(self.command, self.path, self.headers, raw)
            if mounted is not None:
                self._send(mounted, request_id)
                return
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            self._send(admin_reply(self.server.state, self.command, path, raw), request_id)
            return
        if (self.command, path) == ("GET", self.server.state.dialect.models_path):
            self._send(self._models_reply(), request_id)
            return
        entry = self._serve_api(path, raw, request_id)
        logger.info(
            "%s %s -> %s fault=%s %.1fms",
            self.command,
            path,
            entry.status if entry.status is not None else "no answer",
            entry.fault or "-",
            (time.monotonic() - started) * 1000,
        )

    def _models_reply(self) -> Reply:
        state = self.server.state
        if not state.is_authorized(self.headers):
            return error_reply(state.dialect.invalid_key())
        models = [{"id": "gpt-realtime", "object": "model", "owned_by": "system"}]
        return json_reply(200, {"object": "list", "data": models})

    def _read_body(self, request_id: str) -> bytes | None:
        """The request body, or None after answering an unreadable one (and closing)."""
        if self.headers.get("transfer-encoding"):
            error = ApiError(411, "Chunked request bodies are not supported; send Content-Length.")
        else:
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if 0 <= length <= MAX_BODY_BYTES:
                return self.rfile.read(length)
            error = ApiError(413 if length > 0 else 400, "Invalid or too large Content-Length.")
        self.close_connection = True  # the unread body would be parsed as the next request
        self._send(error_reply(error, [("connection", "close")]), request_id)
        return None

    def _serve_api(self, path: str, raw: bytes, request_id: str) -> LoggedRequest:
        state = self.server.state
        entry = LoggedRequest(
            at=time.time(),
            path=path,
            request_id=request_id,
            body=parse_json_or_none(raw),
            authorized=state.is_authorized(self.headers),
        )
        state.log.record(entry)
        if not self._pause(state.next_delay_s()):
            return self._drop(entry)
        calls = state.dialect.calls_path
        if self.command != "POST" or path not in (state.dialect.client_secrets_path, calls):
            # OpenAI answers unknown routes (like the retired /v1/realtime/sessions) this way.
            reply = error_reply(ApiError(404, f"Invalid URL ({self.command} {path})"))
            return self._answer(entry, reply, request_id)
        fault = state.faults.take()
        state.log.set_fault(entry, fault)
        if isinstance(fault, HangFault):
            if not self._pause(fault.seconds):
                return self._drop(entry)
            fault = None
        if isinstance(fault, ResetFault):
            self._reset_connection(fault.stage)
            return entry
        if fault is not None:
            reply = fault_reply(fault, entry.body, state.dialect, state.remember)
        elif path == calls:
            answer, entry.body = unified_calls.answer(state, self.server.peer, self.headers, raw)
            reply = Reply(*answer)
        else:
            reply = client_secrets.answer(state, self.headers, raw)
        return self._answer(entry, reply, request_id)

    def _answer(self, entry: LoggedRequest, reply: Reply, request_id: str) -> LoggedRequest:
        # Logged before sending: a client that reads the log right after its answer must find it.
        self.server.state.log.set_status(entry, reply.status)
        self._send(reply, request_id)
        return entry

    def _drop(self, entry: LoggedRequest) -> LoggedRequest:
        """Close without answering: the server is stopping or the client already left."""
        self.close_connection = True
        return entry

    def _browser_origins(self, path: str) -> Sequence[str]:
        # Browsers call the calls path as they call OpenAI's or Azure's (the demo page's WebRTC
        # offer): the one route where the stack's allowed origins may POST and read the answer
        # (local_http.py).
        calls = self.server.state.dialect.calls_path
        return self.server.browser_origins if path.rstrip("/") == calls else ()

    def _send(self, reply: Reply, request_id: str) -> None:
        self.send_response(reply.status)
        self.send_header("content-type", reply.content_type)
        self.send_header("content-length", str(len(reply.body)))
        self.send_header("x-request-id", request_id)
        headers: Iterable[tuple[str, str]] = reply.headers
        if self.headers.get("origin") not in self._browser_origins(urlsplit(self.path).path):
            headers = without_cors(headers)  # no other page may read an answer
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _pause(self, seconds: float | None) -> bool:
        """Wait `seconds` (None: until the client leaves); False if the answer must be dropped.

        Waits on the stop event, so `Emulator.stop()` interrupts every hang at once.
        """
        if seconds is not None and seconds <= 0:
            return True
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            remaining = HANG_POLL_S if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return True
            if self.server.state.stopping.wait(min(HANG_POLL_S, remaining)):
                return False
            if _peer_closed(self.connection):
                return False

    def _reset_connection(self, stage: str) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN: the client
        # sees "connection reset by peer" in the middle of the answer.
        self.close_connection = True
        with contextlib.suppress(OSError):
            if partial := _PARTIAL_ANSWERS[stage]:
                self.wfile.write(partial)
                time.sleep(RESET_DELAY_S)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drops makefile()'s reference, or close() would not close the fd
        self.connection.close()


def _peer_closed(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Server(LocalHTTPServer):
    def __init__(
        self, address: tuple[str, int], state: EmulatorState, browser_origins: Sequence[str] = ()
    ) -> None:
        self.state = state
        self.browser_origins = tuple(browser_origins)
        self.mounts: list[Mount] = []  # filled by Emulator.start()
        self.peer: RealtimePeer | None = None  # set by Emulator.start(): unified calls use it
        self._connections_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self.connections_accepted = 0
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        # http.server writes headers and body separately; with Nagle's algorithm the body
        # then waits for the client's delayed ACK (~40 ms a request on Linux loopback).
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(sock)
            self.connections_accepted += 1
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Unblock every connection thread (idle keep-alive reads included)."""
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that leaves mid-answer (timeouts, resets) is routine here, not a bug.
        if isinstance(sys.exc_info()[1], OSError):
            logger.debug("connection from %s ended abruptly", client_address)
        else:
            logger.exception("emulator failed on a request from %s", client_address)
