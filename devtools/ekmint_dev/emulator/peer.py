"""WebRTC peer glue: mounts `realtime_peer.RealtimePeer` on the emulator's HTTP server.

The peer answers SDP offers at the dialect's calls path (OpenAI's `/v1/realtime/calls`, Azure's
`/openai/v1/realtime/calls`) for keys the emulator minted, and its admin routes under
`/_emulator/realtime/`. aiortc takes a few hundred ms to import, so it is imported on start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .dialect import Headers
from .replies import Reply
from .server import Mount

if TYPE_CHECKING:
    from ..realtime_peer import RealtimePeer
    from .dialect import Dialect
    from .state import EmulatorState


def start_peer(state: EmulatorState, dialect: Dialect) -> RealtimePeer:
    from ..realtime_peer import RealtimePeer  # slow import, only when used

    return RealtimePeer(state.lookup, calls_path=dialect.calls_path).start()


def peer_mount(peer: RealtimePeer) -> Mount:
    def answer(method: str, target: str, headers: Headers, raw: bytes) -> Reply | None:
        reply = peer.handle_http(method, target, headers, raw)
        if reply is None:
            return None
        return Reply(reply.status, reply.body, reply.headers, reply.content_type)

    return answer
