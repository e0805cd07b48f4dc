"""The OpenAI Realtime emulator: its upstream contract, its fault script and its controls."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from ekmint_dev.emulator import Emulator

API_KEY = "sk-emulator.test.key.0001"
OTHER_KEY = "sk-emulator.test.key.0002"
MINT_PATH = "/realtime/client_secrets"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(api_keys=[API_KEY]) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_emulator(emulator: Emulator) -> None:
    emulator.reset()


# Shared by the module: building an httpx.Client costs ~30 ms (it loads an SSL context).
@pytest.fixture(scope="module")
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=emulator.url, headers=headers, timeout=5) as http:
        yield http


@pytest.fixture(scope="module")
def admin(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.admin_url, timeout=5) as http:
        yield http


def mint(client: httpx.Client, body: Any = None, **kwargs: Any) -> httpx.Response:
    return client.post(MINT_PATH, json={} if body is None else body, **kwargs)


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def realtime(**fields: Any) -> dict[str, Any]:
    return {"session": {"type": "realtime", **fields}}


# -- the contract: minting ------------------------------------------------------------


def test_mints_ek_value_that_expires_after_requested_seconds(client: httpx.Client) -> None:
    response = mint(client, {"expires_after": {"anchor": "created_at", "seconds": 120}})

    assert response.status_code == 200
    body = response.json()
    assert body["value"].startswith("ek_")
    assert len(body["value"]) >= len("ek_") + 32
    assert abs(body["expires_at"] - (time.time() + 120)) <= 2


def test_default_ttl_is_600_seconds(client: httpx.Client) -> None:
    response = mint(client)

    assert abs(response.json()["expires_at"] - (time.time() + 600)) <= 2


def test_echoes_effective_session_with_defaults_filled_in(client: httpx.Client) -> None:
    response = mint(client, realtime(audio={"output": {"voice": "marin"}}))

    session = response.json()["session"]
    assert session["object"] == "realtime.session"
    assert session["id"].startswith("sess_")
    assert session["model"] == "gpt-realtime"
    assert session["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "voice": "marin",
        "speed": 1.0,
    }
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert (session["tools"], session["tool_choice"], session["tracing"]) == ([], "auto", None)


def test_mints_transcription_sessions(client: httpx.Client) -> None:
    body = {"session": {"type": "transcription", "audio": {"input": {"noise_reduction": None}}}}

    response = mint(client, body)

    assert response.status_code == 200
    assert response.json()["session"]["type"] == "transcription"


def test_remembers_minted_keys_for_lookup(emulator: Emulator, client: httpx.Client) -> None:
    body = mint(client, realtime(instructions="Be brief.")).json()

    minted = emulator.lookup(body["value"])

    assert minted is not None
    assert (minted.expires_at, minted.session) == (body["expires_at"], body["session"])
    assert emulator.lookup("ek_never_minted") is None


def test_every_answer_carries_a_request_id(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_faults([{"kind": "status", "status": 503}])

    answers = [mint(client), mint(client), mint(client, headers={"Authorization": "Bearer x"})]

    assert [answer.status_code for answer in answers] == [503, 200, 401]
    assert all(answer.headers["x-request-id"].startswith("req_") for answer in answers)
    assert all(answer.headers["content-type"] == "application/json" for answer in answers)


def test_answers_retired_sessions_route_with_404(client: httpx.Client) -> None:
    response = client.post("/realtime/sessions", json={})

    assert response.status_code == 404
    assert error_of(response)["message"] == "Invalid URL (POST /v1/realtime/sessions)"


# -- the contract: authentication -----------------------------------------------------


def test_rejects_unknown_key_with_401_without_echoing_it(client: httpx.Client) -> None:
    wrong_key = "sk-wrong.key.that.must-not-be-echoed.1234"

    response = mint(client, headers={"Authorization": f"Bearer {wrong_key}"})

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"
    assert wrong_key[-4:] not in response.text
    assert "sk-" not in response.text


def test_rejects_missing_authorization_with_401(emulator: Emulator) -> None:
    response = httpx.post(f"{emulator.url}{MINT_PATH}", json={})

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"


# -- the contract: validation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        pytest.param(
            realtime(audio={"output": {"voice": "alloy", "colour": "blue"}}),
            "session.audio.output.colour",
            "unknown_parameter",
            id="unknown-field-deep-in-audio",
        ),
        pytest.param({"model": "gpt-realtime"}, "model", "unknown_parameter", id="unknown-top"),
        pytest.param(
            {"expires_after": {"seconds": 9}}, "expires_after.seconds", "invalid_value", id="ttl-9"
        ),
        pytest.param(
            {"expires_after": {"seconds": 7201}},
            "expires_after.seconds",
            "invalid_value",
            id="ttl-7201",
        ),
        pytest.param(
            {"expires_after": {"seconds": "600"}},
            "expires_after.seconds",
            "invalid_value",
            id="ttl-string",
        ),
        pytest.param(
            realtime(audio={"output": {"voice": "robot"}}),
            "session.audio.output.voice",
            "invalid_value",
            id="unknown-voice",
        ),
        pytest.param(
            realtime(audio={"output": {"speed": 1.6}}),
            "session.audio.output.speed",
            "invalid_value",
            id="speed-too-fast",
        ),
        pytest.param(realtime(model=4), "session.model", "invalid_value", id="model-not-string"),
        pytest.param({"session": {"type": "video"}}, "session.type", "invalid_value", id="type"),
        pytest.param(
            {"session": {"model": "gpt-realtime"}},
            "session.type",
            "missing_required_parameter",
            id="missing-session-type",
        ),
        pytest.param(
            realtime(tools=[{"type": "function"}]),
            "session.tools[0].name",
            "missing_required_parameter",
            id="tool-without-name",
        ),
        pytest.param(
            {"session": {"type": "transcription", "audio": {"output": {}}}},
            "session.audio.output",
            "unknown_parameter",
            id="transcription-has-no-output",
        ),
    ],
)
def test_rejects_invalid_request_with_param_and_code(
    client: httpx.Client, body: dict[str, Any], param: str, code: str
) -> None:
    response = mint(client, body)

    assert response.status_code == 400
    error = error_of(response)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


def test_rejects_body_that_is_not_json(client: httpx.Client) -> None:
    response = client.post(
        MINT_PATH, content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert error_of(response)["message"].startswith("We could not parse the JSON body")


def test_rejects_json_that_is_not_an_object(client: httpx.Client) -> None:
    response = mint(client, [{"expires_after": {"seconds": 60}}])

    assert response.status_code == 400
    assert (error_of(response)["param"], error_of(response)["code"]) == (None, "invalid_value")


def test_rejects_body_that_is_not_declared_as_json(client: httpx.Client) -> None:
    response = client.post(MINT_PATH, content=b"{}", headers={"content-type": "text/plain"})

    assert response.status_code == 400


# -- fault script ---------------------------------------------------------------------


def test_status_fault_sends_retry_headers(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_faults(
        [
            {
                "kind": "status",
                "status": 429,
                "retry_after_s": 2,
                "retry_after_ms": 1500,
                "should_retry": True,
            }
        ]
    )

    response = mint(client)

    assert response.status_code == 429
    assert error_of(response)["code"] == "rate_limit_exceeded"
    assert response.headers["retry-after"] == "2"
    assert response.headers["retry-after-ms"] == "1500"
    assert response.headers["x-should-retry"] == "true"


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "invalid_request_error"),
        (403, "invalid_request_error"),
        (404, "invalid_request_error"),
        (500, "server_error"),
        (502, "server_error"),
        (503, "server_error"),
        (504, "server_error"),
    ],
)
def test_status_fault_answers_with_openai_error_body(
    emulator: Emulator, client: httpx.Client, status: int, error_type: str
) -> None:
    emulator.set_faults([{"kind": "status", "status": status, "should_retry": False}])

    response = mint(client)

    assert response.status_code == status
    assert error_of(response)["type"] == error_type
    assert response.headers["x-should-retry"] == "false"


def test_status_fault_uses_given_code_type_and_message(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults(
        [{"kind": "status", "status": 400, "code": "x", "type": "y", "message": "z", "param": "p"}]
    )

    response = mint(client)

    assert error_of(response) == {"code": "x", "type": "y", "message": "z", "param": "p"}


def test_insufficient_quota_is_a_429_of_its_own_type(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults([{"kind": "insufficient_quota"}])

    response = mint(client)

    assert response.status_code == 429
    error = error_of(response)
    assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")


def test_hang_holds_the_answer_until_the_client_times_out(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults([{"kind": "hang"}])

    with pytest.raises(httpx.ReadTimeout):
        mint(client, timeout=0.3)

    assert (emulator.requests[-1]["fault"], emulator.requests[-1]["status"]) == ("hang", None)
    assert mint(client).status_code == 200


def test_hang_with_seconds_answers_normally_afterwards(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults([{"kind": "hang", "seconds": 0.2}])
    started = time.monotonic()

    response = mint(client)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("stage", ["before_answer", "status_line", "headers", "partial_body"])
def test_reset_breaks_the_connection_mid_answer(
    emulator: Emulator, client: httpx.Client, stage: str
) -> None:
    emulator.set_faults([{"kind": "reset", "stage": stage}])

    with pytest.raises(httpx.TransportError):
        mint(client)

    assert mint(client).status_code == 200


def test_malformed_answers_200_with_a_body_that_is_not_json(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults([{"kind": "malformed", "body": '{"value": "ek_cut'}])

    response = mint(client)

    assert response.status_code == 200
    assert response.text == '{"value": "ek_cut'
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.parametrize(
    ("kind", "missing"), [("missing_value", "value"), ("missing_expires_at", "expires_at")]
)
def test_broken_200_lacks_a_field(
    emulator: Emulator, client: httpx.Client, kind: str, missing: str
) -> None:
    emulator.set_faults([{"kind": kind}])

    response = mint(client)

    assert response.status_code == 200
    assert missing not in response.json()
    assert "session" in response.json()


def test_bad_value_is_not_an_ek_value(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_faults([{"kind": "bad_value"}, {"kind": "bad_value", "value": "sess_123"}])

    values = [mint(client).json()["value"], mint(client).json()["value"]]

    assert not values[0].startswith("ek_")
    assert values[1] == "sess_123"


def test_broken_answers_are_not_remembered_as_minted(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults([{"kind": "missing_expires_at"}])

    value = mint(client).json()["value"]

    assert emulator.lookup(value) is None


def test_repeated_fault_is_served_n_times_then_normal_answers(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults([{"kind": "status", "status": 502, "repeat": 2}])

    statuses = [mint(client).status_code for _ in range(3)]

    assert statuses == [502, 502, 200]


def test_sticky_fault_applies_until_cleared(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_faults([{"kind": "status", "status": 503, "sticky": True}])
    while_sticky = [mint(client).status_code for _ in range(4)]

    emulator.clear_faults()

    assert while_sticky == [503] * 4
    assert mint(client).status_code == 200


def test_faults_are_served_in_fifo_order(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_faults([{"kind": "status", "status": 500}, {"kind": "insufficient_quota"}])
    emulator.add_faults([{"kind": "status", "status": 429}])

    statuses = [mint(client).status_code for _ in range(4)]

    assert statuses == [500, 429, 429, 200]
    assert [entry["fault"] for entry in emulator.requests] == [
        "status",
        "insufficient_quota",
        "status",
        None,
    ]


def test_set_faults_replaces_the_queue(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_faults([{"kind": "status", "status": 500}])

    emulator.set_faults([{"kind": "status", "status": 504}])

    assert mint(client).status_code == 504
    assert mint(client).status_code == 200


def test_rejects_invalid_fault_specs(emulator: Emulator) -> None:
    with pytest.raises(ValidationError):
        emulator.set_faults([{"kind": "status", "status": 429, "sticky": True, "repeat": 3}])
    with pytest.raises(ValidationError):
        emulator.set_faults([{"kind": "explode"}])


def test_latency_delays_every_answer(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_latency(150, 150)
    started = time.monotonic()

    response = mint(client)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15


# -- key rotation ---------------------------------------------------------------------


def test_set_api_keys_rotates_the_accepted_key(emulator: Emulator, client: httpx.Client) -> None:
    emulator.set_api_keys([OTHER_KEY])

    old = mint(client)
    new = mint(client, headers={"Authorization": f"Bearer {OTHER_KEY}"})

    assert (old.status_code, new.status_code) == (401, 200)


def test_admin_keys_route_rotates_the_accepted_key(
    admin: httpx.Client, client: httpx.Client
) -> None:
    answer = admin.put("/keys", json={"api_keys": [OTHER_KEY]})

    assert OTHER_KEY not in answer.text
    assert mint(client).status_code == 401
    assert mint(client, headers={"Authorization": f"Bearer {OTHER_KEY}"}).status_code == 200


# -- request log ----------------------------------------------------------------------


def test_request_log_records_body_status_fault_and_authorization(
    emulator: Emulator, client: httpx.Client
) -> None:
    emulator.set_faults([{"kind": "status", "status": 429}])
    body = {"expires_after": {"seconds": 60}}
    mint(client, body)
    mint(client, body)
    mint(client, body, headers={"Authorization": "Bearer sk-nope"})

    log = emulator.requests

    assert [(entry["status"], entry["fault"], entry["authorized"]) for entry in log] == [
        (429, "status", True),
        (200, None, True),
        (401, None, False),
    ]
    assert all(entry["body"] == body for entry in log)
    assert all(entry["path"] == "/v1/realtime/client_secrets" for entry in log)
    assert API_KEY not in json.dumps(log)
    assert "sk-nope" not in json.dumps(log)


def test_clear_requests_empties_the_log(emulator: Emulator, client: httpx.Client) -> None:
    mint(client)

    emulator.clear_requests()

    assert emulator.requests == []


def own_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    # The emulator's own lines: other loggers (httpx's request lines) reach caplog too.
    return [r.getMessage() for r in caplog.records if r.name.startswith("ekmint_dev.emulator")]


def test_logs_one_line_per_request_without_keys_or_values(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ekmint_dev.emulator"):
        value = mint(client).json()["value"]
        mint(client, headers={"Authorization": "Bearer sk-leak-me"})
        # The server logs after it has sent the answer: wait for the second line.
        deadline = time.monotonic() + 2
        while len(own_lines(caplog)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)

    lines = own_lines(caplog)
    assert len(lines) == 2
    assert "-> 200" in lines[0]
    assert "-> 401" in lines[1]
    assert not any(secret in caplog.text for secret in (API_KEY, "sk-leak-me", value))


# -- admin API ------------------------------------------------------------------------


def test_admin_health_answers_ok(admin: httpx.Client) -> None:
    assert admin.get("/health").json() == {"ok": True}


def test_admin_routes_manage_the_fault_queue(admin: httpx.Client, client: httpx.Client) -> None:
    admin.put("/faults", json={"faults": [{"kind": "status", "status": 500, "repeat": 3}]})
    admin.post("/faults", json={"faults": [{"kind": "malformed"}]})
    mint(client)

    queued = admin.get("/faults").json()

    assert [(fault["kind"], fault["repeat"]) for fault in queued] == [
        ("status", 2),
        ("malformed", 1),
    ]
    assert admin.delete("/faults").json() == []
    assert mint(client).status_code == 200


def test_admin_rejects_invalid_faults_with_400(admin: httpx.Client) -> None:
    response = admin.post("/faults", json={"faults": [{"kind": "status"}]})

    assert response.status_code == 400
    assert admin.get("/faults").json() == []


def test_admin_routes_read_and_clear_the_request_log(
    admin: httpx.Client, client: httpx.Client
) -> None:
    mint(client, {"expires_after": {"seconds": 30}})

    logged = admin.get("/requests").json()
    cleared = admin.delete("/requests").json()

    assert [entry["body"] for entry in logged] == [{"expires_after": {"seconds": 30}}]
    assert cleared == []


def test_admin_latency_route_sets_latency(admin: httpx.Client, client: httpx.Client) -> None:
    answer = admin.post("/latency", json={"min_ms": 100, "max_ms": 120})
    started = time.monotonic()

    mint(client)

    assert answer.json() == {"min_ms": 100, "max_ms": 120}
    assert time.monotonic() - started >= 0.1


# -- connections and lifecycle --------------------------------------------------------


def test_keeps_one_connection_alive_across_answers(emulator: Emulator) -> None:
    emulator.set_faults([{"kind": "status", "status": 429}])
    before = emulator.connections_accepted
    headers = {"Authorization": f"Bearer {API_KEY}"}

    with httpx.Client(base_url=emulator.url, headers=headers) as fresh_client:
        statuses = [mint(fresh_client).status_code for _ in range(3)]
        statuses.append(mint(fresh_client, headers={"Authorization": "Bearer x"}).status_code)

    assert statuses == [429, 200, 200, 401]
    assert emulator.connections_accepted - before == 1


def test_stop_returns_promptly_while_a_request_hangs() -> None:
    emulator = Emulator(api_keys=[API_KEY]).start()
    emulator.set_faults([{"kind": "hang"}])
    outcome: list[BaseException | int] = []

    def hanging_request() -> None:
        try:
            headers = {"Authorization": f"Bearer {API_KEY}"}
            outcome.append(
                httpx.post(
                    f"{emulator.url}{MINT_PATH}", json={}, headers=headers, timeout=10
                ).status_code
            )
        except httpx.HTTPError as exc:
            outcome.append(exc)

    idle = httpx.Client(base_url=emulator.admin_url)  # a kept-alive idle connection too
    idle.get("/health")
    thread = threading.Thread(target=hanging_request)
    thread.start()
    while not emulator.requests:
        time.sleep(0.01)

    started = time.monotonic()
    emulator.stop()
    stopped_after_s = time.monotonic() - started
    thread.join(5)
    idle.close()

    assert stopped_after_s < 2
    assert isinstance(outcome[0], httpx.TransportError)


def test_binds_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Emulator(api_keys=[API_KEY], host="0.0.0.0")


def test_command_line_serves_until_sigterm() -> None:
    command = [sys.executable, "-m", "ekmint_dev.emulator", "--port", "0", "--api-key", API_KEY]
    command += ["--latency-ms", "0,5"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as process:
        assert process.stdout is not None
        startup_line = process.stdout.readline()
        url = startup_line.split()[2]
        headers = {"Authorization": f"Bearer {API_KEY}"}
        minted = httpx.post(f"{url}{MINT_PATH}", json={}, headers=headers, timeout=5)

        process.send_signal(signal.SIGTERM)

        assert process.wait(timeout=5) == 0
    assert minted.status_code == 200
