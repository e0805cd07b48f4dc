"""`make simulate`: the quota path against DynamoDB's contention, as a discrete-event simulation.

No network and no threads: simulated time, seconds of real time. DynamoDB's side is the local
stack's own conflict model (ekmint_dev.dynamodb_conflicts.ConflictState, the same code behind
LOCAL_DYNAMODB_CONFLICTS=on) driven by a simulated clock, plus the counters' values and their
conditions. The caller's side mirrors functions/mint/ekmint/quota.py, in both designs:

- old: one TransactWriteItems over the minute, day and global counters; a TransactionConflict is
  retried 4 times within ~0.2 s, then the request fails (a 5xx).
- new: one conditional UpdateItem per counter, sent together (one round trip); when one refuses,
  the others are given back (ADD -1, a second round trip on the refusal path only). No counter
  is ever in a transaction, so nothing conflicts; what is left is the per-item write rate.
- new, sharded: the same with the global counter split into shards (cap divided among them),
  each request charging one shard at random: past 1,000 mints a second the global counter
  exceeds one item's write rate, shards spread it.

Throttled calls are retried as botocore's standard mode does (3 attempts, rand(0,1) x 2^i s for
throttling), then answered 429 (new) or failed (old: it has no such path).

Scenarios, each run from 10 to 5,000 mints a second (Poisson arrivals):
- one caller: every request from one principal, limit 10 a minute: exactly 10 may be minted.
- many callers: every request from a different principal, the global cap at half the requests:
  exactly the cap may be minted.

Usage: python -m bench.simulate [--rates 10,100,1000,5000] [--seed 1]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ekmint_dev.dynamodb_conflicts import (
    SINGLE_WRITE_UNITS,
    TRANSACTION_WRITE_UNITS,
    ConflictSettings,
    ConflictState,
    ItemId,
)

# Lambda to DynamoDB in one region: a one-way network hop, and a single write's service time
# (DynamoDB: "single-digit millisecond" latency).
ONE_WAY_S = (0.0005, 0.0015)
SERVICE_S = (0.002, 0.005)
# quota.py's old retry schedule for TransactionConflict.
OLD_CONFLICT_RETRIES = 4
OLD_CONFLICT_BACKOFF_S = 0.02
# botocore standard retry mode.
SDK_MAX_ATTEMPTS = 3
SDK_MAX_BACKOFF_S = 20.0
SHARDS = 8
MIN_REQUESTS = 200
MIN_SECONDS = 2.0
TABLE = "quota"


# -- the simulated clock and processes -------------------------------------------------------


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class Call:
    """One DynamoDB call: `apply` runs at the server when the request arrives and returns
    (answer, server time it takes)."""

    apply: Callable[[], tuple[str, float]]


Step = Wait | list[Call]
Process = Generator[Step, Any, str]


class Simulation:
    def __init__(self, rng: random.Random) -> None:
        self.now = 0.0
        self.rng = rng
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), action))

    def run(self) -> None:
        while self._queue:
            self.now, _, action = heapq.heappop(self._queue)
            action()

    def start(self, process: Process, done: Callable[[str, float], None]) -> None:
        started = self.now
        self._resume(process, None, lambda outcome: done(outcome, self.now - started))

    def _resume(self, process: Process, value: Any, done: Callable[[str], None]) -> None:
        try:
            step = process.send(value)
        except StopIteration as stop:
            done(stop.value)
            return
        if isinstance(step, Wait):
            self.at(self.now + step.seconds, lambda: self._resume(process, None, done))
            return
        answers: list[str | None] = [None] * len(step)
        pending = [len(step)]

        def reply(index: int, answer: str) -> None:
            answers[index] = answer
            pending[0] -= 1
            if pending[0] == 0:
                self._resume(process, answers, done)

        for index, call in enumerate(step):
            self.at(self.now + self.rng.uniform(*ONE_WAY_S), self._arrive(call, index, reply))

    def _arrive(
        self, call: Call, index: int, reply: Callable[[int, str], None]
    ) -> Callable[[], None]:
        def arrive() -> None:
            answer, busy_s = call.apply()
            back = self.now + busy_s + self.rng.uniform(*ONE_WAY_S)
            self.at(back, lambda: reply(index, answer))

        return arrive


# -- DynamoDB: the conflict model plus the counters ------------------------------------------


@dataclass
class Table:
    sim: Simulation
    settings: ConflictSettings
    counts: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    write_units: int = 0

    def __post_init__(self) -> None:
        self.model = ConflictState(self.settings, clock=lambda: self.sim.now)

    def _service(self) -> float:
        return self.sim.rng.uniform(*SERVICE_S)

    def transact(self, counters: list[tuple[str, int]]) -> Call:
        """TransactWriteItems: ADD 1 to each counter if each is under its limit."""

        def apply() -> tuple[str, float]:
            self.calls += 1
            ends, refusal = self.model.admit_transaction([_item(k) for k, _ in counters])
            if refusal is not None:
                reasons = [r["Code"] for r in refusal.body.get("CancellationReasons", [])]
                return ("conflict" if reasons else "throttled"), self._service()
            self.write_units += TRANSACTION_WRITE_UNITS * len(counters)
            if any(self.counts.get(k, 0) >= limit for k, limit in counters):
                return "refused", ends - self.sim.now
            for key, _ in counters:
                self.counts[key] = self.counts.get(key, 0) + 1
            return "ok", ends - self.sim.now

        return Call(apply)

    def update(self, key: str, limit: int | None, delta: int = 1) -> Call:
        """UpdateItem ADD delta, conditional on the counter being under `limit` (None: none)."""

        def apply() -> tuple[str, float]:
            self.calls += 1
            refusal = self.model.admit_single("UpdateItem", _item(key))
            if refusal is not None:
                return ("throttled" if "Throughput" in refusal.body["__type"] else "conflict"), (
                    self._service()
                )
            self.write_units += SINGLE_WRITE_UNITS
            if limit is not None and self.counts.get(key, 0) >= limit:
                return "refused", self._service()
            self.counts[key] = self.counts.get(key, 0) + delta
            return "ok", self._service()

        return Call(apply)


def _item(key: str) -> ItemId:
    return TABLE, key


def _sdk(sim: Simulation, call: Callable[[], Call]) -> Generator[Step, Any, str]:
    """One call as botocore sends it: throttling retried, up to SDK_MAX_ATTEMPTS attempts."""
    for attempt in range(SDK_MAX_ATTEMPTS):
        (answer,) = yield [call()]
        if answer != "throttled" or attempt == SDK_MAX_ATTEMPTS - 1:
            return str(answer)
        yield Wait(sim.rng.random() * min(2.0**attempt, SDK_MAX_BACKOFF_S))
    return "throttled"


def _parallel_sdk(
    sim: Simulation, calls: list[Callable[[], Call]]
) -> Generator[Step, Any, list[str]]:
    """Several calls at once; the throttled ones are retried (together), as parallel SDK calls."""
    answers: list[str] = ["throttled"] * len(calls)
    todo = list(range(len(calls)))
    for attempt in range(SDK_MAX_ATTEMPTS):
        got = yield [calls[i]() for i in todo]
        for i, answer in zip(todo, got, strict=True):
            answers[i] = answer
        todo = [i for i in todo if answers[i] == "throttled"]
        if not todo or attempt == SDK_MAX_ATTEMPTS - 1:
            break
        yield Wait(sim.rng.random() * min(2.0**attempt, SDK_MAX_BACKOFF_S))
    return answers


# -- the two designs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    principal: str
    per_minute: int
    per_day: int
    global_cap: int


def old_design(sim: Simulation, table: Table, request: Request) -> Process:
    counters = [
        (f"m#{request.principal}", request.per_minute),
        (f"d#{request.principal}", request.per_day),
        ("g", request.global_cap),
    ]
    for attempt in range(OLD_CONFLICT_RETRIES + 1):
        answer = yield from _sdk(sim, lambda: table.transact(counters))
        if answer == "ok":
            return "minted"
        if answer == "refused":
            return "refused"
        if answer == "throttled" or attempt == OLD_CONFLICT_RETRIES:
            return "failed"
        yield Wait(OLD_CONFLICT_BACKOFF_S * (attempt + 1) * (0.5 + sim.rng.random()))
    return "failed"


def new_design(sim: Simulation, table: Table, request: Request, shards: int = 1) -> Process:
    if shards == 1:
        global_counter = ("g", request.global_cap)
    else:
        shard = sim.rng.randrange(shards)
        share = request.global_cap // shards + (1 if shard < request.global_cap % shards else 0)
        global_counter = (f"g#{shard}", share)
    counters = [
        (f"m#{request.principal}", request.per_minute),
        (f"d#{request.principal}", request.per_day),
        global_counter,
    ]
    answers = yield from _parallel_sdk(
        sim, [partial(table.update, key, limit) for key, limit in counters]
    )
    if all(a == "ok" for a in answers):
        return "minted"
    charged = [key for (key, _), answer in zip(counters, answers, strict=True) if answer == "ok"]
    if charged:
        yield from _parallel_sdk(sim, [partial(table.update, key, None, -1) for key in charged])
    return "refused"


Design = Callable[[Simulation, Table, Request], Process]
DESIGNS: dict[str, Design] = {
    "old (transaction)": old_design,
    "new (parallel updates)": new_design,
    f"new, {SHARDS} global shards": lambda s, t, r: new_design(s, t, r, SHARDS),
}


# -- scenarios and the table -------------------------------------------------------------------


@dataclass
class Result:
    rate: int
    scenario: str
    design: str
    offered: int
    limit: int
    outcomes: dict[str, int]
    calls: int
    write_units: int
    latencies_s: list[float]

    def per_request(self, value: int) -> float:
        return value / self.offered if self.offered else 0.0

    def p99_ms(self) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000 if ordered else 0


def simulate(rate: int, scenario: str, design: str, seed: int) -> Result:
    rng = random.Random(f"{seed}/{rate}/{scenario}")  # noqa: S311 (a simulation, not a secret)
    sim = Simulation(rng)
    table = Table(sim, ConflictSettings())
    offered = max(MIN_REQUESTS, int(rate * MIN_SECONDS))
    if scenario == "one caller":
        limit = 10

        def request(n: int) -> Request:
            return Request("alice", 10, 10**9, 10**9)

    else:
        limit = offered // 2

        def request(n: int) -> Request:
            return Request(f"caller-{n}", 10, 200, offered // 2)

    outcomes: dict[str, int] = {"minted": 0, "refused": 0, "failed": 0}
    latencies: list[float] = []

    def done(outcome: str, took_s: float) -> None:
        outcomes[outcome] += 1
        latencies.append(took_s)

    when = 0.0
    run = DESIGNS[design]
    for n in range(offered):
        when += rng.expovariate(rate)
        sim.at(when, partial(_arrival, sim, run(sim, table, request(n)), done))
    sim.run()
    return Result(
        rate, scenario, design, offered, limit, outcomes, table.calls, table.write_units, latencies
    )


def _arrival(sim: Simulation, process: Process, done: Callable[[str, float], None]) -> None:
    sim.start(process, done)


def table_lines(results: Iterable[Result]) -> list[str]:
    head = (
        f"{'mints/s':>7}  {'scenario':<12} {'design':<24} {'offered':>7} {'limit':>6} "
        f"{'minted':>6} {'refused':>7} {'failed':>6} {'calls/req':>9} {'WCU/req':>7} "
        f"{'p99 ms':>7}  exact"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        exact = "yes" if r.outcomes["minted"] == r.limit and not r.outcomes["failed"] else "NO"
        lines.append(
            f"{r.rate:>7}  {r.scenario:<12} {r.design:<24} {r.offered:>7} {r.limit:>6} "
            f"{r.outcomes['minted']:>6} {r.outcomes['refused']:>7} {r.outcomes['failed']:>6} "
            f"{r.per_request(r.calls):>9.2f} {r.per_request(r.write_units):>7.2f} "
            f"{r.p99_ms():>7.0f}  {exact}"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__)
    parser.add_argument("--rates", default="10,100,1000,5000")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    settings = ConflictSettings()
    print(
        "Quota path under DynamoDB's contention (simulated; commit window "
        f"{settings.commit_window_ms:g} ms, {settings.item_writes_per_s:g} write units/s per "
        f"item, one-way network {ONE_WAY_S[0] * 1000:g}-{ONE_WAY_S[1] * 1000:g} ms).\n"
        "exact: minted == limit and nothing failed. calls/req: DynamoDB calls for the quota per "
        "request, retries and give-backs included; WCU/req: write units they cost.\n"
    )
    results = [
        simulate(rate, scenario, design, args.seed)
        for rate in rates
        for scenario in ("one caller", "many callers")
        for design in DESIGNS
        if not (design.endswith("shards") and rate < 1000)
    ]
    print("\n".join(table_lines(results)))


if __name__ == "__main__":
    main()
