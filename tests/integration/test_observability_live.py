"""What operators read, checked against what the handler really writes.

The real handler runs against moto server and the OpenAI emulator through a mint, refusals
(policy, origin, quota, global cap) and failures (OpenAI unavailable, OpenAI refusing, an
unusable secret, a bug, an audit table that is gone). Then:

- every field a saved Logs Insights query (or the dashboard's log widget) reads is in the JSON
  lines the handler logged (LogTap: the lines as CloudWatch stores them);
- every metric an alarm or a dashboard widget reads is in the EMF lines the handler printed
  (Powertools Metrics `print()`s them to stdout at flush: redirect_stdout catches them);
- no line at DEBUG, from our logger or any other (a root handler at DEBUG), holds the OpenAI key
  or the ek_ value, which only the 200 body carries;
- each request's audit line says how long each phase took (secret, quota, upstream, audit).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider import cold_start
from observability_tools import (
    alarm_metrics,
    dashboard_body,
    emitted_metrics,
    flatten,
    json_lines,
    load_template,
    log_widget_queries,
    metric_is_emitted,
    missing_fields,
    resources_of_type,
    saved_queries,
    widget_metrics,
)
from support import (
    EK_VALUE,
    SECRET_VALUES,
    HandlerFactory,
    LogTap,
    body_of,
    invoke,
    post,
    sdp_offer,
)

from ekmint_dev.lambda_context import LocalLambdaContext
from ekmint_dev.local_aws import LocalNames, put_secret

FUNCTION_NAME = LocalLambdaContext().function_name
# What `${MintFunction}` in the template stands for in a local run.
STAND_INS = {"<ref:MintFunction>": FUNCTION_NAME}

# Written out here, not taken from the code under test: the phases docs/operations.md promises
# in every request's log line ("Where the time went").
PHASES = {"secret", "quota", "upstream", "audit"}


@dataclass(repr=False)  # a failing assertion must not print the minted ek_ value
class Observed:
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    log_text: str = ""  # the handler's Powertools lines (LogTap)
    stdout_text: str = ""  # everything printed during the invocations: the EMF lines
    root_text: str = ""  # every other logger, at DEBUG

    def __repr__(self) -> str:
        return f"Observed({sorted(self.results)})"

    @property
    def log_lines(self) -> list[dict[str, Any]]:
        return json_lines(self.log_text)

    @property
    def emf_lines(self) -> list[dict[str, Any]]:
        return [line for line in json_lines(self.stdout_text) if "_aws" in line]


@contextlib.contextmanager
def root_logging_at_debug(buffer: io.StringIO) -> Iterator[None]:
    root = logging.getLogger()
    tap = logging.StreamHandler(buffer)
    tap.setLevel(logging.DEBUG)
    tap.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    level = root.level
    root.addHandler(tap)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(tap)
        root.setLevel(level)


class _BuggyDynamoDB:
    """The real client, except that the quota charge hits a bug (an unexpected exception)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def update_item(self, **_: Any) -> Any:
        raise RuntimeError("injected bug")


