"""X-Ray subsegments, sent to the daemon Lambda runs beside the function, without the X-Ray SDK.

With `Tracing: Active`, Lambda writes the function's own segment and hands each invocation its
trace header in `_X_AMZN_TRACE_ID` (`Root=…;Parent=…;Sampled=1`). A function adds detail by
sending subsegment documents, parented on that segment, as UDP datagrams to the daemon at
AWS_XRAY_DAEMON_ADDRESS: a JSON header line, then the document. That is all this module does.

Why not the X-Ray SDK (through Powertools Tracer): its import and recorder cost ~30 ms of every
cold start (docs/performance.md), it builds objects for every invocation, sampled or not, and
AWS put it in maintenance mode on 2026-02-25 (end of support 2027-02-25). OpenTelemetry, AWS's
recommendation, is a Lambda extension plus far more imports. The document format is small and
documented: docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html.

Unsampled invocations (most of them: Lambda samples the first request each second, then 5%)
build nothing and send nothing. A sampled one sends one datagram when its handler returns,
holding the `## lambda_handler` subsegment and everything nested in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

HEADER = '{"format": "json", "version": 1}\n'
DEFAULT_DAEMON = ("127.0.0.1", 2000)
# One UDP datagram; the daemon takes up to 64 KiB. Larger documents go out child by child.
MAX_DATAGRAM = 63 * 1024
# Exception messages are ours (they never carry secrets) and short; the cap keeps a datagram so.
MAX_MESSAGE = 500
Annotation = str | int | float | bool
Send = Callable[[bytes], None]


@dataclass(frozen=True)
class TraceHeader:
    root: str
    parent: str | None
    sampled: bool


def parse_trace_header(value: str | None) -> TraceHeader | None:
    """`Root=1-…;Parent=…;Sampled=1[;Lineage=…]`, or None where there is no usable root."""
    if not value:
        return None
    parts = dict(part.strip().partition("=")[::2] for part in value.split(";"))
    root = parts.get("Root")
    if not root:
        return None
    return TraceHeader(root, parts.get("Parent") or None, parts.get("Sampled") == "1")


def daemon_address(value: str | None) -> tuple[str, int]:
    """AWS_XRAY_DAEMON_ADDRESS: `host:port`, or `tcp:host:port udp:host:port` (the UDP one)."""
    if not value:
        return DEFAULT_DAEMON
    chosen = value.split()[0]
    for part in value.split():
        if part.startswith("udp:"):
            chosen = part.removeprefix("udp:")
    host, _, port = chosen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"AWS_XRAY_DAEMON_ADDRESS {value!r} is not host:port")
    return host, int(port)


def new_id() -> str:
    return os.urandom(8).hex()


class Subsegment:
    """One timed piece of work. `document()` is its X-Ray JSON form."""

    __slots__ = (
        "annotations",
        "aws",
        "cause",
        "end_time",
        "error",
        "fault",
        "http_status",
        "id",
        "name",
        "namespace",
        "sent",
        "start_time",
        "subsegments",
        "throttle",
    )

    def __init__(self, name: str, start_time: float, namespace: str | None = None) -> None:
        self.name = name
        self.id = new_id()
        self.start_time = start_time
        self.end_time: float | None = None
        self.namespace = namespace
        self.annotations: dict[str, Annotation] = {}
        self.aws: dict[str, Any] | None = None
        self.http_status: int | None = None
        self.cause: dict[str, Any] | None = None
        self.error = self.fault = self.throttle = False
        self.subsegments: list[Subsegment] = []
        # Set once this one has gone to the daemon: a child ending later goes on its own.
        self.sent = False

    def set_http_status(self, status: int) -> None:
        """As X-Ray reads a response: 429 throttled, other 4xx an error, 5xx a fault."""
        self.http_status = status
        if status == 429:
            self.throttle = self.error = True
        elif 400 <= status < 500:
            self.error = True
        elif status >= 500:
            self.fault = True

    def add_exception(self, exc: BaseException) -> None:
        # A caller's mistake (an error with a 4xx status, as ours carry) is an error; the rest,
        # ours or a dependency's, is a fault.
        status = getattr(exc, "status", None)
        if isinstance(status, int) and 400 <= status < 500:
            self.error = True
        else:
            self.fault = True
        self.cause = {
            "exceptions": [
                {"id": new_id(), "type": type(exc).__name__, "message": str(exc)[:MAX_MESSAGE]}
            ]
        }

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "id": self.id,
            "start_time": self.start_time,
            "end_time": self.end_time,
        }
        if self.namespace:
            doc["namespace"] = self.namespace
        if self.annotations:
            doc["annotations"] = dict(self.annotations)
        if self.aws is not None:
            doc["aws"] = self.aws
        if self.http_status is not None:
            doc["http"] = {"response": {"status": self.http_status}}
        for flag in ("error", "fault", "throttle"):
            if getattr(self, flag):
                doc[flag] = True
        if self.cause is not None:
            doc["cause"] = self.cause
        if self.subsegments:
            doc["subsegments"] = [child.document() for child in self.subsegments]
        return doc


@dataclass
class _Invocation:
    header: TraceHeader
    root: Subsegment


def udp_sender(address: tuple[str, int]) -> Send:
    """Fire and forget, as the SDK does: a daemon that is down or slow never slows a mint."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)

    def send(datagram: bytes) -> None:
        # A full buffer or no daemon: the trace is best effort, the mint is not.
        with contextlib.suppress(OSError):
            sock.sendto(datagram, address)

    return send


