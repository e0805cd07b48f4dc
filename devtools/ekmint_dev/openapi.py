"""The service's OpenAPI 3 description, generated from the pydantic models at the edges.

`python -m ekmint_dev.openapi` rewrites docs/openapi.json; a test fails when the committed file
and the models drift apart.

The request models take OpenAI's whole request shape; the session policy then decides what a
caller may set. The document describes what the default policy accepts (`_narrow_to_policy`), so
every request valid against it is one the service accepts: schemathesis checks exactly that
(`positive_data_acceptance`, tests/e2e/test_schemathesis.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ekmint.errors import MintError
from ekmint.models import ClientSecretAnswer, ClientSecretRequest, ErrorEnvelope
from ekmint.settings import OPENAI_MIN_TTL_S, SessionPolicy

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REF_TEMPLATE = "#/components/schemas/{model}"


def _error_statuses() -> dict[int, list[str]]:
    statuses: dict[int, list[str]] = {}
    pending: list[type[MintError]] = [MintError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls is MintError or cls.code == "not_found":
            continue
        codes = statuses.setdefault(cls.status, [])
        if cls.code not in codes:
            codes.append(cls.code)
    return dict(sorted(statuses.items()))


def _schemas(*models: type[BaseModel]) -> dict[str, Any]:
    components: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF_TEMPLATE)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    return components


def _ref_name(schema: dict[str, Any]) -> str | None:
    for option in [schema, *schema.get("anyOf", [])]:
        if "$ref" in option:
            return str(option["$ref"]).rsplit("/", 1)[1]
    return None


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}], "default": None}


def _narrow_to_policy(schemas: dict[str, Any], policy: SessionPolicy) -> None:
    """Keep what `policy` lets a caller set (ekmint.policy.apply_policy's rules)."""
    settable = {"type", "model", "audio.output.voice", *policy.caller_fields}
    if policy.caller_instructions:
        settable.add("instructions")

    def visit(name: str, prefix: str) -> None:
        properties: dict[str, Any] = schemas[name]["properties"]
        for field, schema in list(properties.items()):
            path = f"{prefix}{field}"
            child = _ref_name(schema)
            if child is not None:
                visit(child, f"{path}.")
            elif path not in settable:
                del properties[field]  # sent, it is refused: "set by the server"

    visit("SessionRequest", "")
    session = schemas["SessionRequest"]["properties"]
    session["type"]["enum"] = list(policy.session_types)
    session["model"] = _nullable({"type": "string", "enum": list(policy.models)})
    if policy.caller_instructions:
        limit = {"maxLength": policy.max_instructions_chars}
        session["instructions"] = _nullable({"type": "string", **limit})
    voice = {"type": "string", "enum": list(policy.voices)}
    schemas["AudioOutputRequest"]["properties"]["voice"] = _nullable(voice)
    ttl = {"type": "integer", "minimum": OPENAI_MIN_TTL_S, "maximum": policy.max_ttl_s}
    schemas["ExpiresAfterRequest"]["properties"]["seconds"] = _nullable(ttl)


def build() -> dict[str, Any]:
    headers = {
        "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"},
        "Cache-Control": {"$ref": "#/components/headers/Cache-Control"},
    }
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    responses: dict[str, Any] = {
        "200": {
            "description": (
                "A client secret, its expiry, a safe summary of the session and the URL the"
                " page POSTs its SDP offer to (webrtc_url)."
            ),
            "headers": headers,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ClientSecretAnswer"}}
            },
        }
    }
    errors: dict[str, Any] = {}
    for status, codes in _error_statuses().items():
        entry: dict[str, Any] = {
            "description": "Error codes: " + ", ".join(codes),
            "headers": dict(headers),
            "content": error_content,
        }
        if status in (429, 503):
            entry["headers"]["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
        errors[str(status)] = entry
    responses |= errors
    schemas = _schemas(ClientSecretRequest, ClientSecretAnswer, ErrorEnvelope)
    _narrow_to_policy(schemas, SessionPolicy())
    call_responses: dict[str, Any] = {
        "201": {
            "description": (
                "The call was created upstream: its SDP answer, for setRemoteDescription."
            ),
            "headers": headers,
            "content": {"application/sdp": {"schema": {"type": "string"}}},
        },
        **errors,
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ekmint",
            "version": "1",
            "description": (
                "Mints short-lived OpenAI Realtime client secrets (ek_…) for browser apps. "
                "The request follows OpenAI's client-secret request; the server's session policy "
                "decides what a caller may set, and this document describes the default policy "
                "(SESSION_POLICY can open more fields or allow other models, voices and TTLs). "
                "Generated by `python -m ekmint_dev.openapi`."
            ),
        },
        "paths": {
            "/api/client-secret": {
                "post": {
                    "operationId": "createClientSecret",
                    "summary": "Mint an ephemeral OpenAI Realtime client secret",
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ClientSecretRequest"}
                            }
                        },
                    },
                    "responses": responses,
                }
            },
            "/api/realtime/calls": {
                "post": {
                    "operationId": "createRealtimeCall",
                    "summary": "Relay a WebRTC SDP offer to the upstream's /realtime/calls",
                    "description": (
                        "The page's offer is posted upstream with the server's session (the same "
                        "policy as a mint) and the real key; no credential reaches the page. "
                        "Charged to the same quota and audited like a mint (kind: call)."
                    ),
                    "parameters": [
                        {
                            "name": name,
                            "in": "query",
                            "required": False,
                            "description": f"session {name}, within the server's policy",
                            "schema": {"type": "string"},
                        }
                        for name in ("model", "voice")
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/sdp": {
                                "schema": {"type": "string", "pattern": "^v=0", "maxLength": 16384}
                            }
                        },
                    },
                    "responses": call_responses,
                }
            },
        },
        "components": {
            "schemas": schemas,
            "headers": {
                "X-Request-Id": {
                    "description": "The request's id, also in the audit record and the logs.",
                    "schema": {"type": "string"},
                },
                "Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}},
                "Retry-After": {
                    "description": "Seconds until a retry may succeed.",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                },
            },
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def main() -> int:
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
