"""OpenAI's Realtime WebRTC peer, played locally with aiortc, for the emulator and the local stack.

Development only: the shipped `ekmint` package never imports it. The browser SDK
(`@openai/agents-realtime`, `OpenAIRealtimeWebRTC.connect` in
`dist/openaiRealtimeWebRtc.mjs`) does this, and the peer answers as OpenAI does:

1. ``POST {base}/realtime/calls`` with the SDP offer as the body,
   ``Content-Type: application/sdp``, ``Authorization: Bearer ek_…`` and
   ``X-OpenAI-Agents-SDK``; it reads the answer SDP from a 2xx body and the call id from
   ``Location``. From another origin the browser first sends a CORS preflight.
2. It opens the ``oai-events`` data channel, sends ``session.update`` and waits for
   ``session.updated`` before `connect()` resolves.

The peer accepts only a live ``ek_`` value that the emulator minted (``lookup``), sends
``session.created`` with the minted session (model, voice, instructions), answers every
``session.update`` with the merged session, and plays a short tone on its audio track.
A FIFO fault script, like the emulator's, can refuse offers, drop a call after N seconds,
or expire keys early; the call log shows every offer, drop and reconnect.

Mounting: `RealtimePeer.handle_http` answers its `calls_path` (OpenAI's ``/v1/realtime/calls``,
or Azure's ``/openai/v1/realtime/calls``) and the admin routes under ``/_emulator/realtime/``;
the emulator mounts it (emulator/peer.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import hashlib
import json
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import urlsplit

import aioice.ice
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AUDIO_PTIME, AudioStreamTrack, MediaStreamError
from av import AudioFrame
from av.frame import Frame
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

# A child of the emulator's logger: wherever the emulator's lines are shown, these are too.
logger = logging.getLogger("ekmint_dev.emulator.realtime")

CALLS_PATH = "/v1/realtime/calls"
ADMIN_PREFIX = "/_emulator/realtime"
# Where the local gateway tells the demo page which calls URL to use (see `local_page_config`).
LOCAL_CONFIG_PATH = "/_ekmint/local-config.json"
EVENTS_CHANNEL = "oai-events"
# An SDP offer from Chrome is a few KiB; anything near this is not an offer.
MAX_SDP_BYTES = 64 * 1024
# How long one offer may take to answer (aiortc gathers loopback candidates in milliseconds).
ANSWER_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
# The tone: short enough not to annoy, long enough to hear that audio flows.
TONE_HZ = 440.0
TONE_S = 0.6
TONE_AMPLITUDE = 0.3
SAMPLE_RATE_HZ = 48_000
LOOPBACK_HOST = "127.0.0.1"


class MintedSecret(Protocol):
    """What the emulator remembers of a key it minted (`ekmint_dev.emulator.MintedKey`)."""

    @property
    def value(self) -> str: ...

    @property
    def expires_at(self) -> int: ...

    @property
    def session(self) -> dict[str, Any]: ...


Lookup = Callable[[str], MintedSecret | None]


class Headers(Protocol):
    """Case-insensitive request headers, such as http.server's `self.headers`."""

    def get(self, name: str, /) -> str | None: ...


# --------------------------------------------------------------------------------------
# Faults: each offer takes the next one, as the emulator's client_secrets faults do.
# --------------------------------------------------------------------------------------


class _PeerFaultBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    repeat: int = Field(default=1, ge=1)
    sticky: bool = False  # served to every offer, never consumed, until the script is cleared

    @model_validator(mode="after")
    def _sticky_or_repeated(self) -> _PeerFaultBase:
        if self.sticky and self.repeat != 1:
            raise ValueError("a fault is either sticky or repeated, not both")
        return self


class RefuseFault(_PeerFaultBase):
    """Answer the offer with an error instead of SDP (default: OpenAI's 500 body)."""

    kind: Literal["refuse"] = "refuse"
    status: int = Field(default=500, ge=400, le=599)
    message: str = "The server had an error while processing your request. Sorry about that!"


class DropFault(_PeerFaultBase):
    """Accept the call, then close it `after_s` seconds after the data channel opens."""

    kind: Literal["drop"] = "drop"
    after_s: float = Field(gt=0, le=3600)


class ExpireKeyFault(_PeerFaultBase):
    """Treat the offer's key as expired now (and for every later offer that uses it)."""

    kind: Literal["expire_key"] = "expire_key"


PeerFault = Annotated[RefuseFault | DropFault | ExpireKeyFault, Field(discriminator="kind")]
_FAULTS = TypeAdapter(list[PeerFault])


