"""`make load`: 50 concurrent clients for 60 s against the real local stack (emulator upstream
with 5-30 ms of random latency), bounded in count and time, loopback only. It prints the figures
and asserts: no 5xx that OpenAI did not cause, one audit record per request, quotas exact in
every window, the gateway's memory flat, and a clean stop within 5 s of SIGTERM (stack_harness).
Local DynamoDB models AWS's contention (LOCAL_DYNAMODB_CONFLICTS=on, docs/scaling.md). Tune with
EKMINT_LOAD_CLIENTS / _SECONDS.

`test_load_smoke` runs the same campaign, short and small, in `make test`: the long one is run
by hand, and it once rotted unseen (issue 17: the stack no longer stopped in time after it)."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from stack_harness import start_stack

from ekmint.audit import from_item
from ekmint_dev import stack_info
from ekmint_dev.jwt_local import issue_token, load_or_create_key, local_dir
from ekmint_dev.local_aws import client

CLIENTS = int(os.environ.get("EKMINT_LOAD_CLIENTS", "50"))
SECONDS = float(os.environ.get("EKMINT_LOAD_SECONDS", "60"))
SMOKE_CLIENTS = 4
SMOKE_SECONDS = 5.0
SMOKE_PER_MINUTE = 5
MAX_REQUESTS = 100_000  # a hard bound, whatever the machine's speed
PER_MINUTE = 20
WARM_UP = 8
UPSTREAM_CODES = {"openai_api_unavailable", "token_generation_failed"}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@pytest.mark.load
def test_load(tmp_path: Path) -> None:
    campaign(tmp_path, CLIENTS, SECONDS, PER_MINUTE, memory_flat=True)


@pytest.mark.e2e
def test_load_smoke(tmp_path: Path) -> None:
    # A low quota, so even a slow machine reaches it within the few seconds.
    campaign(tmp_path, SMOKE_CLIENTS, SMOKE_SECONDS, SMOKE_PER_MINUTE, memory_flat=False)


def campaign(
    tmp_path: Path, clients: int, seconds: float, per_minute: int, *, memory_flat: bool
) -> None:
    local = tmp_path / "local"
    stack = start_stack(
        tmp_path,
        workers=4,
        AUTH_MODE="jwt",
        QUOTA_PER_MINUTE=str(per_minute),
        QUOTA_PER_DAY="0",
        GLOBAL_DAILY_CAP="0",
        LOCAL_DYNAMODB_CONFLICTS="on",
    )
    try:
        info = stack_info.find(stack.aws_port)
        assert info and info.emulator_admin_url and info.jwt_issuer and info.jwt_audience
        httpx.post(f"{info.emulator_admin_url}/latency", json={"min_ms": 5, "max_ms": 30})
        key = load_or_create_key(local_dir({"EKMINT_LOCAL_DIR": str(local)}))
        tokens = [
            issue_token(key, sub=f"load-{n}", issuer=info.jwt_issuer, audience=info.jwt_audience)
            for n in range(clients)
        ]
        results: list[tuple[int, str | None, float]] = []
        lock = threading.Lock()

        def run_client(token: str) -> None:
            with httpx.Client(base_url=stack.url, timeout=30) as http:
                while time.monotonic() < stop_at:
                    started = time.monotonic()
                    answer = http.post(
                        "/api/client-secret", headers={"authorization": f"Bearer {token}"}
                    )
                    took_ms = (time.monotonic() - started) * 1000
                    code = None if answer.status_code == 200 else answer.json()["error"]["code"]
                    with lock:
                        results.append((answer.status_code, code, took_ms))
                        if len(results) >= MAX_REQUESTS:
                            return

        # Warm-up: enough concurrent requests to start every environment, then memory readings.
        def warm(token: str) -> None:
            httpx.post(
                f"{stack.url}/api/client-secret",
                headers={"authorization": f"Bearer {token}"},
                timeout=30,
            )

        warm_up = tokens[:WARM_UP]
        warmers = [threading.Thread(target=warm, args=(t,)) for t in warm_up]
        for thread in warmers:
            thread.start()
        for thread in warmers:
            thread.join()
        rss_start = rss_kib(stack.process.pid)
        workers_start = sum(rss_kib(pid) for pid in stack.worker_pids())
        threads = [threading.Thread(target=run_client, args=(t,)) for t in tokens]
        began = time.monotonic()
        stop_at = began + seconds
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall_s = time.monotonic() - began
        rss_end = rss_kib(stack.process.pid)
        workers_end = sum(rss_kib(pid) for pid in stack.worker_pids())

        items: list[dict[str, Any]] = []
        dynamodb = client("dynamodb", info.aws_endpoint)
        for page in dynamodb.get_paginator("scan").paginate(TableName=info.audit_table):
            items.extend(from_item(item) for item in page["Items"])
    finally:
        stop_s = stack.stop()

    statuses = Counter(status for status, _, _ in results)
    codes = Counter(code for _, code, _ in results if code)
    latencies = [ms for _, _, ms in results]
    minted_latencies = [ms for status, _, ms in results if status == 200]
    print(
        f"\nload: {len(results)} requests from {clients} clients in {wall_s:.1f} s "
        f"({len(results) / wall_s:.0f} req/s), 4 environments, emulator latency 5-30 ms\n"
        f"  statuses {dict(sorted(statuses.items()))}, error codes {dict(codes)}\n"
        f"  latency all    p50 {percentile(latencies, 0.5):.1f} ms  "
        f"p99 {percentile(latencies, 0.99):.1f} ms\n"
        f"  latency minted p50 {percentile(minted_latencies, 0.5):.1f} ms  "
        f"p99 {percentile(minted_latencies, 0.99):.1f} ms  "
        f"mean {statistics.fmean(minted_latencies):.1f} ms\n"
        f"  gateway RSS start {rss_start / 1024:.1f} MiB, end {rss_end / 1024:.1f} MiB; "
        f"environments RSS start {workers_start / 1024:.1f} MiB, end {workers_end / 1024:.1f} MiB\n"
        f"  audit records {len(items)} (requests {len(results)} + {len(warm_up)} warm-up); "
        f"the stack stopped {stop_s:.2f} s after SIGTERM"
    )

    own_5xx = [code for status, code, _ in results if status >= 500 and code not in UPSTREAM_CODES]
    assert own_5xx == [], Counter(own_5xx)
    assert len(items) == len(results) + len(warm_up), "one audit record per request"
    minted: dict[tuple[str, str], int] = defaultdict(int)
    refused_by_minute: set[tuple[str, str]] = set()
    for record in items:
        window = (record["principal"], record["ts"][:16])
        if record["outcome"] == "minted":
            minted[window] += 1
        elif record.get("quota_limit") == "minute":
            refused_by_minute.add(window)
    assert max(minted.values()) <= per_minute, "a quota window minted more than its limit"
    short = {w: minted[w] for w in refused_by_minute if minted[w] != per_minute}
    assert not short, f"windows refused before reaching the limit: {short}"
    assert refused_by_minute, "the campaign should reach the per-minute quota"
    if memory_flat:
        # Flat: the gateway may settle a little, but must not grow with the request count.
        assert rss_end - rss_start < 32 * 1024, (rss_start, rss_end)