def observe(
    make_handler: HandlerFactory,
    emu: Any,
    aws: LocalNames,
    endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Observed:
    observed = Observed()
    logs, stdout, root = io.StringIO(), io.StringIO(), io.StringIO()

    def run(name: str, handler: Any, event: dict[str, Any]) -> None:
        with LogTap(handler) as tap, contextlib.redirect_stdout(stdout):
            try:
                observed.results[name] = invoke(handler, event)
            finally:
                logs.write(tap.text)

    with root_logging_at_debug(root):
        # A fresh execution environment: Powertools keeps its cold-start flag per process.
        cold_start.reset_cold_start_flag()
        handler = make_handler()
        run("minted", handler, post({"session": {"audio": {"output": {"voice": "coral"}}}}))
        call = post(sdp_offer(), path="/api/realtime/calls", content_type="application/sdp")
        run("call_relayed", handler, call)
        run("invalid_session_config", handler, post({"session": {"model": "gpt-5-unlisted"}}))
        run("origin_not_allowed", handler, post({}, origin="https://evil.example"))
        emu.set_faults([{"kind": "status", "status": 502, "sticky": True}])
        run("openai_api_unavailable", handler, post({}))
        emu.set_faults([{"kind": "status", "status": 400, "code": "invalid_value"}])
        run("token_generation_failed", handler, post({}))
        emu.clear_faults()

        handler = make_handler(QUOTA_PER_MINUTE="1")
        run("quota_first", handler, post({}, source_ip="203.0.113.9"))
        run("rate_limited_minute", handler, post({}, source_ip="203.0.113.9"))
        # Earlier mints have charged today's global counter already: a cap of 1 is spent.
        handler = make_handler(GLOBAL_DAILY_CAP="1")
        run("rate_limited_global", handler, post({}, source_ip="203.0.113.10"))

        handler = make_handler(AUDIT_TABLE_NAME="ekmint-audit-missing")
        run("audit_unavailable", handler, post({}))

        handler = make_handler()
        buggy = dataclasses.replace(handler.deps, dynamodb=_BuggyDynamoDB(handler.deps.dynamodb))
        monkeypatch.setattr(handler, "deps", buggy)
        run("internal_error_bug", handler, post({}))

        put_secret(endpoint, aws.secret_id, "  \n")
        handler = make_handler()
        run("internal_error", handler, post({}))

    observed.log_text, observed.stdout_text = logs.getvalue(), stdout.getvalue()
    observed.root_text = root.getvalue()
    return observed


@pytest.fixture
def endpoint(moto_server: Any) -> str:
    return str(moto_server.url)


@pytest.fixture
def observed(
    make_handler: HandlerFactory,
    emu: Any,
    aws: LocalNames,
    endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Observed:
    return observe(make_handler, emu, aws, endpoint, monkeypatch)


EXPECTED = {
    "minted": (200, None),
    "call_relayed": (201, None),
    "invalid_session_config": (400, "invalid_session_config"),
    "origin_not_allowed": (403, "origin_not_allowed"),
    "openai_api_unavailable": (503, "openai_api_unavailable"),
    "token_generation_failed": (502, "token_generation_failed"),
    "quota_first": (200, None),
    "rate_limited_minute": (429, "rate_limited"),
    "rate_limited_global": (429, "rate_limited"),
    "audit_unavailable": (503, "audit_unavailable"),
    "internal_error_bug": (500, "internal_error"),
    "internal_error": (500, "internal_error"),
}


def _error_code(result: dict[str, Any]) -> str | None:
    if result["statusCode"] == 201:  # the relayed call's SDP answer
        return None
    code: str | None = body_of(result).get("error", {}).get("code")
    return code


def test_the_scenarios_end_as_intended(observed: Observed) -> None:
    outcomes = {
        name: (result["statusCode"], _error_code(result))
        for name, result in observed.results.items()
    }
    assert outcomes == EXPECTED
    limits = {line["audit"].get("quota_limit") for line in observed.log_lines if "audit" in line}
    assert {"minute", "global"} <= limits


def test_every_saved_query_reads_only_fields_the_handler_logs(observed: Observed) -> None:
    available: set[str] = set()
    for line in observed.log_lines:
        available |= flatten(line)
    template = load_template()
    body, _ = dashboard_body(template, "Dashboard")
    queries = saved_queries(template) | {
        f"dashboard log widget {i}": q for i, q in enumerate(log_widget_queries(body))
    }
    missing = {name: missing_fields(q, available) for name, q in queries.items()}
    assert {name: fields for name, fields in missing.items() if fields} == {}


def test_alarms_and_dashboard_read_metrics_the_handler_emits(observed: Observed) -> None:
    emitted = emitted_metrics(observed.emf_lines)
    # Powertools puts the service dimension on every metric, and ColdStart adds function_name.
    assert ("ekmint", "KeysMinted", frozenset({("service", "ekmint")})) in emitted
    assert ("ekmint", "CallsRelayed", frozenset({("service", "ekmint")})) in emitted
    template = load_template()
    body, _ = dashboard_body(template, "Dashboard")
    wanted = list(alarm_metrics(template).values()) + widget_metrics(body)
    ours = [m for m in wanted if m[0] == "ekmint"]
    assert len(ours) > 10
    assert [m for m in ours if not metric_is_emitted(m, emitted, STAND_INS)] == []


def _leaks(text: str) -> list[str]:
    found = [f"OpenAI key {v[:12]}…" for v in SECRET_VALUES if v in text]
    return found + [f"ek_ value {m.group()[:8]}…" for m in EK_VALUE.finditer(text)]


def test_no_line_at_debug_holds_the_openai_key_or_an_ek_value(observed: Observed) -> None:
    minted = body_of(observed.results["minted"])["value"]
    assert minted.startswith("ek_")
    assert any(line["level"] == "DEBUG" for line in observed.log_lines)
    # The root handler was live: other loggers (moto's server, the emulator) reached it.
    assert observed.root_text
    for where, text in {
        "handler log lines": observed.log_text,
        "stdout (EMF)": observed.stdout_text,
        "root logger at DEBUG": observed.root_text,
    }.items():
        assert _leaks(text) == [], where
    # The ek_ value is in the 200 body and nowhere else of any answer.
    for name, result in observed.results.items():
        without_body = json.dumps({k: v for k, v in result.items() if k != "body"})
        assert _leaks(without_body) == [], name
        if name not in {"minted", "quota_first"}:
            assert _leaks(result.get("body") or "") == [], name


def test_the_audit_line_says_where_the_time_went(observed: Observed) -> None:
    # Tracing is configuration (Tracing: Active, the optional ADOT layer); the phases of each
    # request are in its one log line, for Logs Insights.
    lines = {line["audit"]["request_id"]: line for line in observed.log_lines if "audit" in line}
    minted = observed.results["minted"]
    request_id = next(v for k, v in minted["headers"].items() if k.lower() == "x-request-id")
    phases = lines[request_id]["phases_ms"]
    assert set(phases) == PHASES
    assert all(isinstance(v, float | int) and v >= 0 for v in phases.values())
    # A refusal by policy spends no time on the secret, the quota or OpenAI.
    refused = observed.results["invalid_session_config"]
    refused_id = next(v for k, v in refused["headers"].items() if k.lower() == "x-request-id")
    assert set(lines[refused_id]["phases_ms"]) == {"audit"}


def test_every_query_and_alarm_resource_is_checked_here() -> None:
    # Guards the tests above: they read what the template has, not an empty list.
    template = load_template()
    assert len(saved_queries(template)) >= 5
    assert len(resources_of_type(template, "AWS::CloudWatch::Alarm")) >= 5
    body, _ = dashboard_body(template, "Dashboard")
    assert log_widget_queries(body)
