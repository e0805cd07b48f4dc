"""The kept-alive connections to OpenAI and AWS, prepared off the request path.

Building a TLS context loads a CA bundle (tens of ms of C that releases the GIL), and a first
request opens its connection (TCP and TLS handshakes, one or two round trips). Both are moved off
the request path here:

- `PreparedTransport` is an httpcore connection pool (what httpx's HTTPTransport wraps) built in
  a background thread, with the TLS context httpx would build (`shared_ssl_context`: certifi, or
  SSL_CERT_FILE/SSL_CERT_DIR; loaded once and shared by the OpenAI and AWS pools); a request
  waits for it only if it arrives first.
- `SpareConnections`, the pool's network backend, can open one connection ahead of time
  (`prepare()`: at cold start, after a SnapStart restore, or when a mint starts with no idle
  connection) and hands it to the pool's next connect. A spare that has gone stale (idle longer
  than the pool's keep-alive expiry, or closed by the server) is dropped and a new one opened.

Nothing here sends an HTTP request: a prepared connection is only TCP (and TLS) handshakes, so
a refused mint still never reaches OpenAI.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpcore

from .http_client import Answer, HttpClient, Limits, TimedOut, Timeouts, TransportError

# (host, port, tls), as the pool connects to it.
Origin = tuple[str, int, bool]
# A spare older than this is not trusted (OpenAI's side may have dropped it).
DEFAULT_SPARE_MAX_AGE_S = 60.0


class _Spare(httpcore.NetworkStream):
    """A connection opened ahead of time; TLS (if any) already done."""

    def __init__(self, stream: httpcore.NetworkStream, tls: bool) -> None:
        self._stream = stream
        self._tls = tls
        self.opened_at = time.monotonic()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        if self._tls:
            return self
        return self._stream.start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)

    def usable(self, max_age_s: float) -> bool:
        # Readable while idle means the server closed it (or sent something unasked).
        fresh = time.monotonic() - self.opened_at < max_age_s
        return fresh and not self._stream.get_extra_info("is_readable")


class SpareConnections(httpcore.NetworkBackend):
    """httpcore's sync backend, plus at most one connection per origin opened in advance."""

    def __init__(self, max_age_s: float = DEFAULT_SPARE_MAX_AGE_S) -> None:
        self._inner = httpcore.SyncBackend()
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._spares: dict[tuple[str, int], _Spare] = {}
        self._opening: dict[tuple[str, int], threading.Event] = {}

    def reserve(self, host: str, port: int) -> threading.Event | None:
        """Mark a spare for host:port as on its way (so that a connect waits for it rather than
        racing it); None if a usable one is already there or on its way."""
        key = (host, port)
        with self._lock:
            spare = self._spares.get(key)
            if key in self._opening or (spare is not None and spare.usable(self._max_age_s)):
                return None
            done = self._opening[key] = threading.Event()
            return done

    def open_ahead(
        self,
        origins: Iterable[Origin],
        timeout: float,
        needed: Callable[[Origin], bool] = lambda _: True,
    ) -> None:
        """Open a spare to each origin (host, port, tls) in a background thread of its own, so
        one that does not answer holds up no other. Reserved here, on the caller's thread: a
        request right behind us waits for that connection instead of opening a second one.
        `needed` is asked again in the thread, just before connecting."""
        for origin in dict.fromkeys(origins):
            reservation = self.reserve(origin[0], origin[1])
            if reservation is not None:
                threading.Thread(
                    target=self._open_reserved,
                    args=(origin, reservation, timeout, needed),
                    name="ekmint-preconnect",
                    daemon=True,
                ).start()

    def _open_reserved(
        self,
        origin: Origin,
        reservation: threading.Event,
        timeout: float,
        needed: Callable[[Origin], bool],
    ) -> None:
        host, port, tls = origin
        if not needed(origin):
            self.cancel(host, port, reservation)
            return
        context = shared_ssl_context() if tls else None
        self.open_spare(host, port, context, timeout, reservation=reservation)

    def cancel(self, host: str, port: int, reservation: threading.Event) -> None:
        with self._lock:
            if self._opening.get((host, port)) is reservation:
                del self._opening[(host, port)]
        reservation.set()

    def open_spare(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        timeout: float,
        reservation: threading.Event | None = None,
    ) -> bool:
        """Open (and TLS-wrap when `ssl_context` is given) one connection to host:port, unless a
        usable one is already there or on its way. False if it could not be opened."""
        key = (host, port)
        done = reservation or self.reserve(host, port)
        if done is None:
            return True
        opened: _Spare | None = None
        try:
            stream = self._inner.connect_tcp(host, port, timeout=timeout)
            if ssl_context is not None:
                # What httpcore sets before its own start_tls (HTTP/1.1 only, as configured).
                ssl_context.set_alpn_protocols(["http/1.1"])
                stream = stream.start_tls(ssl_context, server_hostname=host, timeout=timeout)
            opened = _Spare(stream, tls=ssl_context is not None)
        except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError):
            opened = None
        finally:
            with self._lock:
                stale = self._spares.pop(key, None)
                if opened is not None:
                    self._spares[key] = opened
                if self._opening.get(key) is done:
                    del self._opening[key]
            done.set()
            if stale is not None:
                stale.close()
        return opened is not None

    def _take(self, key: tuple[str, int], timeout: float | None) -> _Spare | None:
        with self._lock:
            opening = self._opening.get(key)
        if opening is not None:
            # Its handshakes started earlier than ours would: wait for it rather than race it.
            opening.wait(timeout)
        with self._lock:
            spare = self._spares.pop(key, None)
        if spare is None:
            return None
        if spare.usable(self._max_age_s):
            return spare
        spare.close()
        return None

    def drop_spares(self) -> None:
        """Close every spare, after waiting for any being opened."""
        with self._lock:
            opening = list(self._opening.values())
        for event in opening:
            event.wait()
        with self._lock:
            spares, self._spares = list(self._spares.values()), {}
        for spare in spares:
            spare.close()

    # ------------------------------------------------ httpcore.NetworkBackend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        spare = self._take((host, port), timeout)
        if spare is not None:
            return spare
        return self._inner.connect_tcp(host, port, timeout, local_address, socket_options)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:  # pragma: no cover - never configured
        return self._inner.connect_unix_socket(path, timeout, socket_options)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


