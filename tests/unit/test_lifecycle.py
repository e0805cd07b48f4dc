"""Init-time warm-up and SnapStart's runtime hooks, tested as plain functions (the hooks'
`snapshot_restore_py` exists only in Lambda's runtime) against real local servers."""

from __future__ import annotations

import random
import sys
import threading
import types
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from ekmint import lifecycle
from ekmint.dependencies import AWS_CONFIG, MintDeps, openai_client, retry_policy
from ekmint.settings import Settings
from ekmint_dev.local_aws import LocalNames, free_port


class CountingServer:
    """An HTTP server on loopback that counts connections and logs each request's line and
    whether it carried an Authorization header."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[tuple[str, str, bool]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                outer.connections += 1

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                credential = "authorization" in self.headers or "api-key" in self.headers
                outer.requests.append((self.command, self.path, credential))
                body = b'{"error": {"message": "no key"}}'
                self.send_response(401)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeKeys:
    def __init__(self) -> None:
        self.events: list[str] = []

    def forget(self) -> None:
        self.events.append("forget")


@pytest.fixture
def server() -> Iterator[CountingServer]:
    running = CountingServer()
    yield running
    running.stop()


def deps_for(url: str, dynamodb: Any = None, provider: str = "openai") -> MintDeps:
    settings = Settings.model_validate(
        {
            "OPENAI_SECRET_ID": "s",
            "AUDIT_TABLE_NAME": "audit",
            "QUOTA_TABLE_NAME": "quota",
            "OPENAI_BASE_URL": url,
            "UPSTREAM_PROVIDER": provider,
        }
    )
    return MintDeps(
        settings=settings,
        dynamodb=dynamodb,
        key_source=FakeKeys(),  # type: ignore[arg-type]
        http=openai_client(settings),
        retry=retry_policy(settings),
        logger=None,
    )


def test_warm_aws_runs_botocores_first_call_without_the_network(aws: LocalNames) -> None:
    # Nothing listens on this port: a request that went out would fail (after retries).
    offline = boto3.client(
        "dynamodb", endpoint_url=f"http://127.0.0.1:{free_port()}", config=AWS_CONFIG
    )
    lifecycle.warm_aws(deps_for("http://127.0.0.1:9/v1", dynamodb=offline))
    # The local answer was unregistered: the same kind of client now reaches moto for real.
    online = boto3.client("dynamodb", config=AWS_CONFIG)
    lifecycle.warm_aws(deps_for("http://127.0.0.1:9/v1", dynamodb=online))
    online.put_item(TableName=aws.audit_table, Item={"request_id": {"S": "after-warm-up"}})
    stored = online.get_item(TableName=aws.audit_table, Key={"request_id": {"S": "after-warm-up"}})
    assert stored["Item"]["request_id"] == {"S": "after-warm-up"}


def test_the_first_openai_connection_is_opened_without_a_credential(
    server: CountingServer,
) -> None:
    deps = deps_for(server.url)
    lifecycle.open_openai_connection(deps.http).join(5)
    assert server.requests == [("GET", "/v1/models", False)]
    # The first mint reuses that connection.
    deps.http.post("/realtime/client_secrets", json={}, headers={"authorization": "Bearer k"})
    assert server.connections == 1
    assert server.requests[-1] == ("POST", "/v1/realtime/client_secrets", True)


def test_the_first_azure_connection_is_opened_on_its_path_without_the_key(
    server: CountingServer,
) -> None:
    base = server.url.removesuffix("/v1") + "/openai/v1"
    deps = deps_for(base, provider="azure")
    lifecycle.open_openai_connection(deps.http).join(5)
    assert server.requests == [("GET", "/openai/v1/models", False)]


def test_warm_up_ignores_an_unreachable_openai() -> None:
    deps = deps_for(f"http://127.0.0.1:{free_port()}/v1")
    lifecycle.open_openai_connection(deps.http).join(5)  # no exception escapes the thread


def test_before_snapshot_closes_the_openai_client_and_drops_the_key(
    server: CountingServer,
) -> None:
    deps = deps_for(server.url)
    lifecycle.before_snapshot(deps)
    assert deps.http.is_closed
    assert deps.key_source.events == ["forget"]  # type: ignore[attr-defined]


def test_after_restore_reseeds_random_and_builds_a_fresh_connected_client(
    server: CountingServer,
) -> None:
    deps = deps_for(server.url)
    old = deps.http
    random.seed(7)
    state = random.getstate()
    lifecycle.after_restore(deps)
    assert random.getstate() != state
    assert old.is_closed and deps.http is not old and not deps.http.is_closed
    assert deps.key_source.events == ["forget"]  # type: ignore[attr-defined]
    for _ in range(50):
        if server.requests:
            break
        threading.Event().wait(0.05)
    assert server.requests == [("GET", "/v1/models", False)]


def test_hooks_are_not_registered_outside_lambda(server: CountingServer) -> None:
    assert "snapshot_restore_py" not in sys.modules
    assert lifecycle.register_snapstart_hooks(deps_for(server.url)) is False


def test_hooks_are_registered_with_lambdas_runtime_library(
    server: CountingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered: dict[str, tuple[Callable[..., None], tuple[Any, ...]]] = {}
    fake = types.ModuleType("snapshot_restore_py")

    def recorder(name: str) -> Callable[..., None]:
        def register(func: Callable[..., None], *args: Any) -> None:
            registered[name] = (func, args)

        return register

    fake.register_before_snapshot = recorder("before")  # type: ignore[attr-defined]
    fake.register_after_restore = recorder("after")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    deps = deps_for(server.url)
    assert lifecycle.register_snapstart_hooks(deps) is True
    assert registered == {
        "before": (lifecycle.before_snapshot, (deps,)),
        "after": (lifecycle.after_restore, (deps,)),
    }
