"""What an execution environment does outside a request: get ready while it initialises, and
come back sound from a SnapStart snapshot.

`prepare_connection` opens, in the background, the connections (to OpenAI, to DynamoDB and
Secrets Manager; TCP and TLS handshakes) that the first mint would otherwise open itself: at cold
start and after a SnapStart restore. `prepare` adds the key from Secrets Manager when it is
stale: a mint calls it as it starts, so both overlap the quota charge instead of following it.
Nothing is sent to OpenAI before the quota is charged, and a failure shows up exactly where it
did before (secret_cache.py, connection.py).

SnapStart (template.yaml, EnableSnapStart): Lambda snapshots the initialised environment once
and resumes many environments from it. Before the snapshot, connections (to OpenAI and AWS) are
closed (they would be dead after a restore) and the key and any fetched AWS credentials are
dropped (no snapshot holds them); after each restore, `random` is reseeded (every restored
environment would otherwise draw the same retry jitter) and `prepare_connection` runs again for
both pools; the next mint finds the key stale and fetches it. The hooks come from
`snapshot_restore_py`, which only Lambda's Python runtime has: elsewhere registering is a no-op.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from .connection import transport_of
from .http_client import HttpClient

if TYPE_CHECKING:
    from .mint import MintDeps


def prepare_connection(http: HttpClient) -> None:
    """Open the upstream connection in the background unless one is idle or on its way."""
    transport = transport_of(http)
    if transport is not None:
        transport.prepare_in_background()


def prepare(deps: MintDeps) -> None:
    """Fetch a stale key and open a missing upstream connection, both in the background. On the
    warm path (fresh key, idle connection) a few checks and no thread."""
    deps.key_source.prefetch()
    prepare_connection(deps.http)


def before_snapshot(deps: MintDeps) -> None:
    for client in (deps.http, deps.aws_http):
        transport = transport_of(client) if client is not None else None
        if transport is not None:
            transport.reset()
    deps.key_source.forget()
    if deps.credentials is not None:
        deps.credentials.forget()


def after_restore(deps: MintDeps) -> None:
    random.seed()
    # Anything opened between the snapshot hook and the snapshot itself is dead now.
    before_snapshot(deps)
    prepare_connection(deps.http)
    if deps.aws_http is not None:
        prepare_connection(deps.aws_http)


def register_snapstart_hooks(deps: MintDeps) -> bool:
    """Register the hooks with Lambda's runtime; False where there is no such runtime."""
    try:
        # Guarded and here, not at the top: only Lambda's Python runtime has this module.
        from snapshot_restore_py import (  # type: ignore[import-not-found]  # noqa: PLC0415
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(before_snapshot, deps)
    register_after_restore(after_restore, deps)
    return True
