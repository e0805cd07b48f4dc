"""Lambda-like execution environments on one machine: a pool of worker processes.

What Lambda does under load, and what this pool does too:
- an environment is started on demand, cold, when a request finds every other one busy,
  up to a concurrency limit (`max_environments`); past it, requests wait their turn;
- each environment imports the handler once and keeps its module-level state;
- each serves one request at a time;
- a timed-out or crashed environment is thrown away, and the next request starts a new one.
So cold starts, per-environment caches and races between environments (the quota's
conditional writes) show up locally. Each environment is a child process running
`ekmint_dev.lambda_runtime`; its log lines are forwarded with its id in front (Lambda gives
each environment its own log stream).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, TextIO

# How long an environment may take to import the handler before it counts as failed. Lambda
# allows 10 s; a laptop starting several environments at once on two cores needs more.
INIT_TIMEOUT_S = 30.0
# Slack over the function's timeout before the parent gives up on an invocation: the
# handler watches its own deadline, so reaching this means the environment is stuck.
TIMEOUT_GRACE_S = 1.0
STOP_WAIT_S = 2.0

_output_lock = threading.Lock()


class FunctionError(Exception):
    """The invocation failed as Lambda reports it: an unhandled error, a crash, a timeout,
    or an init error. API Gateway turns any of these into 500 Internal Server Error."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class PoolBusy(Exception):
    """No environment became free in time."""


class PoolStopped(Exception):
    pass


@dataclass(frozen=True)
class FunctionSpec:
    handler: str
    timeout_s: float
    memory_mb: int
    name: str
    # The whole process environment of each execution environment: nothing else leaks in.
    environment: Mapping[str, str]


@dataclass(frozen=True)
class Invocation:
    response: Any
    env_id: int
    cold: bool
    init_ms: float | None
    duration_ms: float


