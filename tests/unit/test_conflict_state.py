"""The conflict model's decisions (ekmint_dev.dynamodb_conflicts.ConflictState) on a fake clock:
when an item is held, for how long, and when the per-item write rate throttles. Its HTTP face,
through boto3 and moto, is tests/integration/test_dynamodb_conflicts.py."""

from __future__ import annotations

from ekmint_dev.dynamodb_conflicts import ConflictSettings, ConflictState

GLOBAL = ("quota", '{"pk":{"S":"g"}}')
MINUTE_A = ("quota", '{"pk":{"S":"m#a"}}')
MINUTE_B = ("quota", '{"pk":{"S":"m#b"}}')


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state(window_ms: float = 20, writes_per_s: float = 1000) -> tuple[ConflictState, Clock]:
    clock = Clock()
    return ConflictState(ConflictSettings(window_ms, writes_per_s), clock), clock


def codes(refusal: object) -> list[str]:
    body = getattr(refusal, "body", {})
    return [r["Code"] for r in body.get("CancellationReasons", [])]


def test_a_transaction_holds_its_items_for_the_window_and_no_longer() -> None:
    model, clock = state()
    ends, refusal = model.admit_transaction([MINUTE_A, GLOBAL])
    assert refusal is None and ends == clock.now + 0.020
    clock.now += 0.019
    _, refusal = model.admit_transaction([MINUTE_B, GLOBAL])
    assert codes(refusal) == ["None", "TransactionConflict"]
    clock.now += 0.002
    assert model.admit_transaction([MINUTE_B, GLOBAL])[1] is None
    assert model.injected == 1


def test_a_cancelled_transaction_holds_nothing() -> None:
    model, _ = state()
    model.admit_transaction([GLOBAL])
    assert model.admit_transaction([MINUTE_A, GLOBAL])[1] is not None
    # MINUTE_A was not taken by the cancelled transaction.
    assert model.admit_single("UpdateItem", MINUTE_A) is None


def test_a_single_write_to_a_held_item_is_a_transaction_conflict_exception() -> None:
    model, clock = state()
    model.admit_transaction([GLOBAL])
    refusal = model.admit_single("UpdateItem", GLOBAL)
    assert refusal is not None
    assert refusal.body["__type"].endswith("#TransactionConflictException")
    clock.now += 0.021
    assert model.admit_single("UpdateItem", GLOBAL) is None


def test_a_transaction_meeting_a_single_write_in_progress_is_cancelled() -> None:
    model, clock = state(writes_per_s=100)  # one write occupies its item 10 ms
    assert model.admit_single("UpdateItem", GLOBAL) is None
    clock.now += 0.005
    assert codes(model.admit_transaction([GLOBAL])[1]) == ["TransactionConflict"]
    clock.now += 0.006
    assert model.admit_transaction([GLOBAL])[1] is None


def test_single_writes_to_one_item_queue_up_and_are_throttled_past_the_rate() -> None:
    model, clock = state(writes_per_s=5)
    assert all(model.admit_single("UpdateItem", GLOBAL) is None for _ in range(5))
    refusal = model.admit_single("UpdateItem", GLOBAL)
    assert refusal is not None
    assert refusal.body["ThrottlingReasons"] == [{"reason": "TableWriteKeyRangeThroughputExceeded"}]
    assert model.admit_single("UpdateItem", MINUTE_A) is None
    clock.now += 1.0
    assert model.admit_single("UpdateItem", GLOBAL) is None


def test_a_transactional_write_costs_two_units_of_the_items_rate() -> None:
    model, clock = state(window_ms=1, writes_per_s=4)
    assert model.admit_transaction([GLOBAL])[1] is None
    clock.now += 0.002
    assert model.admit_transaction([GLOBAL])[1] is None
    clock.now += 0.002
    _, refusal = model.admit_transaction([GLOBAL])
    assert refusal is not None and "ThrottlingReasons" in refusal.body
