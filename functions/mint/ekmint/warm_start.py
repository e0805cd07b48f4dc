"""The first thing a cold start does: open the connections the first mint will need.

handler.py imports this module before anything heavy (Powertools and pydantic: ~200 ms of
imports), and importing it starts the work: background threads load the CA bundle
and open one connection each to OpenAI, DynamoDB and Secrets Manager (TCP and TLS handshakes; no
request is sent) while those imports run, and park them in `SPARES`, the `SpareConnections`
both HTTP pools are then built on. The first mint finds every handshake done instead of waiting
for the one to OpenAI (50 ms or more) after its quota charge.

Only in a function runtime (Lambda, `sam local`, the local stack and the benchmark all set
_HANDLER): a test or script importing the module opens nothing. Only the endpoints are read
here, raw from the environment; settings.py validates them later and stops the cold start if
they are wrong, as before.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from .aws_client import CONNECT_TIMEOUT_S, endpoints_of
from .connection import SpareConnections, origin_of, shared_ssl_context
from .upstream import DEFAULT_OPENAI_BASE_URL


def endpoints(environ: Mapping[str, str]) -> list[str]:
    urls = [environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE_URL]
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        urls += endpoints_of(region, environ).values()
    return urls


def begin(
    environ: Mapping[str, str], connect_timeout_s: float = CONNECT_TIMEOUT_S
) -> SpareConnections:
    """Start opening a connection to each endpoint in the background; the spares they land in."""
    # The CA bundle loads in a thread of its own, TLS endpoints or not: both pools wait for the
    # shared context before their first request (connection.py), so it is never skipped.
    threading.Thread(target=shared_ssl_context, name="ekmint-tls", daemon=True).start()
    spares = SpareConnections()
    spares.open_ahead(map(origin_of, endpoints(environ)), connect_timeout_s)
    return spares


SPARES: SpareConnections | None = begin(os.environ) if os.environ.get("_HANDLER") else None