_ssl_lock = threading.Lock()
_ssl_contexts: list[ssl.SSLContext] = []


def create_ssl_context(environ: Mapping[str, str] = os.environ) -> ssl.SSLContext:
    """What `httpx.create_ssl_context()` builds: SSL_CERT_FILE's or SSL_CERT_DIR's CAs when set,
    else certifi's bundle."""
    if environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=environ["SSL_CERT_FILE"])
    if environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=environ["SSL_CERT_DIR"])
    return ssl.create_default_context(cafile=certifi.where())


def shared_ssl_context() -> ssl.SSLContext:
    """The TLS context, built once per process: loading the CA bundle is the costly part, and
    every pool can share it."""
    with _ssl_lock:
        if not _ssl_contexts:
            _ssl_contexts.append(create_ssl_context())
        return _ssl_contexts[0]


def origin_of(url: str) -> Origin:
    """(host, port, tls) of a URL, as the pool connects to it."""
    parsed = urlsplit(url)
    tls = parsed.scheme == "https"
    return parsed.hostname or "", parsed.port or (443 if tls else 80), tls


class PreparedTransport:
    """An httpcore connection pool built off the caller's thread (with the shared TLS context)
    on a `SpareConnections` backend that can open a connection to each of `urls` ahead of time.
    Requests may go to any URL."""

    def __init__(
        self,
        urls: Sequence[str],
        limits: Limits,
        connect_timeout_s: float,
        spares: SpareConnections | None = None,
    ) -> None:
        # Built in the background: a process's first SSLContext initialises OpenSSL (~35 ms)
        # and the CA bundle takes tens of ms more.
        self._origins = [origin_of(url) for url in urls]
        self._limits = limits
        self._connect_timeout_s = connect_timeout_s
        # Shared with warm_start.py, which opens the first connections before the pool exists.
        self.spares = spares or SpareConnections(limits.keepalive_expiry or DEFAULT_SPARE_MAX_AGE_S)
        self._ssl_context: ssl.SSLContext | None = None
        self._ready = threading.Event()
        self._build_lock = threading.Lock()
        threading.Thread(target=self._build, name="ekmint-pool", daemon=True).start()

    def _build(self) -> None:
        with self._build_lock:
            if self._ready.is_set():
                return
            self._ssl_context = shared_ssl_context()
            self._pool = httpcore.ConnectionPool(
                ssl_context=self._ssl_context,
                max_connections=self._limits.max_connections,
                max_keepalive_connections=self._limits.max_keepalive_connections,
                keepalive_expiry=self._limits.keepalive_expiry,
                network_backend=self.spares,
            )
            self._ready.set()

    def wait_ready(self) -> None:
        if not self._ready.is_set():
            # Normally the background thread is done long before; if it died, build here.
            self._build()

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes,
        timeouts: Timeouts,
    ) -> Answer:
        """One request, its answer read in full; TransportError (TimedOut for timeouts) when
        there is no usable answer."""
        self.wait_ready()
        try:
            response = self._pool.request(
                method,
                url,
                headers=list(headers.items()),
                content=content,
                extensions={"timeout": timeouts.extension()},
            )
        except httpcore.TimeoutException as exc:
            raise TimedOut(type(exc).__name__, str(exc)) from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise TransportError(type(exc).__name__, str(exc)) from None
        reason = response.extensions.get("reason_phrase", b"")
        return Answer(
            response.status,
            {name.decode("latin-1"): value.decode("latin-1") for name, value in response.headers},
            response.content,
            reason.decode("latin-1") if isinstance(reason, bytes) else "",
        )

    def idle_connections(self, origin: Origin | None = None) -> int:
        """Idle pooled connections (to `origin`, host/port/tls, when given)."""
        if not self._ready.is_set():
            return 0
        pool = self._pool
        wanted = None
        if origin is not None:
            host, port, tls = origin
            wanted = httpcore.Origin(b"https" if tls else b"http", host.encode(), port)
        return sum(
            1
            for c in pool.connections
            if c.is_idle() and c.is_available() and (wanted is None or c.can_handle_request(wanted))
        )

    def prepare(self) -> bool:
        """Open a spare connection to each origin with no idle connection and none on its way;
        False if one could not be opened. Blocking; `prepare_in_background` does the same in
        background threads."""
        opened = True
        for origin in self._origins:
            if self._needs_connection(origin):
                host, port, tls = origin
                context = self._ssl_context if tls else None
                opened &= self.spares.open_spare(host, port, context, self._connect_timeout_s)
        return opened

    def prepare_in_background(self) -> None:
        if self._ready.is_set():
            missing = [o for o in self._origins if not self.idle_connections(o)]
        else:
            missing = self._origins
        self.spares.open_ahead(missing, self._connect_timeout_s, needed=self._needs_connection)

    def _needs_connection(self, origin: Origin) -> bool:
        self.wait_ready()
        return not self.idle_connections(origin)

    def reset(self) -> None:
        """Close every connection (pooled and spare), keeping the transport usable: for a
        SnapStart snapshot, whose connections would be dead after restore."""
        self.wait_ready()
        self.spares.drop_spares()
        self._pool.close()


def prepared_client(
    urls: Sequence[str],
    limits: Limits,
    timeouts: Timeouts,
    base_url: str = "",
    spares: SpareConnections | None = None,
) -> HttpClient:
    """An HttpClient on a PreparedTransport for `urls` (connections to them can be opened
    ahead); its requests may still go anywhere."""
    transport = PreparedTransport(urls, limits, timeouts.connect, spares)
    return HttpClient(transport, timeouts, base_url)


def transport_of(client: HttpClient) -> PreparedTransport | None:
    """The client's PreparedTransport, if it was built with one (tests may pass another)."""
    transport = client.transport
    return transport if isinstance(transport, PreparedTransport) else None