def _forward(source: IO[bytes], tag: str, sink: TextIO) -> None:
    for raw in iter(source.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        with _output_lock:
            sink.write(f"{tag} | {line}\n")
            sink.flush()


class ExecutionEnvironment:
    """One worker process. Not thread-safe by design: the pool gives it one request at a time."""

    def __init__(self, env_id: int, spec: FunctionSpec, log_sink: TextIO) -> None:
        self.env_id = env_id
        self.tag = f"env-{env_id}"
        self._spec = spec
        self._log_sink = log_sink
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._stream: Any = None
        self._forwarder: threading.Thread | None = None
        # start() and stop() can race at shutdown (a cold start still under way): whichever
        # comes second sees the other's effect, so no process is ever left behind.
        self._lifecycle = threading.Lock()
        self._stopped = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> float:
        """Start the process and wait for the handler's import; returns the init time in ms."""
        parent_end, child_end = socket.socketpair()
        try:
            with self._lifecycle:
                if self._stopped:
                    parent_end.close()
                    raise FunctionError("Runtime.ExitError", "the pool is stopping")
                self._socket = parent_end
                self._stream = parent_end.makefile("rwb")
                self._process = self._spawn(child_end)
        finally:
            child_end.close()
        assert self._process.stdout is not None
        self._forwarder = threading.Thread(
            target=_forward,
            args=(self._process.stdout, self.tag, self._log_sink),
            name=f"ekmint-{self.tag}-log",
            daemon=True,
        )
        self._forwarder.start()
        message = self._receive(INIT_TIMEOUT_S)
        if message.get("type") != "ready":
            raise FunctionError(
                str(message.get("errorType", "Runtime.InitError")),
                str(message.get("errorMessage", "the handler failed to load")),
            )
        return float(message["init_ms"])

    def _spawn(self, child_end: socket.socket) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ekmint_dev.lambda_runtime",
                "--fd",
                str(child_end.fileno()),
                "--handler",
                self._spec.handler,
                "--function-name",
                self._spec.name,
                "--memory-mb",
                str(self._spec.memory_mb),
            ],
            pass_fds=[child_end.fileno()],
            env=dict(self._spec.environment),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def invoke(self, event: Mapping[str, Any], aws_request_id: str) -> Any:
        request = {
            "event": event,
            "aws_request_id": aws_request_id,
            "timeout_s": self._spec.timeout_s,
        }
        try:
            self._stream.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")
            self._stream.flush()
        except OSError:
            raise FunctionError("Runtime.ExitError", "the environment is gone") from None
        message = self._receive(self._spec.timeout_s + TIMEOUT_GRACE_S)
        if message.get("type") == "result":
            return message.get("response")
        raise FunctionError(
            str(message.get("errorType", "Runtime.Unknown")), str(message.get("errorMessage"))
        )

    def _receive(self, timeout_s: float) -> dict[str, Any]:
        assert self._socket is not None
        self._socket.settimeout(timeout_s)
        try:
            line = self._stream.readline()
        except TimeoutError:
            raise FunctionError(
                "Sandbox.Timedout", f"no answer within {timeout_s:.0f} seconds"
            ) from None
        except OSError as exc:
            raise FunctionError("Runtime.ExitError", str(exc)) from None
        if not line:
            code = self._process.poll() if self._process else None
            raise FunctionError("Runtime.ExitError", f"the environment exited (code {code})")
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError:
            raise FunctionError("Runtime.InvalidResponse", "the runtime sent no JSON") from None
        return message

    def stop(self) -> None:
        """End the process: an idle runtime exits when its socket closes; a busy or stuck one
        is terminated. Safe to call more than once, from any thread."""
        with self._lifecycle:
            if self._stopped:
                return
            self._stopped = True
            process = self._process
        if self._socket is not None:
            # shutdown() (not close()) first: it wakes a thread blocked reading the answer.
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
        if process is not None:
            try:
                process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(timeout=STOP_WAIT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self._forwarder is not None:
            self._forwarder.join(timeout=1)
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()


@dataclass
class _PoolState:
    idle: list[ExecutionEnvironment] = field(default_factory=list)
    live: dict[int, ExecutionEnvironment] = field(default_factory=dict)
    reserved: int = 0  # environments alive or starting
    next_id: int = 1
    stopping: bool = False


class EnvironmentPool:
    """Hands each invocation to an idle warm environment, or starts a cold one on demand."""

    def __init__(
        self,
        spec: FunctionSpec,
        max_environments: int,
        *,
        log_sink: TextIO = sys.stderr,
        announce: Callable[[str], None] = lambda _: None,
    ) -> None:
        if max_environments < 1:
            raise ValueError("max_environments must be at least 1")
        self.spec = spec
        self.max_environments = max_environments
        self._log_sink = log_sink
        self._announce = announce
        self._changed = threading.Condition()
        self._state = _PoolState()

    def _acquire(self, wait_s: float) -> tuple[ExecutionEnvironment | None, int]:
        deadline = time.monotonic() + wait_s
        state = self._state
        with self._changed:
            while True:
                if state.stopping:
                    raise PoolStopped
                if state.idle:
                    # Most recently used first: Lambda, too, keeps reusing the warmest ones.
                    env = state.idle.pop()
                    return env, env.env_id
                if state.reserved < self.max_environments:
                    state.reserved += 1
                    env_id = state.next_id
                    state.next_id += 1
                    return None, env_id
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PoolBusy
                self._changed.wait(left)

    def _release(self, env: ExecutionEnvironment, *, broken: bool) -> None:
        with self._changed:
            keep = not broken and not self._state.stopping
            if keep:
                self._state.idle.append(env)
            else:
                self._state.live.pop(env.env_id, None)
                self._state.reserved -= 1
            self._changed.notify()
        if not keep:
            env.stop()

    def invoke(self, event: Mapping[str, Any], aws_request_id: str, wait_s: float) -> Invocation:
        """Run one invocation; FunctionError if it failed, PoolBusy if none was free."""
        env, env_id = self._acquire(wait_s)
        cold = env is None
        init_ms: float | None = None
        started = time.monotonic()
        try:
            if env is None:
                env = ExecutionEnvironment(env_id, self.spec, self._log_sink)
                with self._changed:
                    self._state.live[env_id] = env
                init_ms = env.start()
                self._announce(f"{env.tag} started cold (pid {env.pid}, init {init_ms:.0f} ms)")
            response = env.invoke(event, aws_request_id)
        except BaseException as exc:
            # Whatever went wrong, the slot is given back and the environment thrown away:
            # Lambda, too, never reuses an environment whose invocation failed this way.
            if env is None:
                with self._changed:
                    self._state.reserved -= 1
                    self._changed.notify()
            else:
                if isinstance(exc, FunctionError) and not self._state.stopping:
                    self._announce(f"env-{env_id} thrown away after {exc.error_type}")
                self._release(env, broken=True)
            raise
        duration_ms = (time.monotonic() - started) * 1000 - (init_ms or 0)
        self._release(env, broken=False)
        return Invocation(response, env_id, cold, init_ms, duration_ms)

    def stop(self) -> None:
        """Stop every environment; busy ones are terminated mid-request, as at a shutdown."""
        with self._changed:
            self._state.stopping = True
            environments = list(self._state.live.values())
            self._state.idle.clear()
            self._changed.notify_all()
        for env in environments:
            env.stop()
