"""The DynamoDB conflict model (LOCAL_DYNAMODB_CONFLICTS=on) against moto server over HTTP, through
boto3: the error shapes and codes an SDK sees are DynamoDB's own.

The commit window is long here (1.5 s), so "inside the window" holds on a busy shared CPU; the
model's default (20 ms) is the same code with a different number."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from support import OPENAI_KEY

from ekmint_dev.dynamodb_conflicts import (
    DEFAULT_COMMIT_WINDOW_MS,
    DEFAULT_ITEM_WRITES_PER_S,
    ConflictSettings,
    ConflictSettingsError,
)
from ekmint_dev.local_aws import LocalNames, MotoProcess, client, provision

WINDOW_MS = 1500.0
ITEM_WRITES_PER_S = 10.0
TABLE = LocalNames.quota_table


@pytest.fixture(scope="module")
def conflicting_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log_path = tmp_path_factory.mktemp("moto") / "local-aws.log"
    with log_path.open("wb") as output:
        server = MotoProcess(
            conflicts=ConflictSettings(WINDOW_MS, ITEM_WRITES_PER_S), output=output
        ).start()
        try:
            yield server.url, log_path
        finally:
            server.stop()


@pytest.fixture
def dynamodb(conflicting_moto: tuple[str, Path]) -> Any:
    url, _ = conflicting_moto
    import httpx

    httpx.post(f"{url}/moto-api/reset", timeout=5).raise_for_status()
    provision(url, OPENAI_KEY)
    # One attempt per call: botocore's own retries would hide what the server answered.
    return client("dynamodb", url, config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def _add(key: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": {"pk": {"S": key}},
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def _count(dynamodb: Any, key: str) -> int:
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True)
    return int(item.get("Item", {}).get("n", {}).get("N", "0"))


def _in_background(call: Any) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        try:
            outcome["answer"] = call()
        except ClientError as exc:
            outcome["error"] = exc
        outcome["took_s"] = time.monotonic() - started

    thread = threading.Thread(target=run)
    thread.start()
    # Well inside the 1.5 s window, whatever the machine's load.
    time.sleep(0.4)
    return thread, outcome


def test_a_transaction_touching_a_held_item_is_cancelled_with_transaction_conflict(
    dynamodb: Any, conflicting_moto: tuple[str, Path]
) -> None:
    first, outcome = _in_background(
        lambda: dynamodb.transact_write_items(TransactItems=[_add("m#alice"), _add("g#day")])
    )
    with pytest.raises(ClientError) as caught:
        dynamodb.transact_write_items(TransactItems=[_add("m#bob"), _add("g#day")])
    first.join()
    error = caught.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in error["CancellationReasons"]] == ["None", "TransactionConflict"]
    assert "error" not in outcome
    # The cancelled one changed nothing; once the window is over it goes through.
    assert (_count(dynamodb, "m#bob"), _count(dynamodb, "g#day")) == (0, 1)
    dynamodb.transact_write_items(TransactItems=[_add("m#bob"), _add("g#day")])
    assert _count(dynamodb, "g#day") == 2
    _, log_path = conflicting_moto
    assert "conflict: TransactWriteItems cancelled (TransactionConflict)" in log_path.read_text()


def test_a_single_write_to_a_held_item_fails_with_transaction_conflict_exception(
    dynamodb: Any,
) -> None:
    first, _ = _in_background(
        lambda: dynamodb.transact_write_items(TransactItems=[_add("d#alice"), _add("g#day")])
    )
    with pytest.raises(ClientError) as caught:
        dynamodb.update_item(**_add("g#day")["Update"])
    # An item the transaction does not hold is written at once.
    dynamodb.update_item(**_add("g#other")["Update"])
    first.join()
    assert caught.value.response["Error"]["Code"] == "TransactionConflictException"
    assert _count(dynamodb, "g#day") == 1
    assert _count(dynamodb, "g#other") == 1


def test_a_transaction_answers_when_its_commit_window_ends(dynamodb: Any) -> None:
    started = time.monotonic()
    dynamodb.transact_write_items(TransactItems=[_add("m#carol")])
    assert time.monotonic() - started >= WINDOW_MS / 1000
    # Its caller's next transaction does not meet the one it just finished.
    dynamodb.transact_write_items(TransactItems=[_add("m#carol")])
    assert _count(dynamodb, "m#carol") == 2


def test_writes_past_the_per_item_rate_are_throttled(dynamodb: Any) -> None:
    # Writes of one item from four threads until the model throttles one: more than
    # ITEM_WRITES_PER_S of them land within a second however busy the machine is (a sequential
    # loop could spread them over more than a second and never pass the rate).
    written: list[int] = []
    refused: list[dict[str, Any]] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(200):
            with lock:
                if refused:
                    return
            try:
                dynamodb.update_item(**_add("g#hot")["Update"])
            except ClientError as exc:
                with lock:
                    refused.append(exc.response)
                return
            with lock:
                written.append(1)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert refused, "no write was throttled"
    assert refused[0]["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert len(written) >= ITEM_WRITES_PER_S
    # A throttled write changes nothing; another item is not affected.
    assert _count(dynamodb, "g#hot") == len(written)
    dynamodb.update_item(**_add("g#cold")["Update"])
    assert _count(dynamodb, "g#cold") == 1


def test_settings_default_to_dynamodb_figures_and_name_a_bad_variable() -> None:
    assert ConflictSettings.from_env({}) is None
    assert ConflictSettings.from_env({"LOCAL_DYNAMODB_CONFLICTS": "off"}) is None
    on = ConflictSettings.from_env({"LOCAL_DYNAMODB_CONFLICTS": "on"})
    assert on == ConflictSettings(DEFAULT_COMMIT_WINDOW_MS, DEFAULT_ITEM_WRITES_PER_S)
    assert (DEFAULT_COMMIT_WINDOW_MS, DEFAULT_ITEM_WRITES_PER_S) == (20.0, 1000.0)
    with pytest.raises(ConflictSettingsError, match="LOCAL_DYNAMODB_COMMIT_WINDOW_MS"):
        ConflictSettings.from_env(
            {"LOCAL_DYNAMODB_CONFLICTS": "on", "LOCAL_DYNAMODB_COMMIT_WINDOW_MS": "-1"}
        )
    with pytest.raises(ConflictSettingsError, match="LOCAL_DYNAMODB_CONFLICTS"):
        ConflictSettings.from_env({"LOCAL_DYNAMODB_CONFLICTS": "maybe"})
