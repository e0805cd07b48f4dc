"""The local API Gateway (HTTP API): HTTP request -> payload 2.0 event -> the handler's answer.

It does what API Gateway does before and after the function, and nothing more:
- CORS (the HttpApi's CorsConfiguration in template.yaml): OPTIONS preflight is answered here
  without calling the function (204, CORS headers only for allowed origins); on every other
  answer, CORS headers from the function are dropped and the configured ones added, as API
  Gateway does when CORS is configured;
- routes: the template's (`POST /api/client-secret`, `POST /api/realtime/calls`, read by
  function_config.py) go to the function, anything else is 404 {"message":"Not Found"};
- the JWT authorizer (AUTH_MODE=jwt): 401 {"message":"Unauthorized"} with www-authenticate,
  or the claims in requestContext.authorizer.jwt.claims;
- limits: a body over 10 MB is 413 (API Gateway's payload quota), the integration gives up
  after 30 s (503); a function error (unhandled exception, crash, timeout) is 500.
Local additions, documented in docs/local.md: the demo page's files at `/`, the local JWT
issuer's discovery documents, and `x-local-env-id` / `x-local-cold-start` headers.
Local restrictions (local_http.py, for the browser beside the stack): loopback Host names only,
CORS on the API route only, and no state-changing request from a foreign Origin elsewhere.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import static_site
from .events import http_api_event
from .jwt_local import Denied, JwtAuthorizer
from .local_http import LocalHTTPServer, LocalRequestHandler, refusal, refusal_body
from .workers import FunctionError, Invocation, PoolBusy, PoolStopped

ROUTE_PATH = "/api/client-secret"
CALLS_PATH = "/api/realtime/calls"
# The template's routes (function_config.py reads them); these when a caller names none.
ROUTE_KEYS = (f"POST {ROUTE_PATH}", f"POST {CALLS_PATH}")
# API Gateway quotas for HTTP APIs: 10 MB payload, 30 s integration timeout.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
INTEGRATION_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class CorsConfig:
    """The HttpApi's CorsConfiguration, with AllowOrigins resolved."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...] = ("POST", "OPTIONS")
    allow_headers: tuple[str, ...] = ("content-type", "authorization")
    expose_headers: tuple[str, ...] = ("x-request-id", "retry-after", "date")
    max_age_s: int = 600
    allow_credentials: bool = False

    def allows(self, origin: str | None) -> bool:
        return origin is not None and ("*" in self.allow_origins or origin in self.allow_origins)

    def _origin_value(self, origin: str) -> str:
        return "*" if "*" in self.allow_origins and not self.allow_credentials else origin

    def response_headers(self, origin: str | None) -> list[tuple[str, str]]:
        if origin is None or not self.allows(origin):
            return []
        headers = [("access-control-allow-origin", self._origin_value(origin))]
        if self.expose_headers:
            headers.append(("access-control-expose-headers", ",".join(self.expose_headers)))
        if self.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
        return headers

    def preflight_headers(self, origin: str | None) -> list[tuple[str, str]]:
        if origin is None or not self.allows(origin):
            return []
        headers = [
            ("access-control-allow-origin", self._origin_value(origin)),
            ("access-control-allow-methods", ",".join(self.allow_methods)),
            ("access-control-allow-headers", ",".join(self.allow_headers)),
            ("access-control-max-age", str(self.max_age_s)),
        ]
        if self.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
        return headers


Invoke = Callable[[Mapping[str, Any], str, float], Invocation]


