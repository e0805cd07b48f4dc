"""Local AWS for development and tests: moto server over real HTTP, with the tables created from
template.yaml's own definitions (no second copy of the schema to drift) and the secret filled."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3
import yaml

from .dynamodb_conflicts import ENV_ENABLED, ConflictSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
TABLES = ("AuditTable", "QuotaTable")
# moto accepts any credentials; fixed ones keep a developer's real profile out of the way.
LOCAL_ACCESS_KEY_ID = "testing"
LOCAL_REGION = "us-east-1"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML, turning short-form tags (!Ref, !Sub …) into plain dicts."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type,unused-ignore]
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506
    return document


def create_table_args(properties: dict[str, Any], name: str) -> tuple[dict[str, Any], str | None]:
    """CloudFormation table properties -> (CreateTable arguments, TTL attribute)."""
    args: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if properties.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    ttl = properties.get("TimeToLiveSpecification") or {}
    return args, ttl.get("AttributeName") if ttl.get("Enabled") else None


@dataclass(frozen=True)
class LocalNames:
    audit_table: str = "ekmint-audit"
    quota_table: str = "ekmint-quota"
    secret_id: str = "ekmint/openai-api-key"


def client(service: str, endpoint_url: str, config: Any = None) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=LOCAL_ACCESS_KEY_ID,
        aws_secret_access_key=LOCAL_ACCESS_KEY_ID,
        region_name=LOCAL_REGION,
    )
    return session.client(  # type: ignore[call-overload]
        service, endpoint_url=endpoint_url, config=config
    )


def provision(
    endpoint_url: str, openai_key: str, names: LocalNames = LocalNames(), template: Path = TEMPLATE
) -> LocalNames:
    """Create (or reset) the tables and the secret on a running moto server."""
    resources = load_template(template)["Resources"]
    dynamodb = client("dynamodb", endpoint_url)
    existing = set(dynamodb.list_tables()["TableNames"])
    for logical_id, name in (("AuditTable", names.audit_table), ("QuotaTable", names.quota_table)):
        if name in existing:
            continue
        args, ttl_attribute = create_table_args(resources[logical_id]["Properties"], name)
        dynamodb.create_table(**args)
        if ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl_attribute, "Enabled": True},
            )
    put_secret(endpoint_url, names.secret_id, openai_key)
    return names


def put_secret(endpoint_url: str, secret_id: str, value: str) -> None:
    secrets = client("secretsmanager", endpoint_url)
    try:
        secrets.create_secret(Name=secret_id, SecretString=value)
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=secret_id, SecretString=value)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _require_free(port: int) -> None:
    # moto's server binds after start() returns control (in a thread or a child process):
    # a taken port is found here, with an error that names it.
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise OSError(f"port {port} for local AWS is in use: {exc}") from None


class MotoServer:
    """moto's threaded server on loopback, in this process, behind the local guard
    (moto_server.py); `url` is what AWS_ENDPOINT_URL points at."""

    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> MotoServer:
        from .moto_server import build_server

        _require_free(self.port)  # named in the error, rather than werkzeug's
        self._server = build_server("127.0.0.1", self.port)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="ekmint-moto",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        # shutdown() stops serving but keeps the socket; close it so the port is free at once.
        self._server.server_close()
        self._server = None

    def reset(self) -> None:
        """Forget every resource (moto's own reset route)."""
        import httpx

        httpx.post(f"{self.url}/moto-api/reset", timeout=5).raise_for_status()


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM when the process that started it dies, even by SIGKILL,
    # so a killed stack never leaves a moto server holding its port.
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class MotoProcess:
    """moto server in a process of its own: the local stack's gateway, proxy and emulator then
    do not share one interpreter lock with it (about twice the throughput under load).

    With `conflicts`, DynamoDB's contention is modelled in that process (dynamodb_conflicts.py);
    its log lines (one per injected conflict) go to `output`, this process's stdout by default.
    """

    READY_TIMEOUT_S = 20.0

    def __init__(
        self,
        port: int = 0,
        conflicts: ConflictSettings | None = None,
        output: IO[bytes] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conflicts = conflicts
        self._output = output
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoProcess:
        import httpx

        _require_free(self.port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOCAL_DYNAMODB_")}
        env |= self.conflicts.env() if self.conflicts else {ENV_ENABLED: "off"}
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ekmint_dev.moto_server",
                "-H",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            stdin=subprocess.DEVNULL,
            # moto prints nothing worth showing; the conflict model prints what it injects.
            stdout=(self._output or None) if self.conflicts else subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
        deadline = time.monotonic() + self.READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise OSError(f"moto server exited with {self._process.returncode}")
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=0.5)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise OSError(f"moto server did not start within {self.READY_TIMEOUT_S} s")

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def reset(self) -> None:
        import httpx

        httpx.post(f"{self.url}/moto-api/reset", timeout=5).raise_for_status()