def parse_faults(specs: Iterable[Mapping[str, Any] | _PeerFaultBase]) -> list[PeerFault]:
    """Validate fault specs (dicts or fault models); raises pydantic.ValidationError."""
    return _FAULTS.validate_python(
        [spec.model_dump() if isinstance(spec, _PeerFaultBase) else dict(spec) for spec in specs]
    )


@dataclass
class _Queued:
    fault: PeerFault
    remaining: int


class _FaultScript:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[_Queued] = deque()

    def replace(self, faults: Iterable[PeerFault]) -> None:
        with self._lock:
            self._queue = deque(_Queued(f, f.repeat) for f in faults)

    def add(self, faults: Iterable[PeerFault]) -> None:
        with self._lock:
            self._queue.extend(_Queued(f, f.repeat) for f in faults)

    def take(self) -> PeerFault | None:
        with self._lock:
            if not self._queue:
                return None
            head = self._queue[0]
            if not head.fault.sticky:
                head.remaining -= 1
                if head.remaining == 0:
                    self._queue.popleft()
            return head.fault

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**q.fault.model_dump(mode="json"), "repeat": q.remaining} for q in self._queue]


# --------------------------------------------------------------------------------------
# The call log: what happened to each call, never a key (only its fingerprint).
# --------------------------------------------------------------------------------------


def key_fingerprint(value: str) -> str:
    """A short, stable id for a key, so the log can show "a new key" without holding one."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


class _CallLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def record(self, event: str, **fields: Any) -> None:
        entry = {"at": time.time(), "event": event, **fields}
        with self._lock:
            self._entries.append(entry)
        logger.info("realtime peer: %s %s", event, json.dumps(fields, default=str))

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# --------------------------------------------------------------------------------------
# HTTP answers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerReply:
    """The same fields as the emulator's `Reply`, so its handler can send either."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"


# OpenAI's API answers browsers from any origin; the peer grants the same, but the emulator
# sends these headers only to the stack's allowed origins (local_http.py, emulator._send).
CORS_HEADERS = (
    ("access-control-allow-origin", "*"),
    ("access-control-expose-headers", "Location, X-Request-Id"),
)
PREFLIGHT_HEADERS = (
    *CORS_HEADERS,
    ("access-control-allow-methods", "POST, OPTIONS"),
    ("access-control-allow-headers", "Authorization, Content-Type, X-OpenAI-Agents-SDK"),
    ("access-control-max-age", "600"),
)


def _error(status: int, message: str, code: str | None = None) -> PeerReply:
    body = {
        "error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    }
    return PeerReply(status, json.dumps(body).encode(), headers=CORS_HEADERS)


def _json(status: int, payload: object) -> PeerReply:
    return PeerReply(status, json.dumps(payload).encode(), headers=CORS_HEADERS)


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _deep_merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _event_id() -> str:
    return "event_" + secrets.token_hex(10)


# --------------------------------------------------------------------------------------
# Media and calls (everything below runs on the peer's asyncio loop thread)
# --------------------------------------------------------------------------------------


class ToneTrack(AudioStreamTrack):
    """A short sine tone, then silence, paced in real time as a microphone would be."""

    def __init__(self) -> None:
        super().__init__()
        self._sent_samples = 0
        self._started_at: float | None = None

    async def recv(self) -> Frame:
        if self.readyState != "live":
            raise MediaStreamError
        samples = int(AUDIO_PTIME * SAMPLE_RATE_HZ)
        if self._started_at is None:
            self._started_at = time.monotonic()
        else:
            due = self._started_at + self._sent_samples / SAMPLE_RATE_HZ
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        frame = AudioFrame(format="s16", layout="mono", samples=samples)
        frame.planes[0].update(self._pcm(self._sent_samples, samples))
        frame.pts = self._sent_samples
        frame.sample_rate = SAMPLE_RATE_HZ
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE_HZ)
        self._sent_samples += samples
        return frame

    @staticmethod
    def _pcm(first: int, count: int) -> bytes:
        tone_end = int(TONE_S * SAMPLE_RATE_HZ)
        if first >= tone_end:
            return bytes(2 * count)  # silence for the rest of the call
        out = bytearray()
        for n in range(first, first + count):
            level = TONE_AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * n / SAMPLE_RATE_HZ)
            sample = int(level * 32767) if n < tone_end else 0
            out += sample.to_bytes(2, "little", signed=True)
        return bytes(out)


@dataclass
class _Call:
    call_id: str
    key_id: str
    session: dict[str, Any]
    pc: RTCPeerConnection
    drop_after_s: float | None
    channel: RTCDataChannel | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closed: bool = False