@dataclass(frozen=True)
class GatewayConfig:
    cors: CorsConfig
    authorizer: JwtAuthorizer | None = None
    static_root: Path | None = None
    routes: tuple[str, ...] = ROUTE_KEYS
    # Extra GET documents served verbatim (the local issuer's discovery documents).
    documents: Mapping[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    served_by: str  # for the log line: "env-2 cold (init 812 ms)", "gateway (no route)" …


def _gateway_answer(status: int, message: str, why: str, *extra: tuple[str, str]) -> Answer:
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    headers = [("content-type", "application/json"), *extra]
    return Answer(status, headers, body, f"gateway ({why})")


def integration_answer(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """A payload 2.0 Lambda result -> status, headers, body, by API Gateway's rules.

    A dict with statusCode is taken as a response; anything else is the "inferred" format:
    the value itself is a 200 application/json body.
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        body = json.dumps(result).encode()
        return 200, [("content-type", "application/json")], body
    status = int(result["statusCode"])
    headers = [(str(k).lower(), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("set-cookie", str(cookie)) for cookie in result.get("cookies") or []]
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
    return status, headers, body


class _Server(LocalHTTPServer):
    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        self.gateway = gateway
        super().__init__(address, _Handler)


class Gateway:
    """The HTTP server on 127.0.0.1; `invoke` runs the function (the environment pool)."""

    def __init__(
        self,
        port: int,
        config: GatewayConfig,
        invoke: Invoke,
        log: Callable[[str], None],
        host: str = "127.0.0.1",
    ) -> None:
        self.config = config
        self._invoke = invoke
        self.log = log
        self._server = _Server((host, port), self)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> Gateway:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="ekmint-gateway",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=2)
            self._thread = None
        self._server.server_close()

    # -- one request ---------------------------------------------------------------------

    def handle(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> Answer:
        split = urlsplit(target)
        path = split.path or "/"
        origin = _first(headers, "origin")
        api_route = path in {key.split(" ", 1)[1] for key in self.config.routes}
        # The local guard (local_http.py): loopback Host names only; a foreign Origin may not
        # change state, except on the API's routes, where the function's own origin check
        # answers (403 origin_not_allowed), as it does behind API Gateway.
        why = refusal(method, headers, self.port, check_origin=not api_route)
        if why is not None:
            return Answer(
                403, [("content-type", "application/json")], refusal_body(why), f"guard ({why})"
            )
        if method == "OPTIONS":
            # CORS is configured on the HttpApi, so API Gateway answers every OPTIONS itself;
            # locally only the API's routes grant anything (no page may read the others).
            preflight = self.config.cors.preflight_headers(origin) if api_route else []
            granted = "granted" if preflight else "no grant"
            return Answer(204, preflight, b"", f"gateway (CORS preflight, {granted})")
        route_key = f"{method} {path}"
        if route_key in self.config.routes:
            answer = self._route(route_key, headers, body, source_ip, split.query)
        elif method in ("GET", "HEAD") and path in self.config.documents:
            document = json.dumps(self.config.documents[path]).encode()
            answer = Answer(200, [("content-type", "application/json")], document, "local issuer")
        elif method in ("GET", "HEAD") and (file := self._static(path)) is not None:
            answer = Answer(
                200,
                [("content-type", file.content_type), ("cache-control", "no-cache")],
                file.path.read_bytes(),
                "static site",
            )
        else:
            answer = _gateway_answer(404, "Not Found", "no route")
        answer.headers = self._with_cors(answer.headers, origin if api_route else None)
        return answer

    def _static(self, path: str) -> static_site.StaticFile | None:
        root = self.config.static_root
        return static_site.resolve(root, path) if root is not None else None

    def _with_cors(
        self, headers: list[tuple[str, str]], origin: str | None
    ) -> list[tuple[str, str]]:
        # With CORS configured, API Gateway ignores the integration's CORS headers and sends
        # its own (AWS docs, "Configuring CORS for an HTTP API").
        kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
        return kept + self.config.cors.response_headers(origin)

    def _route(
        self,
        route_key: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        source_ip: str,
        query: str,
    ) -> Answer:
        started = time.monotonic()
        claims: dict[str, Any] | None = None
        if self.config.authorizer is not None:
            try:
                claims = self.config.authorizer.authorize(_first(headers, "authorization"))
            except Denied as denied:
                return _gateway_answer(
                    401,
                    "Unauthorized",
                    f"JWT authorizer: {denied}",
                    ("www-authenticate", denied.www_authenticate),
                )
        request_id = _api_request_id()
        forwarded = [
            ("x-forwarded-for", source_ip),
            ("x-forwarded-port", str(self.port)),
            ("x-forwarded-proto", "http"),
        ]
        method, path = route_key.split(" ", 1)
        event = http_api_event(
            method,
            path,
            [*headers, *forwarded],
            body,
            source_ip=source_ip,
            query=query,
            route_key=route_key,
            jwt_claims=claims,
            request_id=request_id,
        )
        wait_s = INTEGRATION_TIMEOUT_S - (time.monotonic() - started)
        try:
            invocation = self._invoke(event, str(uuid.uuid4()), wait_s)
        except PoolBusy:
            return _gateway_answer(503, "Service Unavailable", "every environment stayed busy")
        except PoolStopped:
            return _gateway_answer(503, "Service Unavailable", "stopping")
        except FunctionError as error:
            return _gateway_answer(
                500, "Internal Server Error", f"function error {error.error_type}"
            )
        except Exception as exc:  # a bug here must still answer, as API Gateway always does
            return _gateway_answer(
                500, "Internal Server Error", f"local error {type(exc).__name__}"
            )
        try:
            status, out_headers, out_body = integration_answer(invocation.response)
        except (TypeError, ValueError):
            return _gateway_answer(500, "Internal Server Error", "malformed function response")
        temperature = f"cold (init {invocation.init_ms:.0f} ms)" if invocation.cold else "warm"
        out_headers += [
            ("apigw-requestid", request_id),
            ("x-local-env-id", str(invocation.env_id)),
            ("x-local-cold-start", "true" if invocation.cold else "false"),
        ]
        served_by = f"env-{invocation.env_id} {temperature} {invocation.duration_ms:.0f} ms"
        return Answer(status, out_headers, out_body, served_by)


def _first(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _api_request_id() -> str:
    # API Gateway's request ids look like "Mc7UVioPPHcEKPA=": 14 characters and "=".
    return base64.b64encode(uuid.uuid4().bytes).decode()[:14] + "="


class _Handler(LocalRequestHandler):
    server: _Server

    def version_string(self) -> str:
        return "ekmint-local-gateway"

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, CONNECT, PROPFIND …) is a route API Gateway does not have:
        # 404 {"message":"Not Found"} rather than http.server's 501 HTML page.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (a bad request line, headers too long) in API Gateway's
        # JSON shape, on a closed connection: the rest of the request was never read.
        self.close_connection = True
        phrase = self.responses.get(code, ("Error",))[0]
        self._send(_gateway_answer(code, phrase, f"unreadable request: {message or phrase}"))

    def _dispatch(self) -> None:
        gateway = self.server.gateway
        started = time.monotonic()
        path = urlsplit(self.path).path
        body = self._read_body()
        if isinstance(body, Answer):
            answer = body
        else:
            headers = list(self.headers.items())
            answer = gateway.handle(self.command, self.path, headers, body, self.client_address[0])
        self._send(answer)
        # Method, path (never the query string), status, who answered: no headers, no bodies,
        # so no token or key can reach the log.
        gateway.log(
            f"{self.command} {path} {answer.status} {answer.served_by}"
            f" ({(time.monotonic() - started) * 1000:.0f} ms total)"
        )

    def _read_body(self) -> bytes | Answer:
        """The body, or API Gateway's answer when it would refuse it unread."""
        too_large = _gateway_answer(413, "Request Entity Too Large", "payload over 10 MB")
        try:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                body = self._read_chunked()
            else:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if 0 < length <= MAX_PAYLOAD_BYTES else b""
                if length > MAX_PAYLOAD_BYTES:
                    body = None
        except ValueError:
            self.close_connection = True
            return _gateway_answer(400, "Bad Request", "unreadable body")
        if body is None:
            self.close_connection = True  # the unread rest would be parsed as a request
            return too_large
        return body

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_PAYLOAD_BYTES:
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(16)

    def _send(self, answer: Answer) -> None:
        self.send_response(answer.status)
        names = {name.lower() for name, _ in answer.headers}
        for name, value in answer.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if "content-type" not in names and answer.body:
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer.body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            with contextlib.suppress(OSError):
                self.wfile.write(answer.body)
