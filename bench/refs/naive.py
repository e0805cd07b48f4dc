"""REFERENCE, NOT SHIPPED: the naive mint function, as a developer writes it from the docs.

What the benchmark compares ekmint with. It follows the documented, obvious path:

- OpenAI's Python SDK with its defaults: `OpenAI(api_key=..., base_url=...)` and
  `client.realtime.client_secrets.create(...)` (600 s timeout, 2 retries, its own httpx pool);
- the key read with boto3's `get_secret_value` on every request, as Secrets Manager's sample
  code does, handed to the SDK per request with `with_options(api_key=...)` (the SDK's documented
  per-request override, which keeps its connection pool);
- the audit record written with the DynamoDB resource API's `Table.put_item`, as in the boto3
  guide;
- clients built once at module scope (AWS's Lambda best practices), routing by the same
  Powertools event handler as ekmint.

No session policy, no quota, no retry budget, no metrics: it does less than ekmint, on purpose.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from typing import Any, cast

import boto3
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from openai import OpenAI

SECRET_ID = os.environ["OPENAI_SECRET_ID"]

secretsmanager = boto3.client("secretsmanager")
audit_table = boto3.resource("dynamodb").Table(os.environ["AUDIT_TABLE_NAME"])
# The SDK wants a key to construct; the real one is read from Secrets Manager on each request.
openai_client = OpenAI(api_key="set-per-request", base_url=os.environ.get("OPENAI_BASE_URL"))
app = APIGatewayHttpResolver()


@app.post("/api/client-secret")
def client_secret() -> dict[str, Any]:
    body = app.current_event.json_body or {}
    api_key = secretsmanager.get_secret_value(SecretId=SECRET_ID)["SecretString"]
    session: dict[str, Any] = {
        "type": "realtime",
        "model": "gpt-realtime",
        "audio": {"output": {"voice": "marin"}},
        **(body.get("session") or {}),
    }
    secret = openai_client.with_options(api_key=api_key).realtime.client_secrets.create(
        session=cast(Any, session),
        expires_after={"anchor": "created_at", "seconds": 300},
    )
    event = app.current_event
    audit_table.put_item(
        Item={
            "request_id": event.request_context.request_id,
            "ts": datetime.now(UTC).isoformat(),
            "principal": event.request_context.http.source_ip,
            "model": session["model"],
            "expires_at": secret.expires_at,
            "key_fingerprint": hashlib.sha256(secret.value.encode()).hexdigest()[:32],
        }
    )
    return {
        "value": secret.value,
        "expires_at": secret.expires_at,
        "session": {"type": "realtime", "model": session["model"]},
    }


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
