"""State shared by the connection threads: keys, latency, minted keys, faults, request log."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .client_secrets import MintedKey, mint
from .contract import DEFAULT_MODEL, validate_create_request
from .dialect import OPENAI, Dialect, Headers
from .faults import Fault, FaultScript


@dataclass
class LoggedRequest:
    at: float
    path: str
    request_id: str
    body: Any
    authorized: bool
    fault: str | None = None
    status: int | None = None  # None until a complete answer is sent (hang, reset)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "path": self.path,
            "request_id": self.request_id,
            "status": self.status,
            "fault": self.fault,
            "body": self.body,
            "authorized": self.authorized,
        }


class RequestLog:
    """What the emulator received on its API paths: never the Authorization or api-key header."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def set_fault(self, entry: LoggedRequest, fault: Fault | None) -> None:
        with self._lock:
            entry.fault = fault.kind if fault is not None else None

    def set_status(self, entry: LoggedRequest, status: int) -> None:
        with self._lock:
            entry.status = status

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [entry.as_dict() for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class EmulatorState:
    def __init__(
        self,
        api_keys: Sequence[str],
        latency_ms: tuple[float, float],
        dialect: Dialect = OPENAI,
        deployments: Sequence[str] = (DEFAULT_MODEL,),
    ) -> None:
        self.dialect = dialect
        # Azure: the resource's deployment names, which session.model must be one of.
        self.deployments = tuple(deployments)
        self._lock = threading.Lock()
        self._api_keys = tuple(api_keys)
        self._latency_ms = checked_latency(latency_ms)
        self._minted: dict[str, MintedKey] = {}
        self.faults = FaultScript()
        self.log = RequestLog()
        self.stopping = threading.Event()

    def set_api_keys(self, keys: Sequence[str]) -> None:
        with self._lock:
            self._api_keys = tuple(keys)

    def is_authorized(self, headers: Headers) -> bool:
        with self._lock:
            keys = self._api_keys
        return self.dialect.is_authorized(headers, keys)

    def set_latency(self, latency_ms: tuple[float, float]) -> None:
        checked = checked_latency(latency_ms)
        with self._lock:
            self._latency_ms = checked

    def latency_ms(self) -> tuple[float, float]:
        with self._lock:
            return self._latency_ms

    def next_delay_s(self) -> float:
        low, high = self.latency_ms()
        return random.uniform(low, high) / 1000 if high > 0 else 0.0

    def remember(self, key: MintedKey) -> None:
        with self._lock:
            self._minted[key.value] = key

    def key_for_call(self, session: dict[str, Any]) -> str:
        """A key minted for one unified call's session alone (unified_calls.py), never handed
        out: the peer's call then starts with exactly the session the backend sent."""
        key = mint(validate_create_request({"session": session}), time.time())
        self.remember(key)
        return key.value

    def lookup(self, value: str) -> MintedKey | None:
        with self._lock:
            return self._minted.get(value)


def checked_latency(latency_ms: tuple[float, float]) -> tuple[float, float]:
    low, high = (float(bound) for bound in latency_ms)
    if not 0 <= low <= high:
        raise ValueError(f"latency must satisfy 0 <= min_ms <= max_ms, got {latency_ms!r}")
    return (low, high)


def parse_json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