# aioice gathers host candidates from every interface except 127.0.0.1 (aioice.ice
# get_host_addresses). The peer serves a browser on the same machine, so it offers loopback
# only: nothing listens on the LAN. The wrapper applies to the peer's own loop thread and
# leaves any other aioice user in the process unchanged.
_loopback_threads: set[int] = set()
_original_host_addresses = aioice.ice.get_host_addresses


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if threading.get_ident() in _loopback_threads:
        return [LOOPBACK_HOST]
    return _original_host_addresses(use_ipv4, use_ipv6)


aioice.ice.get_host_addresses = _host_addresses


class RealtimePeer:
    """Answers Realtime WebRTC calls for keys that `lookup` knows; one asyncio loop thread."""

    def __init__(
        self,
        lookup: Lookup,
        *,
        loopback_only: bool = True,
        clock: Callable[[], float] = time.time,
        calls_path: str = CALLS_PATH,
    ) -> None:
        self._lookup = lookup
        # OpenAI's /v1/realtime/calls, or an Azure resource's /openai/v1/realtime/calls.
        self.calls_path = calls_path
        self._loopback_only = loopback_only
        self._clock = clock
        self._faults = _FaultScript()
        self._log = _CallLog()
        self._expired: set[str] = set()
        self._calls: dict[str, _Call] = {}
        self._state_lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> RealtimePeer:
        if self._thread is not None or self._stopped:
            raise RuntimeError("a RealtimePeer can be started once")
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run_loop, args=(ready,), name="ekmint-realtime-peer", daemon=True
        )
        self._thread.start()
        ready.wait()
        return self

    def _run_loop(self, ready: threading.Event) -> None:
        if self._loopback_only:
            _loopback_threads.add(threading.get_ident())
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(ready.set)
        try:
            self._loop.run_forever()
        finally:
            # aiortc leaves helper tasks behind closed calls; end them before the loop.
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            _loopback_threads.discard(threading.get_ident())
            self._loop.close()

    def stop(self) -> None:
        """Close every call, then the loop; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is None:
            self._loop.close()
            return
        future = asyncio.run_coroutine_threadsafe(self._close_all(), self._loop)
        with contextlib.suppress(Exception):
            future.result(STOP_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_TIMEOUT_S)

    def __enter__(self) -> RealtimePeer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- controls (the same as the admin routes) -----------------------------------------

    def set_faults(self, faults: Sequence[Mapping[str, Any] | _PeerFaultBase]) -> None:
        self._faults.replace(parse_faults(faults))

    def add_faults(self, faults: Sequence[Mapping[str, Any] | _PeerFaultBase]) -> None:
        self._faults.add(parse_faults(faults))

    def clear_faults(self) -> None:
        self._faults.replace(())

    @property
    def faults(self) -> list[dict[str, Any]]:
        return self._faults.snapshot()

    @property
    def calls(self) -> list[dict[str, Any]]:
        """The call log: offers (answered or refused), connections, updates, drops, closes."""
        return self._log.snapshot()

    def clear_calls(self) -> None:
        self._log.clear()

    def reset(self) -> None:
        """Open calls closed, no faults, every key live again, then an empty log."""
        if self._thread is not None and not self._stopped:
            future = asyncio.run_coroutine_threadsafe(self._close_all(), self._loop)
            with contextlib.suppress(Exception):
                future.result(STOP_TIMEOUT_S)
        self.clear_faults()
        with self._state_lock:
            self._expired.clear()
        self._log.clear()

    # -- HTTP ------------------------------------------------------------------------------

    def handle_http(
        self, method: str, path: str, headers: Headers, body: bytes
    ) -> PeerReply | None:
        """The answer for the peer's routes, or None when `path` is not one of them."""
        target = urlsplit(path)
        path = target.path.rstrip("/") or "/"
        if path == self.calls_path:
            if method == "OPTIONS":
                return PeerReply(204, headers=PREFLIGHT_HEADERS, content_type="text/plain")
            if method != "POST":
                return _error(405, f"{method} is not allowed on {self.calls_path}.")
            # Azure's ?webrtcfilter=on: logged, so a test can see the page used the URL it got.
            webrtcfilter = "webrtcfilter=on" in target.query.split("&")
            return self.handle_offer(
                body,
                headers.get("authorization"),
                headers.get("content-type"),
                webrtcfilter=webrtcfilter,
            )
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            return self._admin(method, path.removeprefix(ADMIN_PREFIX), body)
        return None

    def handle_offer(
        self,
        body: bytes,
        authorization: str | None,
        content_type: str | None = "application/sdp",
        *,
        webrtcfilter: bool = False,
    ) -> PeerReply:
        """Answer one SDP offer: 201 with the SDP answer, or OpenAI's error envelope."""
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        if media_type != "application/sdp":
            return _error(400, f"Unsupported content type: '{content_type or ''}'.")
        if not body or len(body) > MAX_SDP_BYTES:
            return _error(400, "The request body must be an SDP offer.")
        try:
            offer = body.decode()
        except UnicodeDecodeError:
            return _error(400, "The SDP offer is not UTF-8.")
        if not offer.startswith("v=0"):
            return _error(400, "The request body must be an SDP offer.")
        value = _bearer(authorization)
        if value is None:
            self._log.record("refused", status=401, reason="no bearer")
            return _error(401, "You didn't provide an API key.", "missing_api_key")
        key_id = key_fingerprint(value)
        refusal, minted, drop_after_s = self._admit(value, key_id)
        if refusal is not None:
            return refusal
        assert minted is not None  # _admit returns one or the other
        return self._answer(offer, minted, key_id, drop_after_s, webrtcfilter=webrtcfilter)

    def _admit(
        self, value: str, key_id: str
    ) -> tuple[PeerReply | None, MintedSecret | None, float | None]:
        minted = self._lookup(value) if value.startswith("ek_") else None
        if minted is None:
            self._log.record("refused", key=key_id, status=401, reason="unknown key")
            return _error(401, "Invalid ephemeral client secret.", "invalid_api_key"), None, None
        with self._state_lock:
            expired = value in self._expired or self._clock() >= minted.expires_at
        if expired:
            self._log.record("refused", key=key_id, status=401, reason="expired key")
            return _expired_reply(), None, None
        fault = self._faults.take()
        if isinstance(fault, ExpireKeyFault):
            with self._state_lock:
                self._expired.add(value)
            self._log.record("refused", key=key_id, status=401, fault=fault.kind)
            return _expired_reply(), None, None
        if isinstance(fault, RefuseFault):
            self._log.record("refused", key=key_id, status=fault.status, fault=fault.kind)
            code = "server_error" if fault.status >= 500 else None
            return _error(fault.status, fault.message, code), None, None
        drop_after_s = fault.after_s if isinstance(fault, DropFault) else None
        return None, minted, drop_after_s

    def _answer(
        self,
        offer: str,
        minted: MintedSecret,
        key_id: str,
        drop_after_s: float | None,
        *,
        webrtcfilter: bool = False,
    ) -> PeerReply:
        if self._thread is None or self._stopped:
            return _error(503, "The realtime peer is not running.", "server_error")
        call_id = "rtc_" + secrets.token_hex(12)
        session = json.loads(json.dumps(minted.session))  # a private copy the call may update
        future = asyncio.run_coroutine_threadsafe(
            self._open_call(call_id, key_id, session, offer, drop_after_s), self._loop
        )
        try:
            answer_sdp = future.result(ANSWER_TIMEOUT_S)
        except Exception as exc:
            future.cancel()
            self._log.record("refused", call_id=call_id, key=key_id, status=400, reason=str(exc))
            return _error(400, f"Could not answer the SDP offer: {exc}")
        self._log.record(
            "answered",
            call_id=call_id,
            key=key_id,
            status=201,
            fault="drop" if drop_after_s else None,
            drop_after_s=drop_after_s,
            path=self.calls_path,
            webrtcfilter=webrtcfilter,
        )
        headers = (*CORS_HEADERS, ("location", f"{self.calls_path}/{call_id}"))
        return PeerReply(201, answer_sdp.encode(), headers, "application/sdp")

    async def _open_call(
        self,
        call_id: str,
        key_id: str,
        session: dict[str, Any],
        offer: str,
        drop_after_s: float | None,
    ) -> str:
        # No STUN server: aiortc's default asks Google's, which a loopback call never needs.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        call = _Call(call_id, key_id, session, pc, drop_after_s)
        with self._state_lock:
            self._calls[call_id] = call
        pc.addTrack(ToneTrack())

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if channel.label == EVENTS_CHANNEL:
                self._attach_events(call, channel)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close_call(
                    call, "closed", reason=f"peer connection {pc.connectionState}"
                )

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception:
            await self._close_call(call, "closed", reason="bad offer")
            raise
        return pc.localDescription.sdp

    def _attach_events(self, call: _Call, channel: RTCDataChannel) -> None:
        call.channel = channel

        def on_open() -> None:
            self._log.record("connected", call_id=call.call_id, key=call.key_id)
            self._send(call, {"type": "session.created", "session": call.session})
            if call.drop_after_s is not None:
                call.tasks.append(asyncio.ensure_future(self._drop_later(call)))

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            self._on_client_event(call, message)

        @channel.on("close")
        def on_close() -> None:
            call.tasks.append(
                asyncio.ensure_future(
                    self._close_call(call, "closed", reason="data channel closed")
                )
            )

        # aiortc announces a remote channel once its DCEP open arrived, so it is open already.
        if channel.readyState == "open":
            on_open()
        else:
            channel.once("open", on_open)

    def _on_client_event(self, call: _Call, message: str | bytes) -> None:
        try:
            event = json.loads(message)
        except (TypeError, ValueError):
            self._send(call, _error_event("invalid_json", "The event is not JSON."))
            return
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "session.update" and isinstance(event.get("session"), dict):
            call.session = _deep_merge(call.session, _without_nulls(event["session"]))
            self._log.record("session.update", call_id=call.call_id, key=call.key_id)
            self._send(call, {"type": "session.updated", "session": call.session})
        else:
            # Enough for the SDK's connect(); the emulator holds no conversation.
            logger.debug("realtime peer: %s ignored on %s", kind, call.call_id)

    def _send(self, call: _Call, event: dict[str, Any]) -> None:
        channel = call.channel
        if channel is None or channel.readyState != "open":
            return
        channel.send(json.dumps({"event_id": _event_id(), **event}))

    async def _drop_later(self, call: _Call) -> None:
        assert call.drop_after_s is not None
        await asyncio.sleep(call.drop_after_s)
        await self._close_call(call, "dropped", reason=f"fault: drop after {call.drop_after_s}s")

    async def _close_call(self, call: _Call, event: str, *, reason: str) -> None:
        if call.closed:
            return
        call.closed = True
        with self._state_lock:
            self._calls.pop(call.call_id, None)
        self._log.record(event, call_id=call.call_id, key=call.key_id, reason=reason)
        current = asyncio.current_task()
        for task in call.tasks:
            if task is not current:
                task.cancel()
        await call.pc.close()

    async def _close_all(self) -> None:
        with self._state_lock:
            calls = list(self._calls.values())
        for call in calls:
            await self._close_call(call, "closed", reason="peer reset or stopped")

    # -- admin -----------------------------------------------------------------------------

    def _admin(self, method: str, route: str, body: bytes) -> PeerReply:
        if route == "/faults":
            return self._admin_faults(method, body)
        if route == "/calls" and method in ("GET", "DELETE"):
            if method == "DELETE":
                self._log.clear()
            return _json(200, self._log.snapshot())
        if route == "/reset" and method == "POST":
            self.reset()
            return _json(200, {"ok": True})
        return _error(404, f"No admin route {method} {ADMIN_PREFIX}{route}.")

    def _admin_faults(self, method: str, body: bytes) -> PeerReply:
        if method == "DELETE":
            self.clear_faults()
        elif method in ("POST", "PUT"):
            try:
                payload = json.loads(body or b"{}")
                faults = parse_faults(payload["faults"])
            except (ValueError, KeyError, TypeError, ValidationError) as exc:
                return _error(400, f"Invalid admin request: {exc}", "invalid_value")
            (self._faults.add if method == "POST" else self._faults.replace)(faults)
        elif method != "GET":
            return _error(405, f"{method} is not allowed on {ADMIN_PREFIX}/faults.")
        return _json(200, self._faults.snapshot())


def _expired_reply() -> PeerReply:
    return _error(401, "The ephemeral client secret has expired.", "invalid_api_key")


def _error_event(code: str, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": "invalid_request_error", "code": code, "message": message},
    }


def _without_nulls(update: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in update.items() if v is not None}


def local_page_config(openai_base_url: str | None) -> dict[str, Any]:
    """What the local gateway serves at LOCAL_CONFIG_PATH for the demo page.

    `openai_base_url` is the emulator's URL (``http://127.0.0.1:<port>/v1``); None when the
    stack talks to real OpenAI, and the page then uses OpenAI's own calls URL.
    """
    realtime_url = f"{openai_base_url.rstrip('/')}/realtime/calls" if openai_base_url else None
    return {"realtime_url": realtime_url}


async def browser_like_offer() -> str:
    """An SDP offer shaped like the browser SDK's (the oai-events data channel and an audio
    track), for tests and benchmarks that post offers without a browser. Run it on a loop of
    its own (asyncio.run); nothing ever connects to the offering side."""
    pc = RTCPeerConnection()
    pc.createDataChannel(EVENTS_CHANNEL)
    pc.addTrack(AudioStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    return sdp
