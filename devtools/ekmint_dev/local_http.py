"""What every local server of the stack shares: the browser guard, and one http.server base.

The stack runs beside the developer's browser, on fixed loopback ports, and local Secrets Manager
holds the real OpenAI key when OPENAI_API_KEY is set. Loopback alone does not keep web pages out:
any page can send requests to 127.0.0.1, and DNS rebinding lets a page on `evil.example` read the
answers. So every port the stack opens (gateway, OpenAI emulator, AWS fault proxy, moto) applies
one guard, as dev servers do (Vite's `server.allowedHosts`, webpack-dev-server's host check):

- the `Host` must name loopback (`127.0.0.1`, `localhost`, `[::1]`, any port): a rebound name
  such as `evil.example:4566` is refused. `host.docker.internal` is accepted too: it is how a
  function run by `sam local invoke` in Docker reaches the stack on the host (Docker Desktop
  forwards it to the host's loopback), and no web page can be served under that name, because
  only Docker's own resolver knows it;
- a request that can change state (any method but GET, HEAD and OPTIONS) carrying an `Origin`
  is refused unless the origin is the server's own (a loopback origin on its port) or one it
  lets browsers use (the gateway's and the WebRTC route's allow-list). This covers the
  "simple" requests (a `text/plain` POST) that a page can send without a preflight;
- CORS is granted only where a browser is meant to call (the gateway's API route, the
  emulator's WebRTC offer route), by the callers' own rules; every other answer has its
  `Access-Control-*` headers removed, so no page can read it;
- servers that no browser needs (moto, the fault proxy) also refuse any request a browser marks
  `Sec-Fetch-Site: cross-site`: moto has GET actions that change state (`?Action=…`), and an
  `<img>` request carries no `Origin`.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable, Collection, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any
from urllib.parse import urlsplit

LOCAL_HOST_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "host.docker.internal"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REFUSED_STATUS = 403


def host_is_local(host: str | None) -> bool:
    """True for a Host header naming loopback (or host.docker.internal), with any port."""
    if not host:
        return False
    name, port = host.strip().lower(), ""
    if name.startswith("["):
        bracket = name.find("]")
        name, port = name[: bracket + 1], name[bracket + 1 :].removeprefix(":")
    elif ":" in name:
        name, port = name.rsplit(":", 1)
    return name in LOCAL_HOST_NAMES and (port == "" or port.isdigit())


def origin_is_own(origin: str, port: int) -> bool:
    """The server's own origin: http on a local name and the server's port."""
    try:
        split = urlsplit(origin)
        origin_port = split.port
    except ValueError:
        return False
    return (
        split.scheme == "http"
        and host_is_local(split.netloc)
        and origin_port == port
        and (split.path, split.query) == ("", "")
    )


def refusal(
    method: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    port: int,
    *,
    allowed_origins: Collection[str] = (),
    check_origin: bool = True,
    refuse_cross_site: bool = False,
) -> str | None:
    """Why the guard refuses this request, or None to serve it."""
    found = _lower(headers)
    if not host_is_local(found.get("host")):
        return "the Host header does not name this machine's loopback"
    if refuse_cross_site and found.get("sec-fetch-site") == "cross-site":
        return "a cross-site request"
    origin = found.get("origin")
    if (
        check_origin
        and origin is not None
        and method.upper() not in SAFE_METHODS
        and origin not in allowed_origins
        and not origin_is_own(origin, port)
    ):
        return f"a {method.upper()} from a foreign origin"
    return None


def refusal_body(reason: str) -> bytes:
    message = f"Forbidden: {reason}; local servers answer only loopback pages (docs/security.md)"
    return json.dumps({"message": message}, separators=(",", ":")).encode()


def without_cors(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]


def _lower(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    found: dict[str, str] = {}
    for key, value in pairs:
        found.setdefault(key.lower(), value)  # the first of repeated headers, as http.server
    return found


# -- WSGI (moto) -----------------------------------------------------------------------------

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def guard_wsgi(app: WsgiApp) -> WsgiApp:
    """moto's WSGI app behind the guard, with its CORS headers (flask-cors, every origin)
    removed from every answer."""

    def guarded(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        port = int(environ.get("SERVER_PORT") or 0)
        why = refusal(environ["REQUEST_METHOD"], headers, port, refuse_cross_site=True)
        if why is not None:
            body = refusal_body(why)
            start_response(
                f"{REFUSED_STATUS} Forbidden",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]

        def start(status: str, response_headers: list[tuple[str, str]], *exc: Any) -> Any:
            return start_response(status, without_cors(response_headers), *exc)

        return app(environ, start)

    return guarded


# -- http.server (gateway, emulator, fault proxy) -------------------------------------------


class LocalHTTPServer(ThreadingHTTPServer):
    """A threaded loopback server that stops at once: daemon connection threads, no join of
    idle kept-alive connections on close, and no DNS lookup when binding."""

    daemon_threads = True
    block_on_close = False
    # socketserver's default listen backlog is 5: a burst of browsers or a load test overflows
    # it, and on a busy machine the kernel then resets connections it could not queue.
    request_queue_size = 128

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on DNS.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class LocalRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no Nagle delay, quiet, and `guard()` for the browser rules."""

    protocol_version = "HTTP/1.1"
    refuse_cross_site = False

    def setup(self) -> None:
        super().setup()
        # Headers and body are written separately; without this Nagle's algorithm holds the
        # body back until the client's delayed ACK (~40 ms a request on Linux loopback).
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        # Each server logs its own line (never the query string or headers) or nothing.
        return

    def _port(self) -> int:
        address = self.server.server_address
        return int(address[1]) if isinstance(address, tuple) else 0

    def guard(self, *, allowed_origins: Collection[str] = (), check_origin: bool = True) -> bool:
        """Answer 403 and close if the guard refuses this request; True when it did.

        Called before the body is read, so the connection is closed after the refusal.
        `allowed_origins`: origins whose state-changing requests this route serves besides
        the server's own."""
        why = refusal(
            self.command,
            self.headers.items(),
            self._port(),
            allowed_origins=allowed_origins,
            check_origin=check_origin,
            refuse_cross_site=self.refuse_cross_site,
        )
        if why is None:
            return False
        body = refusal_body(why)
        self.close_connection = True
        self.send_response(REFUSED_STATUS)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            with contextlib.suppress(OSError):
                self.wfile.write(body)
        return True
