"""The real local stack as a subprocess (`python -m ekmint_dev.cli dev`), on free loopback ports.

A plain module, not a conftest.py: tests/conftest.py holds the shared fixtures, and
pytest keeps one module named "conftest" at a time, so a second conftest.py would shadow theirs.

Each stack's stdout and stderr go to a file; stopping it sends SIGTERM and checks what `make dev`
promises: exit 0 within a few seconds, no worker process left, and no secret in its output.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import find_leaks

from ekmint.settings import ENV_VARS
from ekmint_dev.local_aws import free_port

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
# Variables of the developer's shell that would change what the stack does.
SCRUBBED = {
    *ENV_VARS,
    *("OPENAI_API_KEY", "JWT_ISSUER", "JWT_AUDIENCE", "PORT", "LOCAL_AWS_PORT"),
    *(
        "LOCAL_DYNAMODB_CONFLICTS",
        "LOCAL_DYNAMODB_COMMIT_WINDOW_MS",
        "LOCAL_DYNAMODB_ITEM_WRITES_PER_S",
    ),
}
WORKER_PID = re.compile(r"env-\d+ started cold \(pid (\d+)")


def _children_of(pid: int) -> list[int]:
    """Every live process whose parent is `pid` (from /proc: no psutil needed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    port: int
    aws_port: int
    log_path: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_lines(self, predicate: Callable[[str], bool], timeout_s: float = 5.0) -> list[str]:
        """The log's lines that match, once there is one or the timeout passes: the stack writes
        its lines from other threads and processes, a moment after its answer."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [line for line in self.log().splitlines() if predicate(line)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def cli(self, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
        ports = {"LOCAL_AWS_PORT": str(self.aws_port), "PORT": str(self.port)}
        return run_cli(self.env | ports, *args, timeout_s=timeout_s)

    def post(
        self,
        body: bytes | dict[str, Any] | None = None,
        *,
        origin: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 30,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if origin:
            sent["origin"] = origin
        content = json.dumps(body).encode() if isinstance(body, dict) else body
        if content:
            sent.setdefault("content-type", "application/json")
        return httpx.post(
            f"{self.url}/api/client-secret", content=content, headers=sent, timeout=timeout_s
        )

    def worker_pids(self) -> set[int]:
        return {int(pid) for pid in WORKER_PID.findall(self.log())}

    def stop(self) -> float:
        """SIGTERM; then exit 0 within STOP_TIMEOUT_S, no child left, no leak in the output.
        Returns the seconds it took to stop."""
        pids = self.worker_pids() | set(_children_of(self.process.pid))
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            tail = self.log()[-3000:]
            pytest.fail(f"the stack did not stop within {STOP_TIMEOUT_S} s of SIGTERM:\n{tail}")
        took_s = time.monotonic() - started
        deadline = time.monotonic() + 2
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = sorted(pid for pid in pids if _alive(pid))
        leaks = find_leaks(self.log())
        assert code == 0, f"exit code {code}\n{self.log()[-3000:]}"
        assert not left, f"processes left behind: {left}"
        assert not leaks, f"the stack's output holds {sorted(set(leaks))}"
        assert took_s < STOP_TIMEOUT_S
        return took_s


def run_cli(
    env: Mapping[str, str], *args: str, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """`ekmint ARGS…` as a developer runs it, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "ekmint_dev.cli", *args],
        env=dict(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def stack_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    return (
        env
        | {
            # Fast retries, so the fault tests take milliseconds.
            "UPSTREAM_BACKOFF_BASE_S": "0.02",
            "QUOTA_PER_MINUTE": "1000",
            "QUOTA_PER_DAY": "10000",
            "PYTHONUNBUFFERED": "1",
        }
        | overrides
    )


def start_stack(directory: Path, *, workers: int = 3, **env: str) -> Stack:
    directory.mkdir(parents=True, exist_ok=True)
    port, aws_port = free_port(), free_port()
    full_env = stack_env(EKMINT_LOCAL_DIR=str(directory / "local"), **env)
    log_path = directory / "stack.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "ekmint_dev.cli", "dev"),
                *("--port", str(port), "--aws-port", str(aws_port), "--workers", str(workers)),
            ],
            env=full_env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    stack = Stack(process, port, aws_port, log_path, full_env)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the stack exited with {process.returncode}:\n{stack.log()[-3000:]}")
        try:
            # A preflight is answered by the gateway alone: ready without starting a worker.
            if httpx.options(f"{stack.url}/api/client-secret", timeout=1).status_code == 204:
                return stack
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    process.kill()
    process.wait()
    pytest.fail(f"the stack was not ready within {READY_TIMEOUT_S} s:\n{stack.log()[-3000:]}")
