"""The inside of one local execution environment: what Lambda's Python runtime does there.

workers.py starts this module as its own process with the function's environment variables.
It imports the handler once (Lambda's init phase: the cold start), then serves invocations
one at a time, read as JSON lines from a socket the parent passed in, until the parent
closes it. Module-level state in the handler (settings, clients, the key cache, its
cold-start flag) lives as long as this process, as it does in a Lambda environment.

Protocol (one JSON object per line):
  child -> parent  {"type": "ready", "init_ms": …} | {"type": "init_error", …}
  parent -> child  {"event": {…}, "aws_request_id": "…", "timeout_s": 25}
  child -> parent  {"type": "result", "response": …} | {"type": "error", …}
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from io import BufferedIOBase
from typing import Any

from .lambda_context import LocalLambdaContext

Handler = Callable[[Any, Any], Any]


def load_handler(path: str) -> Handler:
    """'package.module.function' -> the function, as Lambda resolves the Handler setting."""
    module_name, _, function_name = path.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), function_name)
    return handler


def _send(stream: BufferedIOBase, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
    stream.flush()


def _error(kind: str, exc: BaseException) -> dict[str, Any]:
    # Lambda's own error shape; the message is the exception's, which the handler keeps free
    # of secrets (settings errors name variables, never values of the key).
    return {"type": kind, "errorType": type(exc).__name__, "errorMessage": str(exc)}


def serve(stream: BufferedIOBase, handler_path: str, function_name: str, memory_mb: int) -> int:
    started = time.monotonic()
    try:
        handler = load_handler(handler_path)
    except BaseException as exc:  # SettingsError, ImportError, even SystemExit: an init error
        traceback.print_exc()
        _send(stream, _error("init_error", exc))
        return 1
    _send(stream, {"type": "ready", "init_ms": round((time.monotonic() - started) * 1000, 1)})
    for line in stream:
        request = json.loads(line)
        context = LocalLambdaContext(
            function_name=function_name,
            memory_limit_in_mb=memory_mb,
            timeout_s=float(request["timeout_s"]),
            aws_request_id=str(request["aws_request_id"]),
        )
        try:
            response = handler(request["event"], context)
            reply = {"type": "result", "response": response}
            encoded = json.dumps(reply, separators=(",", ":")).encode() + b"\n"
        except Exception as exc:
            # An unhandled error: Lambda logs the traceback and reports a function error.
            traceback.print_exc()
            encoded = json.dumps(_error("error", exc)).encode() + b"\n"
        stream.write(encoded)
        stream.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ekmint_dev.lambda_runtime")
    parser.add_argument("--fd", type=int, required=True, help="the socket shared with the parent")
    parser.add_argument("--handler", required=True)
    parser.add_argument("--function-name", default="ekmint-MintFunction-local")
    parser.add_argument("--memory-mb", type=int, default=512)
    args = parser.parse_args(argv)
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when an
    # environment stops (it closes the socket or terminates us), as Lambda's service does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection = socket.socket(fileno=args.fd)
    with connection, connection.makefile("rwb") as stream:
        return serve(stream, args.handler, args.function_name, args.memory_mb)


if __name__ == "__main__":
    sys.exit(main())
