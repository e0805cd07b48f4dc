"""The cold start's first step: connections to OpenAI and AWS opened while the handler's
imports run, and handed to the pools built afterwards. Nothing is sent on them."""

from __future__ import annotations

from test_connection import CountingServer

from ekmint import warm_start
from ekmint.aws_client import make_http
from ekmint.upstream import RetryPolicy, make_client


def test_endpoints_are_openai_and_both_aws_services() -> None:
    env = {"AWS_REGION": "eu-west-1"}
    assert warm_start.endpoints(env) == [
        "https://api.openai.com/v1",
        "https://dynamodb.eu-west-1.amazonaws.com",
        "https://secretsmanager.eu-west-1.amazonaws.com",
    ]


def test_connections_opened_early_carry_the_first_requests() -> None:
    openai, aws = CountingServer(), CountingServer()
    try:
        env = {
            "OPENAI_BASE_URL": openai.url,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": aws.url,
        }
        spares = warm_start.begin(env)
        # One per origin: DynamoDB and Secrets Manager share the local endpoint here.
        assert (openai.counts((1, 0)), aws.counts((1, 0))) == ((1, 0), (1, 0))
        upstream = make_client(openai.url, RetryPolicy(), spares)
        aws_http = make_http([aws.url], spares=spares)
        assert upstream.post(upstream.url("/x"), content=b"{}").status_code == 200
        assert aws_http.post(aws.url + "/", content=b"{}").status_code == 200
        assert (openai.counts((1, 1)), aws.counts((1, 1))) == ((1, 1), (1, 1))
    finally:
        openai.stop()
        aws.stop()


def test_nothing_is_opened_outside_a_function_runtime() -> None:
    # pytest sets no _HANDLER, so importing the module started nothing.
    assert warm_start.SPARES is None
