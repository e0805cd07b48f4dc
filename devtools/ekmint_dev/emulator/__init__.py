"""A local stand-in for OpenAI's `POST /v1/realtime/client_secrets` that can be told to fail,
in OpenAI's dialect or Azure OpenAI's (dialect.py).

Development only: the shipped `ekmint` package never imports it. It checks requests
against the upstream contract (docs/design.md, "OpenAI upstream facts"), mints fake
`ek_` values, and serves a FIFO script of faults (429, 5xx, hangs, resets, malformed
answers) so the client's retry and fail-closed paths can be tested without the network.

In tests::

    with Emulator(api_keys=["sk-test"]) as emulator:
        emulator.set_faults([{"kind": "status", "status": 429, "retry_after_s": 1}])
        ...  # point OPENAI_BASE_URL at emulator.url

From a shell: ``python -m ekmint_dev.emulator --port 8089 --api-key sk-local`` (add
``--dialect azure`` for an Azure resource); the same controls are then under ``/_emulator/``
(admin.py).

The package, by concern: contract.py (the request models and their validation), replies.py
(answers and the error envelopes), dialect.py (OpenAI vs Azure paths, auth and errors),
client_secrets.py (minting), faults.py (the fault script), state.py (what the connection
threads share), admin.py (/_emulator/), server.py (the HTTP handler and its `_dispatch`, with
`mounts` where other route families plug in), peer.py (the WebRTC peer glue), service.py
(`Emulator`), __main__.py (the command line).
"""

from .client_secrets import MintedKey
from .dialect import AZURE, OPENAI, Dialect
from .faults import Fault, FaultSpec, parse_faults
from .service import Emulator

__all__ = [
    "AZURE",
    "OPENAI",
    "Dialect",
    "Emulator",
    "Fault",
    "FaultSpec",
    "MintedKey",
    "parse_faults",
]
