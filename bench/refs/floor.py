"""REFERENCE, NOT SHIPPED: the floor. A hello-world HTTP API handler on the same Powertools event
handler ekmint uses (APIGatewayHttpResolver) and nothing else: no AWS clients, no HTTP client, no
models. What any function built this way costs before it does anything."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()


@app.post("/api/client-secret")
def client_secret() -> dict[str, str]:
    return {"hello": "world"}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
