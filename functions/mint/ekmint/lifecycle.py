"""What an execution environment does outside a request: get ready during init, and come back
sound from a SnapStart snapshot.

The handler calls the warm-up during init (importing this module does nothing): ahead of the
first mint, what the first mint would otherwise pay for, with nothing of ours in place of a
library:
- botocore loads lazily on a client's first call (the operation's model and shapes, endpoint
  rules, the serializer and parser, the signer): `warm_aws` makes one call of each operation on
  the mint's path with botocore's own `before-send` event answering it locally, so the whole
  pipeline runs once during init and nothing goes over the network or reaches AWS;
- the first OpenAI connection (TCP and TLS handshakes): `open_openai_connection` has httpx open
  it with a request that carries no credential (`GET /models` answers 401), in a background
  thread started before the AWS clients are built, so the handshakes overlap the rest of init
  and the first invocation's work before its upstream call. A failure is ignored: the
  first mint then opens its own connection, exactly as without warm-up.

SnapStart (template.yaml, EnableSnapStart): Lambda snapshots the initialised environment once
and resumes many environments from it. Before the snapshot the OpenAI client is closed (its
connection would be dead after a restore) and the cached key dropped (no snapshot holds it);
after each restore `random` is reseeded (every restored environment would otherwise draw the same
retry jitter), a new OpenAI client is built and warmed. botocore needs nothing: urllib3 drops a
dead pooled connection before reuse, and credentials come from the environment Lambda sets for
the restored function. The hooks come from `snapshot_restore_py`, which only Lambda's Python
runtime has: elsewhere registering is a no-op.
"""

from __future__ import annotations

import contextlib
import random
import threading
from typing import Any

import httpx
from botocore.awsrequest import AWSResponse, HTTPHeaders

from .dependencies import MintDeps, openai_client

# DynamoDB operations on a mint's path, with parameters shaped as the mint sends them.
_WARM_CALLS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "update_item",
        {
            "TableName": "warm-up",
            "Key": {"pk": {"S": "warm-up"}},
            "UpdateExpression": "ADD #n :one",
            "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
            "ExpressionAttributeNames": {"#n": "n"},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": "1"}},
        },
    ),
    ("put_item", {"TableName": "warm-up", "Item": {"request_id": {"S": "warm-up"}}}),
)


def _answer_locally(request: Any, **_: Any) -> AWSResponse:
    """botocore's `before-send` hook: the first handler to return a response short-circuits the
    HTTP send (botocore.endpoint.Endpoint._send), so the call completes locally."""
    headers = HTTPHeaders()
    headers["x-amzn-requestid"] = "warm-up"
    return AWSResponse(request.url, 200, headers, _Raw(b"{}"))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def warm_aws(deps: MintDeps) -> None:
    client: Any = deps.dynamodb
    events = client.meta.events
    for operation, params in _WARM_CALLS:
        events.register_first("before-send", _answer_locally, unique_id="ekmint-warm-up")
        try:
            getattr(client, operation)(**params)
        finally:
            events.unregister("before-send", unique_id="ekmint-warm-up")


def open_openai_connection(http: httpx.Client) -> threading.Thread:
    """Open the pool's first connection in the background with a request that carries no
    credential; the answer (401 from OpenAI) is discarded."""

    def run() -> None:
        with contextlib.suppress(httpx.HTTPError):
            http.get("/models").close()

    thread = threading.Thread(target=run, name="ekmint-openai-connect", daemon=True)
    thread.start()
    return thread


def before_snapshot(deps: MintDeps) -> None:
    deps.http.close()
    deps.key_source.forget()


def after_restore(deps: MintDeps) -> None:
    random.seed()
    # Anything opened between the snapshot hook and the snapshot itself is dead now.
    deps.http.close()
    deps.key_source.forget()
    deps.http = openai_client(deps.settings)
    open_openai_connection(deps.http)


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
