"""How long the function may keep trying before it must answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# API Gateway HTTP APIs end an integration after 30 s (hard limit); answer before that.
API_GATEWAY_LIMIT_S = 30.0
# Kept back from the upstream budget for the audit write and building the answer: room for
# the AWS client's standard-mode retries of a throttled PutItem (3 attempts, 2 s read timeout,
# at most ~3 s of backoff: aws_client.py).
RESERVE_S = 4.0


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Deadline:
    at: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def for_invocation(
        cls, context: LambdaContextLike | None, clock: Callable[[], float] = time.monotonic
    ) -> Deadline:
        limit_s = API_GATEWAY_LIMIT_S
        if context is not None:
            limit_s = min(limit_s, context.get_remaining_time_in_millis() / 1000)
        return cls(at=clock() + max(0.0, limit_s - RESERVE_S), clock=clock)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())
