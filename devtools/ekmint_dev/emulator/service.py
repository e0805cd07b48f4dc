"""The public API: `Emulator`, serving one dialect on 127.0.0.1 with a scriptable fault queue."""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .admin import ADMIN_PREFIX
from .client_secrets import MintedKey
from .contract import DEFAULT_MODEL
from .dialect import DIALECTS, DialectName
from .faults import FaultSpec, parse_faults
from .peer import peer_mount, start_peer
from .server import HANG_POLL_S, _Server
from .state import EmulatorState

if TYPE_CHECKING:
    from ..realtime_peer import RealtimePeer


logger = logging.getLogger(__name__)

STOP_JOIN_TIMEOUT_S = 1.0


class Emulator:
    """OpenAI's client_secrets endpoint on 127.0.0.1, with a scriptable fault queue.

    The port is bound on construction (so `url` is known at once); `start()` serves it
    from a daemon thread and `stop()` (or leaving the `with` block) closes it.
    `dialect="azure"` serves an Azure OpenAI resource instead (dialect.py): `url` is then
    ``http://127.0.0.1:<port>/openai/v1``, keys go in `api-key`, and `session.model` must be
    one of `deployments`.
    """

    def __init__(
        self,
        api_keys: Sequence[str],
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: tuple[float, float] = (0, 0),
        realtime: bool = True,
        *,
        dialect: DialectName = "openai",
        deployments: Sequence[str] = (DEFAULT_MODEL,),
        browser_origins: Sequence[str] = (),
    ) -> None:
        """`browser_origins`: the pages that may post WebRTC offers (the stack's own)."""
        _require_loopback(host)
        self._realtime = realtime
        self.dialect = DIALECTS[dialect]
        self._initial_api_keys = tuple(api_keys)
        self._initial_latency_ms = latency_ms
        self._state = EmulatorState(api_keys, latency_ms, self.dialect, deployments)
        self._server = _Server((host, port), self._state, browser_origins)
        self._peer: RealtimePeer | None = None
        bound_port = self._server.server_port
        self.url = f"http://{host}:{bound_port}{self.dialect.prefix}"
        # Where a page POSTs its SDP offer (the WebRTC peer), as the function's webrtc_url.
        self.calls_url = f"http://{host}:{bound_port}{self.dialect.calls_path}"
        self.admin_url = f"http://{host}:{bound_port}{ADMIN_PREFIX}"
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> Emulator:
        if self._thread is not None or self._stopped:
            raise RuntimeError("an Emulator can be started once")
        if self._realtime:
            self._peer = start_peer(self._state, self.dialect)
            self._server.mounts.append(peer_mount(self._peer))
            self._server.peer = self._peer
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": HANG_POLL_S},
            name=f"ekmint-emulator-{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop promptly: interrupts hangs, closes kept-alive connections, frees the port."""
        if self._stopped:
            return
        self._stopped = True
        self._state.stopping.set()
        if self._thread is not None:
            self._server.shutdown()  # only valid once serve_forever runs: it waits for it
            self._thread.join(STOP_JOIN_TIMEOUT_S)
        self._server.close_connections()
        self._server.server_close()
        if self._peer is not None:
            self._peer.stop()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def set_faults(self, faults: Sequence[FaultSpec]) -> None:
        """Replace the fault queue; raises pydantic.ValidationError for a bad spec."""
        self._state.faults.replace(parse_faults(faults))

    def add_faults(self, faults: Sequence[FaultSpec]) -> None:
        self._state.faults.add(parse_faults(faults))

    def clear_faults(self) -> None:
        self._state.faults.clear()

    @property
    def faults(self) -> list[dict[str, Any]]:
        return self._state.faults.snapshot()

    def set_api_keys(self, keys: Sequence[str]) -> None:
        self._state.set_api_keys(keys)

    def set_latency(self, min_ms: float, max_ms: float) -> None:
        self._state.set_latency((min_ms, max_ms))

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self._state.log.snapshot()

    def clear_requests(self) -> None:
        self._state.log.clear()

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far: shows whether a client kept its connection."""
        return self._server.connections_accepted

    def lookup(self, value: str) -> MintedKey | None:
        return self._state.lookup(value)

    @property
    def realtime(self) -> RealtimePeer | None:
        """The WebRTC peer (faults, call log) once started; None with realtime=False."""
        return self._peer

    def reset(self) -> None:
        """Back to the constructor's keys and latency, with no faults and an empty log."""
        self._state.faults.clear()
        self._state.log.clear()
        self._state.set_api_keys(self._initial_api_keys)
        self._state.set_latency(self._initial_latency_ms)
        if self._peer is not None:
            self._peer.reset()


def _require_loopback(host: str) -> None:
    # The emulator accepts any request from anyone who can reach it: keep it on loopback.
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or address.version != 4 or not address.is_loopback:
        raise ValueError(f"the emulator binds IPv4 loopback only (127.0.0.0/8), not {host!r}")