class Tracer:
    """The function's tracer: one per execution environment, one invocation at a time.

    `invocation()` wraps the handler; `subsegment()` times a piece of work inside it (on any
    thread: one started by the mint, such as the key prefetch, nests under the handler's
    subsegment); `annotate()` adds a searchable annotation to the handler's subsegment.
    """

    def __init__(
        self,
        service: str,
        send: Send,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.service = service
        self._send = send
        self._clock = clock
        self._environ = environ
        self._current: ContextVar[Subsegment | None] = ContextVar("xray_current", default=None)
        self._invocation: _Invocation | None = None

    @property
    def active(self) -> bool:
        """True inside a sampled invocation."""
        return self._invocation is not None

    @contextmanager
    def invocation(self, name: str, cold_start: bool) -> Iterator[None]:
        header = parse_trace_header(self._environ.get("_X_AMZN_TRACE_ID"))
        if header is None or not header.sampled:
            yield
            return
        root = Subsegment(name, self._clock())
        root.annotations.update({"ColdStart": cold_start, "Service": self.service})
        self._invocation = _Invocation(header, root)
        try:
            with self._timing(root):
                yield
        finally:
            self._invocation = None
            self._emit(root, header)

    @contextmanager
    def subsegment(self, name: str, namespace: str | None = None) -> Iterator[Subsegment | None]:
        invocation = self._invocation
        if invocation is None:
            yield None
            return
        parent = self._current.get() or invocation.root
        child = Subsegment(name, self._clock(), namespace)
        try:
            with self._timing(child):
                yield child
        finally:
            if parent.sent:
                # The handler returned while this ran on (a background fetch): on its own.
                self._emit(child, invocation.header, parent_id=parent.id)
            else:
                parent.subsegments.append(child)

    @contextmanager
    def _timing(self, entity: Subsegment) -> Iterator[None]:
        """`entity` is the current subsegment (on this thread) until the block ends; it records
        the block's end time and any exception leaving it."""
        token = self._current.set(entity)
        try:
            yield
        except BaseException as exc:
            entity.add_exception(exc)
            raise
        finally:
            self._current.reset(token)
            entity.end_time = self._clock()

    def annotate(self, key: str, value: Annotation) -> None:
        if self._invocation is not None:
            self._invocation.root.annotations[key] = value

    def _emit(self, entity: Subsegment, header: TraceHeader, parent_id: str | None = None) -> None:
        entity.sent = True
        doc = entity.document()
        doc.update(
            type="subsegment", trace_id=header.root, parent_id=parent_id or header.parent or ""
        )
        datagram = (HEADER + json.dumps(doc, separators=(",", ":"), default=str)).encode()
        if len(datagram) <= MAX_DATAGRAM or not entity.subsegments:
            self._send(datagram)
            return
        # Too big for one datagram: the children first, each on its own, then this one alone.
        children, entity.subsegments = entity.subsegments, []
        for child in children:
            self._emit(child, header, parent_id=entity.id)
        self._emit(entity, header, parent_id)
