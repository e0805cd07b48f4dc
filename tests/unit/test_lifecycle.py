"""SnapStart's runtime hooks and the preparation they share with cold starts: tested as plain
functions, since `snapshot_restore_py` exists only in Lambda's runtime."""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
from test_connection import CountingServer, client_for

from ekmint import lifecycle
from ekmint.aws_client import make_http
from ekmint.connection import transport_of


class FakeKeys:
    def __init__(self) -> None:
        self.events: list[str] = []

    def prefetch(self) -> None:
        self.events.append("prefetch")

    def forget(self) -> None:
        self.events.append("forget")


class Deps:
    def __init__(self, url: str, aws_url: str | None = None) -> None:
        self.http = client_for(url)
        self.key_source = FakeKeys()
        self.aws_http = make_http([aws_url]) if aws_url else None
        # Stands for the AWS CredentialSource: only forget() is called.
        self.credentials = FakeKeys() if aws_url else None


@pytest.fixture
def server() -> Any:
    running = CountingServer()
    yield running
    running.stop()


@pytest.fixture
def aws_server() -> Any:
    running = CountingServer()
    yield running
    running.stop()


def test_before_snapshot_closes_connections_and_drops_the_key(
    server: CountingServer, aws_server: CountingServer
) -> None:
    deps = Deps(server.url, aws_server.url)
    assert deps.aws_http is not None and deps.credentials is not None
    deps.http.post(deps.http.url("/x"), content=b"{}")
    deps.aws_http.post(aws_server.url + "/", content=b"{}")
    lifecycle.before_snapshot(deps)  # type: ignore[arg-type]
    for client in (deps.http, deps.aws_http):
        transport = transport_of(client)
        assert transport is not None and transport.idle_connections() == 0
    assert deps.key_source.events == ["forget"]
    assert deps.credentials.events == ["forget"]


def test_after_restore_reseeds_random_and_opens_fresh_connections(
    server: CountingServer, aws_server: CountingServer
) -> None:
    deps = Deps(server.url, aws_server.url)
    random.seed(7)
    state = random.getstate()
    lifecycle.after_restore(deps)  # type: ignore[arg-type]
    assert random.getstate() != state
    for client, running in ((deps.http, server), (deps.aws_http, aws_server)):
        assert client is not None
        transport = transport_of(client)
        assert transport is not None
        transport.prepare()  # joins the background preparation (no second connection)
        assert running.counts((1, 0)) == (1, 0)
    assert deps.key_source.events == ["forget"]


def test_prepare_fetches_the_key_and_opens_the_connection(server: CountingServer) -> None:
    deps = Deps(server.url)
    lifecycle.prepare(deps)  # type: ignore[arg-type]
    deps.http.post(deps.http.url("/x"), content=b"{}")
    assert deps.key_source.events == ["prefetch"]
    assert server.counts((1, 1)) == (1, 1)


def test_hooks_are_not_registered_outside_lambda(server: CountingServer) -> None:
    assert "snapshot_restore_py" not in sys.modules
    assert lifecycle.register_snapstart_hooks(Deps(server.url)) is False  # type: ignore[arg-type]


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
    deps = Deps(server.url)
    assert lifecycle.register_snapstart_hooks(deps) is True  # type: ignore[arg-type]
    assert registered == {
        "before": (lifecycle.before_snapshot, (deps,)),
        "after": (lifecycle.after_restore, (deps,)),
    }
