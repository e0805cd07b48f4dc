"""The emulator's WebRTC peer on its own, with aiortc as the client in place of a browser:
what it refuses, what it says on the events channel, the tone, and its fault script."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from array import array
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from browser_fixtures import in_ci

try:
    import aiortc  # noqa: F401
except ImportError as missing:
    # As the browser tests do (browser_fixtures.unavailable): a developer's machine without
    # aiortc skips loudly, but a green CI run must have run these.
    reason = f"aiortc does not import ({missing}); it is a dev dependency (pip install -e '.[dev]')"
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(f"WEBRTC PEER TESTS NOT RUN: {reason}", allow_module_level=True)
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack

from ekmint_dev.emulator import Emulator
from ekmint_dev.realtime_peer import (
    CALLS_PATH,
    PeerReply,
    RealtimePeer,
    key_fingerprint,
    local_page_config,
)

MINTED_SESSION = {
    "type": "realtime",
    "object": "realtime.session",
    "id": "sess_test",
    "model": "gpt-realtime",
    "instructions": "Be brief.",
    "audio": {"output": {"voice": "coral", "speed": 1.0}},
}


@dataclass(frozen=True)
class Minted:
    value: str
    expires_at: int
    session: dict[str, Any]


@dataclass
class Keys:
    known: dict[str, Minted] = field(default_factory=dict)

    def mint(self, ttl_s: int = 300) -> str:
        value = f"ek_test{len(self.known):04d}abcdefghijklmnopqrstuv"
        self.known[value] = Minted(value, int(time.time()) + ttl_s, MINTED_SESSION)
        return value

    def lookup(self, value: str) -> Minted | None:
        return self.known.get(value)


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def peer(keys: Keys) -> Iterator[RealtimePeer]:
    with RealtimePeer(keys.lookup) as running:
        yield running


class Headers(dict[str, str]):
    def get(self, name: str, default: Any = None) -> Any:  # case-insensitive, like http.server's
        return super().get(name.lower(), default)


def post_offer(peer: RealtimePeer, body: bytes, bearer: str | None) -> PeerReply:
    headers = Headers({"content-type": "application/sdp"})
    if bearer is not None:
        headers["authorization"] = f"Bearer {bearer}"
    reply = peer.handle_http("POST", CALLS_PATH, headers, body)
    assert reply is not None
    return reply


@dataclass
class Client:
    """What the SDK does: a data channel named oai-events, a microphone track, an offer."""

    pc: RTCPeerConnection
    channel: RTCDataChannel
    events: asyncio.Queue[dict[str, Any]]
    tracks: list[MediaStreamTrack]
    reply: PeerReply | None = None

    async def next_event(self, timeout_s: float = 5.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout_s)

    async def close(self) -> None:
        await self.pc.close()


async def call(peer: RealtimePeer, bearer: str) -> Client:
    pc = RTCPeerConnection()
    channel = pc.createDataChannel("oai-events")
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    tracks: list[MediaStreamTrack] = []
    channel.on("message", lambda message: events.put_nowait(json.loads(message)))
    pc.on("track", tracks.append)
    pc.addTrack(AudioStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    client = Client(pc, channel, events, tracks)
    client.reply = await asyncio.to_thread(
        post_offer, peer, pc.localDescription.sdp.encode(), bearer
    )
    if client.reply.status == 201:
        answer = RTCSessionDescription(sdp=client.reply.body.decode(), type="answer")
        await pc.setRemoteDescription(answer)
    return client


T = TypeVar("T")


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a thread of its own: Playwright's sync API, when another test module
    has it open, keeps an event loop running on the main thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, scenario).result()


def offer_sdp() -> bytes:
    async def make() -> bytes:
        pc = RTCPeerConnection()
        pc.createDataChannel("oai-events")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp.encode()
        await pc.close()
        return sdp

    return run(make())


# -- refusals ------------------------------------------------------------------------------


def test_refuses_an_offer_without_a_bearer(peer: RealtimePeer) -> None:
    reply = post_offer(peer, offer_sdp(), None)
    assert reply.status == 401
    assert json.loads(reply.body)["error"]["code"] == "missing_api_key"


def test_refuses_a_key_it_did_not_mint(peer: RealtimePeer) -> None:
    reply = post_offer(peer, offer_sdp(), "ek_never_minted_by_this_emulator")
    assert reply.status == 401
    assert peer.calls[-1]["reason"] == "unknown key"


def test_refuses_an_expired_key(peer: RealtimePeer, keys: Keys) -> None:
    reply = post_offer(peer, offer_sdp(), keys.mint(ttl_s=-1))
    assert reply.status == 401
    assert "expired" in json.loads(reply.body)["error"]["message"]


def test_refuses_what_is_not_an_sdp_offer(peer: RealtimePeer, keys: Keys) -> None:
    assert post_offer(peer, b'{"sdp": "v=0"}', keys.mint()).status == 400
    headers = Headers({"content-type": "application/json", "authorization": "Bearer x"})
    reply = peer.handle_http("POST", CALLS_PATH, headers, offer_sdp())
    assert reply is not None and reply.status == 400


def test_answers_the_cors_preflight_of_a_page_on_another_origin(peer: RealtimePeer) -> None:
    reply = peer.handle_http("OPTIONS", CALLS_PATH, Headers(), b"")
    assert reply is not None and reply.status == 204
    headers = dict(reply.headers)
    assert headers["access-control-allow-origin"] == "*"
    assert "Authorization" in headers["access-control-allow-headers"]
    assert "X-OpenAI-Agents-SDK" in headers["access-control-allow-headers"]


def test_leaves_other_paths_to_the_emulator(peer: RealtimePeer) -> None:
    assert peer.handle_http("POST", "/v1/realtime/client_secrets", Headers(), b"{}") is None


def test_never_logs_the_key(peer: RealtimePeer, keys: Keys) -> None:
    value = keys.mint()
    post_offer(peer, b"not sdp", value)
    post_offer(peer, offer_sdp(), "ek_unknown_value_0000000000")
    assert value not in json.dumps(peer.calls)
    assert "ek_unknown" not in json.dumps(peer.calls)


# -- a call --------------------------------------------------------------------------------


def test_a_call_gets_the_minted_session_and_answers_session_update(
    peer: RealtimePeer, keys: Keys
) -> None:
    async def scenario() -> None:
        client = await call(peer, keys.mint())
        assert client.reply is not None and client.reply.status == 201
        assert dict(client.reply.headers)["location"].startswith(f"{CALLS_PATH}/rtc_")
        created = await client.next_event()
        assert created["type"] == "session.created"
        assert created["session"] == MINTED_SESSION
        client.channel.send(
            json.dumps({"type": "session.update", "session": {"audio": {"output": {"speed": 1.2}}}})
        )
        updated = await client.next_event()
        assert updated["type"] == "session.updated"
        assert updated["session"]["audio"]["output"] == {"voice": "coral", "speed": 1.2}
        assert updated["session"]["instructions"] == "Be brief."
        await client.close()

    run(scenario())


def test_the_peer_plays_a_tone(peer: RealtimePeer, keys: Keys) -> None:
    async def scenario() -> int:
        client = await call(peer, keys.mint())
        await client.next_event()  # session.created: the media is flowing by now
        deadline = time.monotonic() + 5
        while not client.tracks and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        loudest = 0
        for _ in range(10):  # 200 ms of the 600 ms tone
            frame = await asyncio.wait_for(client.tracks[0].recv(), 5)
            samples = array("h", bytes(frame.planes[0]))  # s16, as aiortc decodes Opus
            loudest = max(loudest, *(abs(sample) for sample in samples))
        await client.close()
        return loudest

    assert run(scenario()) > 1000


def test_answers_with_loopback_candidates_only(peer: RealtimePeer, keys: Keys) -> None:
    async def scenario() -> str:
        client = await call(peer, keys.mint())
        assert client.reply is not None
        await client.close()
        return client.reply.body.decode()

    candidates = [line for line in run(scenario()).splitlines() if "candidate:" in line]
    assert candidates and all(" 127.0.0.1 " in line for line in candidates), candidates


# -- faults --------------------------------------------------------------------------------


def test_refuse_fault_answers_the_status_then_the_next_offer_connects(
    peer: RealtimePeer, keys: Keys
) -> None:
    peer.set_faults([{"kind": "refuse", "status": 503}])

    async def scenario() -> tuple[int, int]:
        first = await call(peer, keys.mint())
        second = await call(peer, keys.mint())
        await first.close()
        await second.close()
        assert first.reply is not None and second.reply is not None
        return first.reply.status, second.reply.status

    assert run(scenario()) == (503, 201)


def test_drop_fault_closes_the_call_after_the_given_seconds(peer: RealtimePeer, keys: Keys) -> None:
    peer.set_faults([{"kind": "drop", "after_s": 0.3}])

    async def scenario() -> None:
        client = await call(peer, keys.mint())
        closed = asyncio.Event()
        client.channel.on("close", closed.set)
        await client.next_event()
        await asyncio.wait_for(closed.wait(), 5)
        await client.close()

    run(scenario())
    connected = next(c for c in peer.calls if c["event"] == "connected")
    dropped = next(c for c in peer.calls if c["event"] == "dropped")
    assert 0.3 <= dropped["at"] - connected["at"] < 1.0


def test_expire_key_fault_refuses_that_key_from_then_on(peer: RealtimePeer, keys: Keys) -> None:
    value = keys.mint()
    peer.set_faults([{"kind": "expire_key"}])
    assert post_offer(peer, offer_sdp(), value).status == 401
    assert post_offer(peer, offer_sdp(), value).status == 401
    assert [c["reason"] if "reason" in c else c["fault"] for c in peer.calls] == [
        "expire_key",
        "expired key",
    ]
    assert peer.calls[0]["key"] == key_fingerprint(value)


def test_a_sticky_fault_stays_and_bad_specs_are_refused(peer: RealtimePeer) -> None:
    peer.set_faults([{"kind": "refuse", "sticky": True}])
    assert peer.faults == [
        {
            "kind": "refuse",
            "repeat": 1,
            "sticky": True,
            "status": 500,
            "message": peer.faults[0]["message"],
        }
    ]
    reply = peer.handle_http(
        "PUT", "/_emulator/realtime/faults", Headers(), b'{"faults": [{"kind": "explode"}]}'
    )
    assert reply is not None and reply.status == 400


def test_reset_clears_faults_expiry_and_the_log(peer: RealtimePeer, keys: Keys) -> None:
    value = keys.mint()
    peer.set_faults([{"kind": "expire_key"}, {"kind": "refuse", "sticky": True}])
    post_offer(peer, offer_sdp(), value)
    reply = peer.handle_http("POST", "/_emulator/realtime/reset", Headers(), b"")
    assert reply is not None and reply.status == 200
    assert peer.faults == [] and peer.calls == []

    async def scenario() -> int:
        client = await call(peer, value)
        await client.close()
        assert client.reply is not None
        return client.reply.status

    assert run(scenario()) == 201


# -- its own server, and the page's local config ---------------------------------------------


def test_the_emulator_serves_the_peers_calls_and_admin_routes() -> None:
    with Emulator(api_keys=["sk-local.peer.test.0001"]) as emulator:
        request = urllib.request.Request(
            f"{emulator.url}/realtime/calls", data=b"v=0\r\n", method="POST"
        )
        request.add_header("content-type", "application/sdp")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
        with urllib.request.urlopen(f"{emulator.admin_url}/realtime/calls", timeout=5) as answer:
            assert json.load(answer)[0]["reason"] == "no bearer"


def test_local_page_config_points_the_page_at_the_emulator_or_at_openai() -> None:
    assert local_page_config("http://127.0.0.1:8089/v1") == {
        "realtime_url": "http://127.0.0.1:8089/v1/realtime/calls"
    }
    assert local_page_config(None) == {"realtime_url": None}
