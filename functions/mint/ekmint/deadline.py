"""How long the function may keep trying before it must answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# API Gateway HTTP APIs end an integration after 30 s (hard limit); answer before that.
API_GATEWAY_LIMIT_S = 30.0
# botocore's settings for every AWS call (dependencies.py builds its Config from these): DynamoDB
# answers in single-digit ms in-region, so these are generous and still bound the worst case.
AWS_CONNECT_TIMEOUT_S = 0.5
AWS_READ_TIMEOUT_S = 1.0
AWS_MAX_ATTEMPTS = 3
# botocore's standard retry mode waits up to random(0, 1) * 2**(retry - 1) s between attempts
# (botocore/retries/standard.py, ExponentialBackoff), so at most 1 + 2 s for three attempts.
AWS_BACKOFF_MAX_TOTAL_S = 3.0
# The audit write's worst case under those settings: every attempt times out, every backoff is
# the longest. Kept back from the upstream budget (with room to build the answer), so the audit
# write always gets its time before API Gateway or Lambda gives up.
AUDIT_WORST_CASE_S = AWS_MAX_ATTEMPTS * (AWS_CONNECT_TIMEOUT_S + AWS_READ_TIMEOUT_S) + (
    AWS_BACKOFF_MAX_TOTAL_S
)
RESERVE_S = AUDIT_WORST_CASE_S + 0.5


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
