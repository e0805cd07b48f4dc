"""moto's server as the local stack runs it: behind the local guard, without its instance log,
with every call applied one at a time, and stopping at once.

- The guard (local_http.py): moto answers CORS for every origin and ignores the Host header, so
  any page could read the OpenAI key from local Secrets Manager (docs/security.md). moto's WSGI
  app is wrapped, not edited: loopback Host names only, no CORS, no state change from a foreign
  origin or a cross-site request.
- moto records every model instance it ever creates (`BaseModel.instances_tracked`, for its
  dashboard at /moto-api/data.json) and never forgets one. DynamoDB's TransactWriteItems
  deep-copies each table it touches as a rollback copy, and UpdateItem copies the item: with the
  quota's transactions that is a copy of the whole quota table per request, all kept. Memory
  then grows with the square of a campaign's length, every call gets slower, and freeing it all
  at exit made `make load`'s stack miss its 5 s stop bound. Nothing here reads the dashboard,
  so nothing is tracked.
- Calls are serialised (moto_atomic.py says why).
- With LOCAL_DYNAMODB_CONFLICTS=on in its environment, DynamoDB's contention behaviour is
  modelled in front of moto (dynamodb_conflicts.py), and each injected conflict is a line on
  stdout.
- SIGTERM ends the process at once: the state is in memory by design, nothing to flush.

`python -m ekmint_dev.moto_server -H 127.0.0.1 -p PORT`
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from .dynamodb_conflicts import ConflictModel, ConflictSettings
from .local_http import guard_wsgi
from .moto_atomic import serialise_calls


def _log_line(text: str) -> None:
    # One write per line, so lines from this process and the stack's own do not interleave.
    sys.stdout.write(f"{time.strftime('%H:%M:%S')} local-aws | {text}\n")
    sys.stdout.flush()


def stop_tracking_instances() -> None:
    """moto's models stop appending themselves to `instances_tracked` (idempotent)."""
    from moto.core.common_models import BaseModel

    def untracked_new(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = untracked_new  # type: ignore[method-assign]


def build_server(host: str, port: int) -> BaseWSGIServer:
    """moto's app, guarded, on a threaded werkzeug server (not yet serving)."""
    # Read when moto's settings are imported: flask-cors is then never installed.
    os.environ.setdefault("MOTO_DISABLE_GLOBAL_CORS", "true")
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    serialise_calls()
    stop_tracking_instances()
    moto_app: Any = DomainDispatcherApplication(create_backend_app)
    conflicts = ConflictSettings.from_env(os.environ)
    if conflicts is not None:
        moto_app = ConflictModel(moto_app, conflicts, log=_log_line)
        _log_line(conflicts.describe())
    app = guard_wsgi(moto_app)
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    # Kept-alive connections must not hold the process at exit (socketserver joins them).
    server.daemon_threads = True  # type: ignore[attr-defined]
    server.block_on_close = False  # type: ignore[attr-defined]
    return server


def _exit_now(signum: int, frame: FrameType | None) -> None:
    os._exit(0)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ekmint_dev.moto_server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = build_server(args.host, args.port)
    signal.signal(signal.SIGTERM, _exit_now)
    signal.signal(signal.SIGINT, _exit_now)
    server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
