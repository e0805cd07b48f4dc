from __future__ import annotations

import json

from openapi_spec_validator import validate

from ekmint_dev.openapi import OUTPUT, build, render

DESIGN_TABLE = {
    "invalid_session_config": 400,
    "unauthorized": 401,
    "origin_not_allowed": 403,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "token_generation_failed": 502,
    "openai_api_unavailable": 503,
    "audit_unavailable": 503,
    "internal_error": 500,
}


def test_committed_openapi_matches_the_models() -> None:
    assert OUTPUT.read_text() == render(), "run `python -m ekmint_dev.openapi` and commit"


def test_openapi_is_a_valid_description() -> None:
    validate(json.loads(OUTPUT.read_text()))


def test_every_error_code_of_the_design_is_described_at_its_status() -> None:
    responses = build()["paths"]["/api/client-secret"]["post"]["responses"]
    for code, status in DESIGN_TABLE.items():
        assert code in responses[str(status)]["description"], code
    assert "Retry-After" in responses["429"]["headers"]
    assert "Retry-After" in responses["503"]["headers"]
