"""`ekmint sam-env`: SAM's --env-vars file that points a `sam local invoke` container at the
running local stack (`make dev`): its local AWS, its OpenAI (the emulator, on a port chosen at
start, or real OpenAI), its tables and secret, plus the settings of events/env.json.

Inside the container 127.0.0.1 is the container itself, so the stack's loopback URLs are
rewritten to a host name the container can reach: `host.docker.internal` (Docker Desktop; on
Linux, `--add-host host.docker.internal:host-gateway`), or 127.0.0.1 itself with
`sam local invoke --docker-network host` (Linux). SAM sets only variables the template declares;
template.yaml declares AWS_ENDPOINT_URL for this (absent in AWS).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .function_config import FUNCTION_ID
from .local_aws import TEMPLATE
from .stack_info import StackInfo

DOCKER_HOST = "host.docker.internal"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
SETTINGS_FILE = TEMPLATE.parent / "events" / "env.json"


def reachable_from(url: str, host: str) -> str:
    """`url` with a loopback host replaced by `host`; any other URL as it is."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK_NAMES:
        return url
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def env_file(
    stack: StackInfo, settings: Mapping[str, str], host: str = DOCKER_HOST
) -> dict[str, dict[str, str]]:
    """The --env-vars document: `settings` (events/env.json's), then what only the running
    stack knows, in the function's own section (which SAM applies last)."""
    return {
        "Parameters": dict(settings),
        FUNCTION_ID: {
            "AWS_ENDPOINT_URL": reachable_from(stack.aws_endpoint, host),
            "OPENAI_BASE_URL": reachable_from(stack.openai_base_url, host),
            "UPSTREAM_PROVIDER": stack.upstream_provider,
            "OPENAI_SECRET_ID": stack.secret_id,
            "AUDIT_TABLE_NAME": stack.audit_table,
            "QUOTA_TABLE_NAME": stack.quota_table,
        },
    }


def load_settings_file(path: Path = SETTINGS_FILE) -> dict[str, str]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in (document.get("Parameters") or {}).items()}
