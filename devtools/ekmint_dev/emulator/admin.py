"""Admin API under /_emulator/: the same controls as the Python API, for other processes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .faults import Fault
from .replies import ApiError, Reply, error_reply, json_reply
from .state import EmulatorState

ADMIN_PREFIX = "/_emulator"


class _FaultsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    faults: list[Fault]


class _KeysBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_keys: list[str]


class _LatencyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_ms: float = Field(ge=0)
    max_ms: float = Field(ge=0)


def _admin_error(status: int, message: str) -> Reply:
    return error_reply(ApiError(status, message, code="invalid_value"))


_ModelT = TypeVar("_ModelT", bound=BaseModel)


def _admin_body(model: type[_ModelT], raw: bytes) -> _ModelT:
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ApiError(400, f"Invalid admin request: {details}", code="invalid_value") from None


def _admin_faults(state: EmulatorState, method: str, raw: bytes) -> Reply:
    if method == "DELETE":
        state.faults.clear()
    elif method in ("POST", "PUT"):
        faults = _admin_body(_FaultsBody, raw).faults
        (state.faults.add if method == "POST" else state.faults.replace)(faults)
    return json_reply(200, state.faults.snapshot())


def _admin_requests(state: EmulatorState, method: str, raw: bytes) -> Reply:
    if method == "DELETE":
        state.log.clear()
    return json_reply(200, state.log.snapshot())


def _admin_keys(state: EmulatorState, method: str, raw: bytes) -> Reply:
    keys = _admin_body(_KeysBody, raw).api_keys
    state.set_api_keys(keys)
    return json_reply(200, {"ok": True, "api_keys": len(keys)})  # a count: keys never leave


def _admin_latency(state: EmulatorState, method: str, raw: bytes) -> Reply:
    if method == "POST":
        body = _admin_body(_LatencyBody, raw)
        try:
            state.set_latency((body.min_ms, body.max_ms))
        except ValueError as exc:
            raise ApiError(400, str(exc), code="invalid_value") from None
    low, high = state.latency_ms()
    return json_reply(200, {"min_ms": low, "max_ms": high})


def _admin_health(state: EmulatorState, method: str, raw: bytes) -> Reply:
    return json_reply(200, {"ok": True})


_AdminRoute = Callable[[EmulatorState, str, bytes], Reply]
_ADMIN_ROUTES: dict[str, tuple[frozenset[str], _AdminRoute]] = {
    "/faults": (frozenset({"GET", "POST", "PUT", "DELETE"}), _admin_faults),
    "/requests": (frozenset({"GET", "DELETE"}), _admin_requests),
    "/keys": (frozenset({"PUT"}), _admin_keys),
    "/latency": (frozenset({"GET", "POST"}), _admin_latency),
    "/health": (frozenset({"GET"}), _admin_health),
}


def admin_reply(state: EmulatorState, method: str, path: str, raw: bytes) -> Reply:
    route = _ADMIN_ROUTES.get(path.removeprefix(ADMIN_PREFIX))
    if route is None:
        return _admin_error(404, f"No admin route {path}.")
    methods, handler = route
    if method not in methods:
        return _admin_error(405, f"{method} is not allowed on {path}.")
    try:
        return handler(state, method, raw)
    except ApiError as error:
        return error_reply(error)
