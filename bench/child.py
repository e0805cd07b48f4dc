"""One Lambda-like execution environment, in a fresh process: `python -I -S child.py SPEC.json`.

Run by bench/run.py with an isolated interpreter (no site-packages of the dev venv) whose path is
just the function's dependencies and code, as Lambda's would be. Before any clock starts, the
process holds what Lambda's Python runtime holds when it imports a handler: the runtime interface
client (awslambdaric, which the managed runtime runs) and exactly the modules it imports, and
nothing of this script's own. So a module counts in a figure if and only if Lambda would make the
function import it. Standard library only, and only what awslambdaric imports anyway (json,
importlib, threading...); anything else (http.client for the stubs' counters) is imported after
init, where it is not timed.

cold: times, separately, (1) the handler module's own top-level imports, (2) the rest of the
      module's execution (settings, clients, caches: construction), (3) the first invocation.
warm: initialises, warms up, counts the I/O of a window of mints (from the stubs' counters), then
      times each of N invocations, as Lambda would run them: one at a time.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time

# Not `typing`: Lambda's runtime has not imported it, and importing it here would take its
# cost out of every figure. mypy reads the guarded imports; Python never runs them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

# Lambda's runtime sets this per invocation when tracing is active (Powertools' Logger reads it).
TRACE_HEADER = "Root=1-{epoch:08x}-{rand};Parent={parent};Sampled={sampled}"
# Lambda's default sampling rule: the first request in each second, then 5% of the others.
SAMPLED_FRACTION = 0.05
_last_sampled_second = [-1]


def random_hex(chars: int) -> str:
    return os.urandom((chars + 1) // 2).hex()[:chars]


def uuid4_like() -> str:
    h = random_hex(32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


class Context:
    """What Lambda hands the handler (the parts Powertools and ekmint read)."""

    function_name = "ekmint-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/ekmint-bench"
    log_stream_name = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:ekmint-bench"

    def __init__(self, timeout_s: float = 25.0) -> None:
        self.aws_request_id = uuid4_like()
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def import_all(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # `from pkg import attribute`: not a module, nothing more to import.
            if exc.name != name:
                raise


def next_event(template: dict[str, Any], xray: bool) -> dict[str, Any]:
    """A copy of the event with its own request id, as each API Gateway request has."""
    event = dict(template)
    context = dict(event["requestContext"])
    context["requestId"] = random_hex(16) + "="
    event["requestContext"] = context
    if xray:
        now = int(time.time())
        draw = int.from_bytes(os.urandom(4)) / 2**32
        sampled = now != _last_sampled_second[0] or draw < SAMPLED_FRACTION
        if sampled:
            _last_sampled_second[0] = now
        os.environ["_X_AMZN_TRACE_ID"] = TRACE_HEADER.format(
            epoch=now,
            rand=random_hex(24),
            parent=random_hex(16),
            sampled=int(sampled),
        )
    return event


def invoke(handler: Handler, event: dict[str, Any]) -> dict[str, Any]:
    result = handler(event, Context())
    if result.get("statusCode") != 200:
        raise SystemExit(f"invocation answered {result.get('statusCode')}: {result.get('body')}")
    return result


def stub_counts(url: str) -> dict[str, int]:
    import http.client  # noqa: PLC0415 - after init: Lambda's runtime has not imported it

    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", "/_bench/counts")
        counts: dict[str, int] = json.loads(conn.getresponse().read())
        return counts
    finally:
        conn.close()


def counts_now(spec: dict[str, Any]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for url in spec["stub_urls"]:
        for name, value in stub_counts(url).items():
            key = f"{url}|{name}" if name == "connections" else name
            merged[key] = merged.get(key, 0) + value
    return merged


def run_cold(spec: dict[str, Any]) -> dict[str, Any]:
    imports: list[str] = spec["imports"]
    event = next_event(spec["event"], spec["xray"])
    clock = time.perf_counter
    t0 = clock()
    import_all(imports)
    t1 = clock()
    module = importlib.import_module(spec["module"])
    handler: Handler = module.lambda_handler
    t2 = clock()
    invoke(handler, event)
    t3 = clock()
    return {
        "import_ms": (t1 - t0) * 1000,
        "construct_ms": (t2 - t1) * 1000,
        "first_ms": (t3 - t2) * 1000,
    }


def run_restored(spec: dict[str, Any]) -> dict[str, Any]:
    """SnapStart, simulated: init, the before-snapshot hooks, a pause (the snapshot), the
    after-restore hooks, then the first invocation, as a restored environment runs it. What
    Lambda's own restore costs is not in here: it cannot be measured outside Lambda."""
    event = next_event(spec["event"], spec["xray"])
    module = importlib.import_module(spec["module"])
    hooks = importlib.import_module(spec["snapstart_hooks"])
    handler: Handler = module.lambda_handler
    hooks.before_snapshot(module.deps)
    time.sleep(0.2)
    clock = time.perf_counter
    t0 = clock()
    hooks.after_restore(module.deps)
    t1 = clock()
    invoke(handler, event)
    t2 = clock()
    return {"restore_hooks_ms": (t1 - t0) * 1000, "first_ms": (t2 - t1) * 1000}


def run_warm(spec: dict[str, Any]) -> dict[str, Any]:
    import gc  # noqa: PLC0415 - after init, as http.client

    module = importlib.import_module(spec["module"])
    handler: Handler = module.lambda_handler
    template, xray = spec["event"], spec["xray"]
    for _ in range(spec["warmup"]):
        invoke(handler, next_event(template, xray))
    before = counts_now(spec)
    for _ in range(spec["io_window"]):
        invoke(handler, next_event(template, xray))
    after = counts_now(spec)
    io = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    durations_ns: list[int] = []
    clock = time.perf_counter_ns
    gc.collect()
    started = clock()
    for _ in range(spec["timed"]):
        event = next_event(template, xray)
        t = clock()
        invoke(handler, event)
        durations_ns.append(clock() - t)
    wall_ns = clock() - started
    return {"durations_ns": durations_ns, "wall_ns": wall_ns, "io": io}


def main() -> None:
    with open(sys.argv[1]) as file:
        spec: dict[str, Any] = json.load(file)
    sys.path[:0] = spec["paths"]
    # What Lambda's runtime has loaded when it imports the handler (envs.RUNTIME_CLIENT).
    importlib.import_module("awslambdaric.bootstrap")
    modes = {"cold": run_cold, "restored": run_restored, "warm": run_warm}
    result = modes[spec["mode"]](spec)
    with open(spec["out"], "w") as file:
        json.dump(result, file)
    # Lambda freezes the environment rather than running interpreter shutdown; so do we, so that
    # non-daemon threads or atexit hooks cannot stretch a run.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
