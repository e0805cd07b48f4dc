"""How the CLI finds a running local stack: the stack writes what others need to know (its URL,
upstream, emulator admin route, table names, JWT issuer) into its own local AWS, as an SSM
parameter. `ekmint invoke/faults/token/audit` ask the moto server on LOCAL_AWS_PORT for it:
if moto answers and holds it, a stack is running. Nothing secret is in it.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .local_aws import LOCAL_ACCESS_KEY_ID, LOCAL_REGION

DEFAULT_PORT = 3000
DEFAULT_AWS_PORT = 4566
PARAMETER_NAME = "/ekmint/local/stack"
# A stack that is up answers in milliseconds; one that is not refuses the connection at once.
PROBE_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class StackInfo:
    gateway_url: str
    aws_endpoint: str
    upstream: str  # "emulator" or "openai"
    openai_base_url: str
    emulator_admin_url: str | None
    audit_table: str
    quota_table: str
    secret_id: str
    auth_mode: str
    jwt_issuer: str | None
    jwt_audience: str | None
    pid: int
    # The fault-injecting proxy the environments reach AWS through (aws_fault_proxy.py).
    aws_faults_url: str | None = None
    # UPSTREAM_PROVIDER of the stack's function: "azure" when it (or its emulator) is Azure.
    upstream_provider: str = "openai"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StackInfo:
        data: dict[str, Any] = json.loads(text)
        known: dict[str, Any] = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def aws_endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _ssm(endpoint: str) -> Any:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=LOCAL_ACCESS_KEY_ID,
        aws_secret_access_key=LOCAL_ACCESS_KEY_ID,
        region_name=LOCAL_REGION,
    )
    config = Config(
        connect_timeout=PROBE_TIMEOUT_S,
        read_timeout=PROBE_TIMEOUT_S * 5,
        retries={"max_attempts": 1, "mode": "standard"},
    )
    return session.client("ssm", endpoint_url=endpoint, config=config)


def publish(info: StackInfo) -> None:
    _ssm(info.aws_endpoint).put_parameter(
        Name=PARAMETER_NAME, Value=info.to_json(), Type="String", Overwrite=True
    )


def find(port: int) -> StackInfo | None:
    """The stack whose moto listens on `port`, or None when nothing (or no stack) is there."""
    # A bare TCP probe first: when nothing listens, that is the whole answer, fast.
    try:
        socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT_S).close()
    except OSError:
        return None
    try:
        answer = _ssm(aws_endpoint(port)).get_parameter(Name=PARAMETER_NAME)
    except (BotoCoreError, ClientError):
        return None
    return StackInfo.from_json(answer["Parameter"]["Value"])
