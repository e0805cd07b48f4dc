"""moto server with every AWS call applied one at a time, as DynamoDB applies writes to an item.

moto's threaded server runs calls concurrently without locking its backends, so two conditional
updates of the same counter can both read 19 and both write 20: an over-issue that real DynamoDB
(atomic conditional writes) never shows. The load campaign found exactly that. Serialising calls
makes moto's answers match DynamoDB's guarantees; the cost is nothing that matters locally.

`python -m ekmint_dev.moto_atomic -H 127.0.0.1 -p PORT` takes moto.server's own arguments.
With LOCAL_DYNAMODB_CONFLICTS=on in its environment, DynamoDB's contention behaviour is modelled
in front of moto (dynamodb_conflicts.py), and each injected conflict is a line on stdout.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

_LOCK = threading.RLock()


def serialise_calls() -> None:
    """Wrap moto's per-call dispatch in one lock (idempotent)."""
    from moto.core.responses import BaseResponse

    original = BaseResponse._dispatch
    if getattr(original, "serialised", False):
        return

    def _dispatch(self: BaseResponse, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return original(self, *args, **kwargs)

    _dispatch.serialised = True  # type: ignore[attr-defined]
    BaseResponse._dispatch = _dispatch  # type: ignore[method-assign]


def _log_line(text: str) -> None:
    # One write per line, so lines from this process and the stack's own do not interleave.
    sys.stdout.write(f"{time.strftime('%H:%M:%S')} local-aws | {text}\n")
    sys.stdout.flush()


def model_conflicts() -> None:
    """Put the conflict model in front of moto's application when the environment asks."""
    import moto.server

    from .dynamodb_conflicts import ConflictModel, ConflictSettings

    settings = ConflictSettings.from_env(os.environ)
    if settings is None:
        return
    real = moto.server.DomainDispatcherApplication  # type: ignore[attr-defined]

    def application(create_app: Any) -> ConflictModel:
        return ConflictModel(real(create_app), settings, log=_log_line)

    # moto.server.main builds its application through this name; nothing else changes.
    moto.server.DomainDispatcherApplication = application  # type: ignore[attr-defined,assignment]
    _log_line(settings.describe())


def main() -> None:
    serialise_calls()
    model_conflicts()
    from moto.server import main as moto_main

    moto_main()


if __name__ == "__main__":
    main()
