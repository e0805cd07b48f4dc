"""The HTTP client both of the function's pools present: POST and GET over a kept-alive pool,
the answer read in full.

It is the part of httpx.Client the function used, on httpcore (httpx's own connection layer, by
the same maintainers) without httpx on top. httpx's client stack imports urllib.request,
http.client, email and http.cookiejar for digest auth and cookies the function never uses
(~15-20 ms of every cold start, docs/performance.md), and merges base URL, default headers and
cookies into every request. The transport underneath (connection.PreparedTransport, or a test's
fake) turns httpcore's exceptions into `TransportError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class TransportError(Exception):
    """No usable answer: the connection failed or broke, or the server broke HTTP. `kind` is
    httpcore's name for what happened (ConnectError, ReadTimeout, RemoteProtocolError...), which
    logs and audit records keep."""

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(message or kind)
        self.kind = kind


class TimedOut(TransportError):
    """A connect, write, read or pool timeout."""


@dataclass(frozen=True)
class Limits:
    max_connections: int
    max_keepalive_connections: int
    keepalive_expiry: float


@dataclass(frozen=True)
class Timeouts:
    """Seconds. Writing a small request and waiting for a free connection share `read`."""

    connect: float
    read: float

    def extension(self) -> dict[str, float]:
        """httpcore's per-request `timeout` extension."""
        return {"connect": self.connect, "read": self.read, "write": self.read, "pool": self.read}


class Answer:
    """A response, read in full. Header names are lower-case."""

    __slots__ = ("content", "headers", "reason_phrase", "status_code")

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str] | None = None,
        content: bytes = b"",
        reason_phrase: str = "",
    ) -> None:
        self.status_code = status_code
        self.headers = {name.lower(): value for name, value in (headers or {}).items()}
        self.content = content
        self.reason_phrase = reason_phrase

    def json(self) -> Any:
        """The body as JSON; ValueError if it is not."""
        return json.loads(self.content)


class Transport(Protocol):
    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes,
        timeouts: Timeouts,
    ) -> Answer: ...


class HttpClient:
    """A transport, the base URL paths are joined to, and the timeouts a request gets unless it
    says otherwise. A request carries exactly the headers it is given, plus Host and
    Content-Length."""

    def __init__(self, transport: Transport, timeouts: Timeouts, base_url: str = "") -> None:
        self.transport = transport
        self.timeouts = timeouts
        # As httpx joins a path to its base URL: appended, whatever the slashes.
        self.base_url = base_url.rstrip("/")

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def post(
        self,
        url: str,
        *,
        content: bytes,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
    ) -> Answer:
        return self.transport.request(
            "POST", url, headers or {}, content, timeouts or self.timeouts
        )

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
    ) -> Answer:
        return self.transport.request("GET", url, headers or {}, b"", timeouts or self.timeouts)
