"""Answers: every response is a `Reply`, built by plain functions and written by the handler."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal


class ApiError(Exception):
    """An answer in OpenAI's error envelope `{"error": {message, type, param, code}}`, or in
    Azure's `{"error": {code, message}}` (envelope="azure")."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        envelope: Literal["openai", "azure"] = "openai",
    ) -> None:
        super().__init__(message)
        self.kind = envelope
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def envelope(self) -> dict[str, Any]:
        if self.kind == "azure":
            return {"error": {"code": self.code or str(self.status), "message": self.message}}
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"


def json_reply(status: int, payload: object, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    return Reply(status, json.dumps(payload).encode(), tuple(headers))


def error_reply(error: ApiError, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    return json_reply(error.status, error.envelope(), headers)


def new_request_id() -> str:
    return f"req_{secrets.token_hex(16)}"
