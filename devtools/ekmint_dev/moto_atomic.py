"""moto server with every AWS call applied one at a time, as DynamoDB applies writes to an item.

moto's threaded server runs calls concurrently without locking its backends, so two conditional
updates of the same counter can both read 19 and both write 20: an over-issue that real DynamoDB
(atomic conditional writes) never shows. The load campaign found exactly that. Serialising calls
makes moto's answers match DynamoDB's guarantees; the cost is nothing that matters locally.

moto_server.py applies it to the local stack's moto.
"""

from __future__ import annotations

import threading
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
