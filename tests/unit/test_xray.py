"""xray.py: the trace header, the daemon address, and the documents a sampled invocation sends,
as a daemon reads them: here through a real UDP socket where it matters, else a list."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ekmint import xray
from ekmint.errors import InvalidSessionConfig

ROOT = "1-6740a2b3-0123456789abcdef01234567"
PARENT = "53995c3f42cd8ad8"
SAMPLED = f"Root={ROOT};Parent={PARENT};Sampled=1;Lineage=a87bd80c:1"
ID = re.compile(r"^[0-9a-f]{16}$")


def documents(sent: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for datagram in sent:
        header, _, body = datagram.decode().partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        out.append(json.loads(body))
    return out


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


def tracer(header: str | None = SAMPLED) -> tuple[xray.Tracer, list[bytes]]:
    sent: list[bytes] = []
    environ = {"_X_AMZN_TRACE_ID": header} if header is not None else {}
    return xray.Tracer("ekmint", sent.append, clock=Clock(), environ=environ), sent


# ---------------------------------------------------------------- header and address


def test_trace_header_is_read_as_lambda_writes_it() -> None:
    assert xray.parse_trace_header(SAMPLED) == xray.TraceHeader(ROOT, PARENT, True)
    assert xray.parse_trace_header(f"Root={ROOT};Parent={PARENT};Sampled=0").sampled is False  # type: ignore[union-attr]
    assert xray.parse_trace_header(f"Root={ROOT}") == xray.TraceHeader(ROOT, None, False)
    for unusable in (None, "", "Parent=53995c3f42cd8ad8;Sampled=1", "garbage"):
        assert xray.parse_trace_header(unusable) is None


def test_daemon_address_takes_both_of_lambdas_forms() -> None:
    assert xray.daemon_address(None) == ("127.0.0.1", 2000)
    assert xray.daemon_address("169.254.79.129:2000") == ("169.254.79.129", 2000)
    both = "tcp:127.0.0.1:2000 udp:127.0.0.2:2001"
    assert xray.daemon_address(both) == ("127.0.0.2", 2001)
    for bad in ("localhost", "127.0.0.1:port", ":2000"):
        with pytest.raises(ValueError, match="AWS_XRAY_DAEMON_ADDRESS"):
            xray.daemon_address(bad)


# ---------------------------------------------------------------- what is sent


@pytest.mark.parametrize("header", [None, f"Root={ROOT};Parent={PARENT};Sampled=0"])
def test_an_unsampled_or_untraced_invocation_sends_and_builds_nothing(header: str | None) -> None:
    t, sent = tracer(header)
    with t.invocation("## lambda_handler", cold_start=True):
        assert not t.active
        with t.subsegment("## quota.charge") as entity:
            assert entity is None
        t.annotate("request_id", "r-1")
    assert sent == []


def test_a_sampled_invocation_sends_one_document_with_its_subsegments_nested() -> None:
    t, sent = tracer()
    with t.invocation("## lambda_handler", cold_start=True):
        assert t.active
        with t.subsegment("## quota.charge"), t.subsegment("dynamodb", namespace="aws") as call:
            assert call is not None
            call.aws = {"operation": "TransactWriteItems", "region": "eu-west-1"}
            call.set_http_status(200)
        t.annotate("request_id", "r-1")
        t.annotate("model", "gpt-realtime")
    assert not t.active
    (doc,) = documents(sent)
    assert doc["type"] == "subsegment"
    assert doc["trace_id"] == ROOT and doc["parent_id"] == PARENT
    assert doc["name"] == "## lambda_handler" and ID.match(doc["id"])
    assert doc["annotations"] == {
        "ColdStart": True,
        "Service": "ekmint",
        "request_id": "r-1",
        "model": "gpt-realtime",
    }
    (quota,) = doc["subsegments"]
    (call,) = quota["subsegments"]
    assert quota["name"] == "## quota.charge" and "namespace" not in quota
    assert call == {
        "name": "dynamodb",
        "id": call["id"],
        "start_time": call["start_time"],
        "end_time": call["end_time"],
        "namespace": "aws",
        "aws": {"operation": "TransactWriteItems", "region": "eu-west-1"},
        "http": {"response": {"status": 200}},
    }
    # Nested in time as in structure; each has its own id.
    assert doc["start_time"] < quota["start_time"] < call["start_time"]
    assert call["end_time"] < quota["end_time"] < doc["end_time"]
    assert len({doc["id"], quota["id"], call["id"]}) == 3


@pytest.mark.parametrize(
    ("status", "flags"),
    [
        (200, set()),
        (400, {"error"}),
        (429, {"error", "throttle"}),
        (500, {"fault"}),
        (503, {"fault"}),
    ],
)
def test_http_status_sets_xrays_flags(status: int, flags: set[str]) -> None:
    t, sent = tracer()
    with t.invocation("## lambda_handler", cold_start=False), t.subsegment("x") as entity:
        assert entity is not None
        entity.set_http_status(status)
    (child,) = documents(sent)[0]["subsegments"]
    assert {f for f in ("error", "fault", "throttle") if child.get(f)} == flags


def test_an_exception_is_recorded_and_passes_on() -> None:
    t, sent = tracer()
    with (
        pytest.raises(InvalidSessionConfig),
        t.invocation("## lambda_handler", cold_start=False),
    ):
        with pytest.raises(RuntimeError), t.subsegment("## openai.client_secrets"):
            raise RuntimeError("connect timed out")
        with t.subsegment("## policy"):
            raise InvalidSessionConfig("model is not allowed")
    (doc,) = documents(sent)
    upstream, policy = doc["subsegments"]
    # Ours or a dependency's failure is a fault; the caller's (a 4xx) an error.
    assert upstream["fault"] is True and "error" not in upstream
    assert policy["error"] is True and "fault" not in policy
    (exc,) = upstream["cause"]["exceptions"]
    assert exc["type"] == "RuntimeError" and exc["message"] == "connect timed out"
    assert ID.match(exc["id"])
    assert doc["error"] is True  # the 400 passed through the handler too


def test_a_background_threads_subsegment_nests_under_the_handler() -> None:
    t, sent = tracer()
    with t.invocation("## lambda_handler", cold_start=False), t.subsegment("## quota.charge"):

        def fetch() -> None:
            with t.subsegment("secretsmanager", namespace="aws"):
                pass

        worker = threading.Thread(target=fetch)
        worker.start()
        worker.join()
    (doc,) = documents(sent)
    # Not under the quota charge the main thread was in: under the handler.
    assert [c["name"] for c in doc["subsegments"]] == ["secretsmanager", "## quota.charge"]


def test_a_subsegment_ending_after_its_handler_goes_on_its_own() -> None:
    t, sent = tracer()
    started, finish = threading.Event(), threading.Event()

    def slow_fetch() -> None:
        with t.subsegment("secretsmanager", namespace="aws"):
            started.set()
            finish.wait(5)

    with t.invocation("## lambda_handler", cold_start=False):
        worker = threading.Thread(target=slow_fetch)
        worker.start()
        started.wait(5)
    finish.set()
    worker.join()
    handler, late = documents(sent)
    assert "subsegments" not in handler
    assert late["name"] == "secretsmanager" and late["type"] == "subsegment"
    assert late["trace_id"] == ROOT and late["parent_id"] == handler["id"]


def test_a_document_too_big_for_one_datagram_goes_child_by_child() -> None:
    t, sent = tracer()
    with t.invocation("## lambda_handler", cold_start=False):
        for i in range(4):
            with t.subsegment(f"## part {i}") as entity:
                assert entity is not None
                entity.aws = {"padding": "x" * 20_000}
    docs = documents(sent)
    assert all(len(d) <= xray.MAX_DATAGRAM for d in sent)
    *parts, handler = docs
    assert [p["name"] for p in parts] == [f"## part {i}" for i in range(4)]
    assert {p["parent_id"] for p in parts} == {handler["id"]}
    assert handler["parent_id"] == PARENT and "subsegments" not in handler


# ---------------------------------------------------------------- over UDP


@contextlib.contextmanager
def daemon() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    try:
        yield sock
    finally:
        sock.close()


def test_udp_sender_delivers_to_the_daemon_and_never_raises() -> None:
    with daemon() as sock:
        send = xray.udp_sender(sock.getsockname())
        t = xray.Tracer("ekmint", send, environ={"_X_AMZN_TRACE_ID": SAMPLED})
        with t.invocation("## lambda_handler", cold_start=True):
            pass
        (doc,) = documents([sock.recv(65536)])
        assert doc["name"] == "## lambda_handler" and doc["trace_id"] == ROOT
        address = sock.getsockname()
    # Nobody listening any more: the mint goes on.
    xray.udp_sender(address)(b"lost")
