"""The measured inputs of the bill per million mints (bench/bill.py, docs/scaling.md) against the
function as it is: what one warm mint writes to its log, and the size of its audit item. When the
function's output grows, this fails and the bill's figure is updated with it."""

from __future__ import annotations

from typing import Any

import pytest
from support import HandlerFactory, LogTap, invoke, post

from bench import bill
from ekmint_dev.local_aws import LocalNames, client

MINTS = 5
TOLERANCE = 0.2


def _attribute_bytes(value: dict[str, Any]) -> int:
    # DynamoDB's item size rules (Developer Guide, "Item sizes"): strings by UTF-8 length,
    # numbers about one byte per two digits plus one, maps and lists 3 bytes plus their parts.
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return (len(inner.lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _attribute_bytes(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_attribute_bytes(v) + 1 for v in inner)
    return len(str(inner))


def test_log_bytes_and_audit_item_size_of_a_warm_mint_match_the_bill(
    make_handler: HandlerFactory,
    emu: Any,
    aws: LocalNames,
    moto_server: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    handler = make_handler(POWERTOOLS_LOG_LEVEL="INFO")
    assert invoke(handler, post({}))["statusCode"] == 200  # the cold start's lines are not counted
    capfd.readouterr()
    # The logger's lines through a tap formatted as in CloudWatch (its handler may hold a stream
    # from an earlier test); the EMF metrics lines are printed to stdout.
    with LogTap(handler) as tap:
        for n in range(MINTS):
            assert invoke(handler, post({}, source_ip=f"192.0.2.{n}"))["statusCode"] == 200
    printed = capfd.readouterr().out.splitlines(keepends=True)
    emf = "".join(line for line in printed if line.startswith('{"_aws"'))
    # At INFO, as deployed (the logger's level may be left at DEBUG by an earlier test).
    logged = "".join(
        f"{line}\n" for line in tap.text.splitlines() if not line.startswith('{"level":"DEBUG"')
    )
    log_bytes = (len(logged.encode()) + len(emf.encode())) / MINTS
    items = client("dynamodb", moto_server.url).scan(TableName=aws.audit_table)["Items"]
    item_bytes = max(
        sum(len(k.encode()) + _attribute_bytes(v) for k, v in i.items()) for i in items
    )
    print(f"log bytes per warm mint: {log_bytes:.0f}, audit item bytes: {item_bytes}")
    assert log_bytes == pytest.approx(bill.FUNCTION_LOG_BYTES_PER_MINT, rel=TOLERANCE)
    assert item_bytes == pytest.approx(bill.AUDIT_ITEM_BYTES, rel=TOLERANCE)


def test_the_new_design_costs_fewer_write_units_and_dynamodb_is_the_largest_part() -> None:
    traffic = bill.Traffic()
    old = bill.lines_for(bill.OLD_QUOTA_WRITE_UNITS, traffic)
    new = bill.lines_for(bill.NEW_QUOTA_WRITE_UNITS, traffic)
    assert sum(new.values()) < sum(old.values())
    dynamodb = sum(v for k, v in new.items() if k.startswith("DynamoDB"))
    lam = sum(v for k, v in new.items() if k.startswith("Lambda"))
    assert dynamodb > lam
