"""moto as the local stack runs it (devtools/ekmint_dev/moto_server.py), over real HTTP."""

from __future__ import annotations

import time

from ekmint_dev.local_aws import LocalNames, MotoProcess, MotoServer, client, provision


def charge(endpoint: str, table: str, n: int) -> None:
    dynamodb = client("dynamodb", endpoint)
    for i in range(n):
        # The quota's write: one transaction per mint (functions/mint/ekmint/quota.py).
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": f"m#caller-{i % 10}"}},
                        "UpdateExpression": "ADD #n :one",
                        "ExpressionAttributeNames": {"#n": "n"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                }
            ]
        )


def test_transactions_leave_no_copies_behind(moto_server: MotoServer, aws: LocalNames) -> None:
    # moto's TransactWriteItems deep-copies the table as a rollback copy, and moto used to keep
    # every instance it ever made: memory grew with requests x table size (issue 17, item 8).
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    charge(moto_server.url, aws.quota_table, 5)
    before = len(Table.instances_tracked), len(Item.instances_tracked)  # type: ignore[attr-defined]
    charge(moto_server.url, aws.quota_table, 40)
    after = len(Table.instances_tracked), len(Item.instances_tracked)  # type: ignore[attr-defined]
    assert after == before


def test_a_busy_local_aws_stops_at_once() -> None:
    moto = MotoProcess().start()
    try:
        names = provision(moto.url, "sk-unused")
        charge(moto.url, names.quota_table, 300)
    finally:
        started = time.monotonic()
        moto.stop()
    assert time.monotonic() - started < 0.5
