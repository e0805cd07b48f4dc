"""One AWS call, client side: ekmint's `aws_client` against botocore (`python -m bench.aws_call`).

Both send the same PutItem to the benchmark's instant AWS stub over kept-alive loopback HTTP,
2,000 times after 200 warm-up calls; the median round trip is printed. The stub runs in this
process, so both figures include its share; the difference is the clients' own.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.config import Config

from bench.stubs import INSTANT, Stubs
from ekmint.aws_client import DYNAMODB, AwsJsonClient, make_http
from ekmint.aws_credentials import CredentialSource

CALLS = 2000
WARMUP = 200


def median_ms(call: Callable[[], object]) -> float:
    for _ in range(WARMUP):
        call()
    samples = []
    for _ in range(CALLS):
        started = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1e6


def main() -> None:
    stubs = Stubs.start(INSTANT)
    env = {
        "AWS_ACCESS_KEY_ID": "ASIABENCH",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "t",
    }
    os.environ.update(env, AWS_DEFAULT_REGION="us-east-1")
    ours = AwsJsonClient(
        make_http([stubs.aws.url]),
        DYNAMODB,
        region="us-east-1",
        endpoint=stubs.aws.url,
        credentials=CredentialSource(env, fetch_json=lambda *_: {}),
    )
    config = Config(retries={"mode": "standard", "max_attempts": 3}, parameter_validation=False)
    boto: Any = botocore.session.get_session().create_client(
        "dynamodb", endpoint_url=stubs.aws.url, config=config
    )
    item = {
        "TableName": "ekmint-audit",
        "Item": {"request_id": {"S": "bench"}, "n": {"N": "1"}},
        "ConditionExpression": "attribute_not_exists(request_id)",
    }
    for _ in range(2):
        a = median_ms(lambda: ours.call("PutItem", item))
        b = median_ms(lambda: boto.put_item(**item))
        print(f"PutItem, median of {CALLS}: aws_client {a:.3f} ms, botocore {b:.3f} ms")


if __name__ == "__main__":
    main()
