"""One Lambda-like execution environment, in a fresh process: `python -I -S child.py SPEC.json`.

Run by bench/run.py with an isolated interpreter (no site-packages of the dev venv) whose path is
just the function's dependencies and code, as Lambda's would be. Standard library only, and
everything it needs is imported before any clock starts.

cold: times, separately, (1) the handler module's own top-level imports, (2) the rest of the
      module's execution (settings, clients, caches: construction), (3) the first invocation.
warm: initialises, warms up, counts the I/O of a window of mints (from the stubs' counters), then
      times each of N invocations, as Lambda would run them: one at a time.
"""

from __future__ import annotations

import ast
import gc
import http.client
import importlib
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
# Lambda's runtime sets this per invocation when tracing is active; the X-Ray SDK reads it.
TRACE_HEADER = "Root=1-{epoch:08x}-{rand};Parent={parent};Sampled={sampled}"
# Lambda's default sampling rule: the first request in each second, then 5% of the others.
SAMPLED_FRACTION = 0.05
_last_sampled_second = [-1]


class Context:
    """What Lambda hands the handler (the parts Powertools and ekmint read)."""

    function_name = "ekmint-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/ekmint-bench"
    log_stream_name = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:ekmint-bench"

    def __init__(self, timeout_s: float = 25.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def top_level_imports(path: Path, package: str) -> list[str]:
    """The modules the handler file imports at module scope, in order, relative ones resolved."""
    names: list[str] = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.append(base)
            # `from pkg import submodule` imports the submodule too.
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


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
    context["requestId"] = uuid.uuid4().hex[:16] + "="
    event["requestContext"] = context
    if xray:
        now = int(time.time())
        sampled = now != _last_sampled_second[0] or random.random() < SAMPLED_FRACTION  # noqa: S311
        if sampled:
            _last_sampled_second[0] = now
        os.environ["_X_AMZN_TRACE_ID"] = TRACE_HEADER.format(
            epoch=now,
            rand=uuid.uuid4().hex[:24],
            parent=uuid.uuid4().hex[:16],
            sampled=int(sampled),
        )
    return event


def invoke(handler: Handler, event: dict[str, Any]) -> dict[str, Any]:
    result = handler(event, Context())
    if result.get("statusCode") != 200:
        raise SystemExit(f"invocation answered {result.get('statusCode')}: {result.get('body')}")
    return result


def stub_counts(url: str) -> dict[str, int]:
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
    imports = top_level_imports(Path(spec["handler_file"]), spec["package"])
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
    spec: dict[str, Any] = json.loads(Path(sys.argv[1]).read_text())
    sys.path[:0] = spec["paths"]
    modes = {"cold": run_cold, "restored": run_restored, "warm": run_warm}
    result = modes[spec["mode"]](spec)
    Path(spec["out"]).write_text(json.dumps(result))
    # Lambda freezes the environment rather than running interpreter shutdown; so do we, so that
    # non-daemon threads or atexit hooks cannot stretch a run.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
