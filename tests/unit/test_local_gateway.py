"""The local stack's API Gateway stand-ins, piece by piece: the JWT authorizer's rules, CORS,
the payload 2.0 mapping, the static files, SAM's env file, and audit reads without a Scan.
(tests/e2e/test_local_stack.py runs them all together.)"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from ekmint_dev import static_site
from ekmint_dev.audit_query import AuditFilter, parse_time, read_records, ts_key
from ekmint_dev.events import claim_string, http_api_event
from ekmint_dev.function_config import function_definition, load_env_file, pick_settable
from ekmint_dev.gateway import CorsConfig, Gateway, GatewayConfig, integration_answer
from ekmint_dev.jwt_local import Denied, JwtAuthorizer, SigningKey, issue_token, load_or_create_key
from ekmint_dev.workers import Invocation

ISSUER = "http://127.0.0.1:3000/local-issuer"


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return load_or_create_key(tmp_path_factory.mktemp("jwt"))


@pytest.fixture
def authorizer(key: SigningKey) -> JwtAuthorizer:
    return JwtAuthorizer(key, ISSUER, ("ekmint-local",))


def refusal(authorizer: JwtAuthorizer, header: str | None) -> str:
    with pytest.raises(Denied) as denied:
        authorizer.authorize(header)
    return denied.value.www_authenticate


# -- JWT authorizer --------------------------------------------------------------------------


def test_valid_token_yields_its_claims_with_or_without_bearer(
    key: SigningKey, authorizer: JwtAuthorizer
) -> None:
    token = issue_token(key, sub="alice", issuer=ISSUER, audience="ekmint-local")
    assert authorizer.authorize(f"Bearer {token}")["sub"] == "alice"
    assert authorizer.authorize(token)["sub"] == "alice"


def test_missing_token_gets_the_bare_bearer_challenge(authorizer: JwtAuthorizer) -> None:
    assert refusal(authorizer, None) == "Bearer"
    assert refusal(authorizer, "Bearer ") == "Bearer"


def test_key_is_created_once_and_reused(tmp_path: Path) -> None:
    assert load_or_create_key(tmp_path).kid == load_or_create_key(tmp_path).kid
    assert (tmp_path / "jwt-signing-key.pem").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://elsewhere.example"}, "valid issuer"),
        ({"aud": "other"}, "valid audience"),
        ({"exp": int(time.time()) - 1}, "expired"),
        ({"nbf": int(time.time()) + 600}, "not valid yet"),
    ],
)
def test_claims_are_checked_like_api_gateway(
    key: SigningKey, authorizer: JwtAuthorizer, claims: dict[str, Any], reason: str
) -> None:
    token = issue_token(key, sub="x", issuer=ISSUER, audience="ekmint-local", claims=claims)
    assert reason in refusal(authorizer, token)


def test_client_id_counts_only_without_aud(key: SigningKey, authorizer: JwtAuthorizer) -> None:
    base = {"sub": "x", "iss": ISSUER, "exp": int(time.time()) + 60}
    headers = {"kid": key.kid}
    only_client = jwt.encode(
        base | {"client_id": "ekmint-local"}, key.private_key, "RS256", headers
    )
    assert authorizer.authorize(only_client)["sub"] == "x"
    aud_wins = jwt.encode(
        base | {"client_id": "ekmint-local", "aud": "other"}, key.private_key, "RS256", headers
    )
    assert "audience" in refusal(authorizer, aud_wins)


def test_only_rsa_signatures_from_a_known_key_are_accepted(
    key: SigningKey, authorizer: JwtAuthorizer
) -> None:
    claims = {"sub": "x", "iss": ISSUER, "aud": "ekmint-local", "exp": int(time.time()) + 60}
    hmac_token = jwt.encode(claims, "a-shared-secret-long-enough-for-hs256", "HS256")
    assert "HS256 is invalid" in refusal(authorizer, hmac_token)
    unknown_kid = jwt.encode(claims, key.private_key, "RS256", {"kid": "someone-elses"})
    assert "kid" in refusal(authorizer, unknown_kid)
    assert "malformed" in refusal(authorizer, "not.a.token")


def test_claims_reach_the_event_as_api_gateway_strings() -> None:
    event = http_api_event(
        "POST",
        "/api/client-secret",
        [],
        b"",
        jwt_claims={"sub": "a", "exp": 5, "groups": ["x", "y"]},
    )
    assert event["requestContext"]["authorizer"]["jwt"]["claims"] == {
        "sub": "a",
        "exp": "5",
        "groups": "[x y]",
    }
    assert claim_string(True) == "true"


def test_query_string_becomes_parameters() -> None:
    event = http_api_event("POST", "/p", [], b"", query="a=1&a=2&b=")
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}


# -- CORS and the integration's answer -------------------------------------------------------


def test_cors_grants_only_listed_origins() -> None:
    cors = CorsConfig(allow_origins=("http://localhost:3000",))
    assert cors.preflight_headers("https://evil.example") == []
    granted = dict(cors.preflight_headers("http://localhost:3000"))
    assert granted["access-control-allow-origin"] == "http://localhost:3000"
    assert granted["access-control-max-age"] == "600"


def test_integration_answer_follows_payload_2_rules() -> None:
    status, headers, body = integration_answer(
        {
            "statusCode": 201,
            "headers": {"X-A": "1"},
            "cookies": ["c=1"],
            "body": "aGk=",
            "isBase64Encoded": True,
        }
    )
    assert (status, body) == (201, b"hi")
    assert ("x-a", "1") in headers and ("set-cookie", "c=1") in headers
    # Anything without statusCode is the "inferred" format: a 200 JSON body.
    assert integration_answer({"hello": 1})[::2] == (200, b'{"hello": 1}')


# -- static files ----------------------------------------------------------------------------


def test_static_site_serves_files_and_nothing_outside(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<h1>hi</h1>")
    (root / "js" / "app.mjs").write_text("export {}")
    (root / ".env").write_text("SECRET=1")
    (tmp_path / "outside.txt").write_text("no")
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    index = static_site.resolve(root, "/")
    assert index is not None and index.content_type.startswith("text/html")
    module = static_site.resolve(root, "/js/app.mjs")
    assert module is not None and module.content_type.startswith("text/javascript")
    for path in ("/../outside.txt", "/%2e%2e/outside.txt", "/.env", "/link.txt", "/js", "/nope"):
        assert static_site.resolve(root, path) is None, path
    assert static_site.resolve(tmp_path / "missing", "/") is None


# -- SAM's env file --------------------------------------------------------------------------


def test_env_file_function_section_overrides_parameters(tmp_path: Path) -> None:
    path = tmp_path / "env.json"
    path.write_text(
        json.dumps(
            {
                "Parameters": {"AUTH_MODE": "none", "QUOTA_PER_DAY": "5", "UNRELATED": "x"},
                "MintFunction": {"AUTH_MODE": "jwt"},
                "OtherFunction": {"QUOTA_PER_DAY": "9"},
            }
        )
    )
    values = load_env_file(path)
    assert (values["AUTH_MODE"], values["QUOTA_PER_DAY"]) == ("jwt", "5")
    assert "UNRELATED" not in pick_settable(values, function_definition())


def test_local_runs_never_take_the_aws_endpoint_from_a_file_or_the_shell() -> None:
    # The template declares AWS_ENDPOINT_URL for `sam local invoke`; `make dev` and `ekmint
    # invoke` set it to their own local AWS, and a developer's shell or a Docker env file
    # (pointing at host.docker.internal) must not move it.
    definition = function_definition()
    assert "AWS_ENDPOINT_URL" in definition.declared
    assert "AWS_ENDPOINT_URL" not in definition.defaults
    assert "AWS_ENDPOINT_URL" not in definition.settable
    values = {"AWS_ENDPOINT_URL": "http://host.docker.internal:4566", "AUTH_MODE": "none"}
    assert pick_settable(values, definition) == {"AUTH_MODE": "none"}


def test_function_definition_comes_from_the_template() -> None:
    definition = function_definition()
    assert definition.handler == "ekmint.handler.lambda_handler"
    assert definition.timeout_s == 25
    assert definition.defaults["POWERTOOLS_SERVICE_NAME"] == "ekmint"
    assert "QUOTA_PER_MINUTE" not in definition.defaults  # "" in the template: mode default
    assert definition.routes == ("POST /api/client-secret", "POST /api/realtime/calls")


def test_the_gateway_routes_the_templates_routes_and_nothing_else() -> None:
    events: list[Mapping[str, Any]] = []

    def invoke(event: Mapping[str, Any], request_id: str, wait_s: float) -> Invocation:
        events.append(event)
        return Invocation({"statusCode": 201, "body": "v=0"}, 1, False, None, 1.0)

    routes = function_definition().routes
    config = GatewayConfig(cors=CorsConfig(allow_origins=()), routes=routes)
    gateway = Gateway(0, config, invoke, log=lambda line: None)
    try:
        offer = b"v=0\r\n"
        host = ("host", f"127.0.0.1:{gateway.port}")
        sdp = [host, ("content-type", "application/sdp")]
        answer = gateway.handle("POST", "/api/realtime/calls?voice=cedar", sdp, offer, "127.0.0.1")
        assert answer.status == 201
        (event,) = events
        assert event["routeKey"] == "POST /api/realtime/calls"
        assert event["rawPath"] == "/api/realtime/calls"
        assert event["queryStringParameters"] == {"voice": "cedar"}
        # Not a text type for API Gateway: the body arrives base64-encoded, as in AWS.
        assert event["isBase64Encoded"] is True
        assert gateway.handle("GET", "/api/realtime/calls", [host], b"", "127.0.0.1").status == 404
        assert gateway.handle("POST", "/api/other", [host], b"", "127.0.0.1").status == 404
        assert len(events) == 1
    finally:
        gateway.stop()


# -- audit reads -----------------------------------------------------------------------------


class RecordingTable:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def query(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("Query", kwargs))
        return {"Items": []}

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("GetItem", kwargs))
        return {}


def test_a_time_range_is_one_query_per_day_on_by_day() -> None:
    table = RecordingTable()
    wanted = AuditFilter(since=parse_time("2026-11-23T12:00:00Z"), until=parse_time("2026-11-25"))
    assert list(read_records(table, "audit", wanted)) == []
    days = [kwargs["ExpressionAttributeValues"][":day"]["S"] for _, kwargs in table.calls]
    assert days == ["2026-11-23", "2026-11-24", "2026-11-25"]
    assert {kwargs["IndexName"] for _, kwargs in table.calls} == {"by_day"}


def test_principal_and_request_id_use_their_own_key() -> None:
    table = RecordingTable()
    list(read_records(table, "audit", AuditFilter(principal="alice")))
    list(read_records(table, "audit", AuditFilter(request_id="r1")))
    assert [name for name, _ in table.calls] == ["Query", "GetItem"]
    assert table.calls[0][1]["IndexName"] == "by_principal"


def test_times_compare_in_the_records_own_format() -> None:
    assert ts_key(parse_time("2026-11-25T23:00:00+01:00")) == "2026-11-25T22:00:00.000Z"
    assert parse_time("2026-11-25", end_of_day=True) == datetime(
        2026, 11, 25, 23, 59, 59, 999000, tzinfo=UTC
    )
