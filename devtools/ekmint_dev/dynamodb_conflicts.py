"""DynamoDB's contention behaviour in front of moto (`LOCAL_DYNAMODB_CONFLICTS=on`).

moto applies calls one at a time, so it never shows what real DynamoDB does to concurrent writes
of one item. This WSGI layer sits in the local AWS server process, in front of moto, and works on
the JSON protocol itself (X-Amz-Target and the request body), so every SDK sees the error shapes
DynamoDB sends:

- A TransactWriteItems that is accepted holds its items for a commit window. Another transaction
  touching one of them inside the window is cancelled: `TransactionCanceledException`, with
  `TransactionConflict` at that item's place in `CancellationReasons`, and holds nothing. One
  that moto refuses on a condition has held its items for the window all the same (DynamoDB
  prepares every item before it knows the outcome).
- A PutItem, UpdateItem or DeleteItem of a held item fails with `TransactionConflictException`.
  A single-item write occupies its item for its share of the per-item write rate (1 ms at 1,000
  writes a second); a transaction arriving in that time is cancelled with `TransactionConflict`.
- Every write charges its item write units (1 for a single write, 2 for a transactional write of
  an item up to 1 KB); past the per-item write rate in a second the call is throttled,
  `ProvisionedThroughputExceededException` with `TableWriteKeyRangeThroughputExceeded`.
- An accepted transaction answers when its window ends, as a real commit returns after both
  phases, so a caller's next transaction never meets its own previous one.

Where the defaults come from (docs/scaling.md has the full list):

- Per-item write rate, 1,000 write units a second: "each partition is limited to 1,000 write
  units per second" (DynamoDB Developer Guide, "DynamoDB warm throughput", and "Best practices
  for designing and using partition keys effectively"); one item lives in one partition.
- Two write units per transactional write of an item up to 1 KB: Developer Guide, "Amazon
  DynamoDB Transactions: How it works", capacity management for transactions.
- Commit window, 20 ms: DynamoDB does not publish it. A write transaction is two replicated
  phases (prepare, then commit) on each item's storage node ("Distributed Transactions at Scale
  in Amazon DynamoDB", USENIX ATC 2023), each a write with DynamoDB's documented single-digit
  millisecond latency: at most about 2 x 10 ms. The upper end is taken, so the model errs on the
  side of more conflicts.
- The conflict rules themselves: Developer Guide, "Transaction conflict handling in DynamoDB".
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ENV_ENABLED = "LOCAL_DYNAMODB_CONFLICTS"
ENV_WINDOW_MS = "LOCAL_DYNAMODB_COMMIT_WINDOW_MS"
ENV_ITEM_WRITES_PER_S = "LOCAL_DYNAMODB_ITEM_WRITES_PER_S"
DEFAULT_COMMIT_WINDOW_MS = 20.0
DEFAULT_ITEM_WRITES_PER_S = 1000.0
TRANSACTION_WRITE_UNITS = 2  # per item up to 1 KB
SINGLE_WRITE_UNITS = 1
TARGET_PREFIX = "DynamoDB_20120810."
SINGLE_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
CONTENT_TYPE = "application/x-amz-json-1.0"


class ConflictSettingsError(ValueError):
    """A LOCAL_DYNAMODB_* variable has a value the model cannot use; the message names it."""


@dataclass(frozen=True)
class ConflictSettings:
    commit_window_ms: float = DEFAULT_COMMIT_WINDOW_MS
    item_writes_per_s: float = DEFAULT_ITEM_WRITES_PER_S

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ConflictSettings | None:
        """None when the model is off (unset, empty or `off`)."""
        switch = environ.get(ENV_ENABLED, "").strip().lower()
        if switch in ("", "off", "0", "false", "no"):
            return None
        if switch not in ("on", "1", "true", "yes"):
            raise ConflictSettingsError(f"{ENV_ENABLED}={switch!r}: use on or off")
        return cls(
            commit_window_ms=_positive(environ, ENV_WINDOW_MS, DEFAULT_COMMIT_WINDOW_MS),
            item_writes_per_s=_positive(environ, ENV_ITEM_WRITES_PER_S, DEFAULT_ITEM_WRITES_PER_S),
        )

    def env(self) -> dict[str, str]:
        """The variables that turn the model on with these settings in a child process."""
        return {
            ENV_ENABLED: "on",
            ENV_WINDOW_MS: f"{self.commit_window_ms:g}",
            ENV_ITEM_WRITES_PER_S: f"{self.item_writes_per_s:g}",
        }

    def describe(self) -> str:
        return (
            f"DynamoDB conflict model on: transactions hold items {self.commit_window_ms:g} ms, "
            f"{self.item_writes_per_s:g} write units/s per item"
        )


def _positive(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConflictSettingsError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ConflictSettingsError(f"{name}={raw!r} must be above 0")
    return value


ItemId = tuple[str, str]  # (table, canonical JSON of the key)
KeyNames = Callable[[str, str], tuple[str, ...] | None]  # (region, table) -> key attribute names


@dataclass
class _Item:
    held_until: float = 0.0  # an accepted transaction holds the item until then
    busy_until: float = 0.0  # a single-item write is being applied until then
    writes: deque[tuple[float, int]] = field(default_factory=deque)  # (time, units), last second

    def units_in_last_second(self, now: float) -> int:
        while self.writes and self.writes[0][0] <= now - 1.0:
            self.writes.popleft()
        return sum(units for _, units in self.writes)


@dataclass(frozen=True)
class Refusal:
    status: int
    body: dict[str, Any]
    log: str


class ConflictState:
    """The items' holds and write rates; `admit` decides, under one lock, what DynamoDB would."""

    def __init__(
        self, settings: ConflictSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._items: dict[ItemId, _Item] = {}
        self._lock = threading.Lock()
        self.injected = 0

    @property
    def window_s(self) -> float:
        return self.settings.commit_window_ms / 1000

    def _item(self, item_id: ItemId) -> _Item:
        return self._items.setdefault(item_id, _Item())

    def _throttled(self, items: list[_Item], units: int, now: float) -> bool:
        limit = self.settings.item_writes_per_s
        return any(item.units_in_last_second(now) + units > limit for item in items)

    def admit_transaction(self, item_ids: list[ItemId]) -> tuple[float, Refusal | None]:
        """(when the commit ends, None) for an accepted transaction, or (now, the refusal)."""
        with self._lock:
            now = self._clock()
            items = [self._item(i) for i in item_ids]
            conflicts = [now < it.held_until or now < it.busy_until for it in items]
            if any(conflicts):
                self.injected += 1
                reasons = [
                    {
                        "Code": "TransactionConflict",
                        "Message": "Transaction is ongoing for the item",
                    }
                    if hit
                    else {"Code": "None"}
                    for hit in conflicts
                ]
                codes = ", ".join(r["Code"] for r in reasons)
                held = [_show(i) for i, hit in zip(item_ids, conflicts, strict=True) if hit]
                return now, Refusal(
                    400,
                    {
                        "__type": f"{ERROR_PREFIX}TransactionCanceledException",
                        "Message": "Transaction cancelled, please refer cancellation reasons "
                        f"for specific reasons [{codes}]",
                        "CancellationReasons": reasons,
                    },
                    f"TransactWriteItems cancelled (TransactionConflict) on {', '.join(held)}",
                )
            if self._throttled(items, TRANSACTION_WRITE_UNITS, now):
                self.injected += 1
                return now, _throttle(item_ids, "TransactWriteItems")
            ends = now + self.window_s
            for item in items:
                item.held_until = ends
                item.writes.append((now, TRANSACTION_WRITE_UNITS))
            return ends, None

    def admit_single(self, operation: str, item_id: ItemId) -> Refusal | None:
        with self._lock:
            now = self._clock()
            item = self._item(item_id)
            if now < item.held_until:
                self.injected += 1
                return Refusal(
                    400,
                    {
                        "__type": f"{ERROR_PREFIX}TransactionConflictException",
                        "message": "Transaction is ongoing for the item",
                    },
                    f"{operation} failed (TransactionConflictException) on {_show(item_id)}, "
                    f"held by a transaction for {(item.held_until - now) * 1000:.1f} ms more",
                )
            if self._throttled([item], SINGLE_WRITE_UNITS, now):
                self.injected += 1
                return _throttle([item_id], operation)
            item.writes.append((now, SINGLE_WRITE_UNITS))
            item.busy_until = max(item.busy_until, now) + (
                SINGLE_WRITE_UNITS / self.settings.item_writes_per_s
            )
            return None

    def forget(self) -> None:
        """moto's reset: every item is gone, and so is what held it."""
        with self._lock:
            self._items.clear()


def _show(item_id: ItemId) -> str:
    table, key = item_id
    return f"{table} {key}"


def _throttle(item_ids: list[ItemId], operation: str) -> Refusal:
    return Refusal(
        400,
        {
            "__type": f"{ERROR_PREFIX}ProvisionedThroughputExceededException",
            "message": "Throughput exceeds the current throughput limit for your partition",
            "ThrottlingReasons": [{"reason": "TableWriteKeyRangeThroughputExceeded"}],
        },
        f"{operation} throttled (TableWriteKeyRangeThroughputExceeded) on "
        f"{', '.join(_show(i) for i in item_ids)}",
    )


def _key_json(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def _put_key(item: Mapping[str, Any], names: tuple[str, ...] | None) -> str:
    # A Put names the whole item, not its key; without the schema the item itself stands in
    # (it can only make the model see fewer conflicts, never invent one).
    if names is None:
        return _key_json(item)
    return _key_json({name: item[name] for name in names if name in item})


def transaction_items(request: Mapping[str, Any], region: str, key_names: KeyNames) -> list[ItemId]:
    found: list[ItemId] = []
    for action in request.get("TransactItems") or []:
        for kind, spec in action.items():
            table = str(spec.get("TableName", ""))
            if kind == "Put":
                found.append((table, _put_key(spec.get("Item") or {}, key_names(region, table))))
            else:
                found.append((table, _key_json(spec.get("Key") or {})))
    return found


def single_item(
    operation: str, request: Mapping[str, Any], region: str, key_names: KeyNames
) -> ItemId:
    table = str(request.get("TableName", ""))
    if operation == "PutItem":
        return table, _put_key(request.get("Item") or {}, key_names(region, table))
    return table, _key_json(request.get("Key") or {})


def moto_key_names(region: str, table: str) -> tuple[str, ...] | None:
    """The table's key attributes, from moto's own backend (this runs in moto's process)."""
    try:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        found = dynamodb_backends[DEFAULT_ACCOUNT_ID][region].get_table(table)
    except Exception:
        return None
    names = [found.hash_key_attr, found.range_key_attr]
    return tuple(str(n) for n in names if n)


def _region(environ: Mapping[str, Any]) -> str:
    # SigV4: "Credential=AKID/20260101/us-east-1/dynamodb/aws4_request, …"
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    try:
        return auth.split("Credential=", 1)[1].split("/")[2]
    except IndexError:
        return "us-east-1"


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ConflictModel:
    """WSGI middleware: moto behind, DynamoDB's contention in front."""

    def __init__(
        self,
        app: WsgiApp,
        settings: ConflictSettings,
        *,
        log: Callable[[str], None],
        key_names: KeyNames = moto_key_names,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.app = app
        self.state = ConflictState(settings, clock)
        self._log = log
        self._key_names = key_names
        self._clock = clock
        self._sleep = sleep
        # moto.server sets this on its application; kept so the wrapper can stand in for it.
        self.debug = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if str(environ.get("PATH_INFO", "")).startswith("/moto-api/reset"):
            self.state.forget()
            return self.app(environ, start_response)
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        operation = target.removeprefix(TARGET_PREFIX)
        if operation == target or operation not in SINGLE_WRITES | {"TransactWriteItems"}:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return self.app(environ, start_response)  # moto answers the malformed call
        region = _region(environ)
        if operation == "TransactWriteItems":
            ids = transaction_items(request, region, self._key_names)
            commit_ends, refusal = self.state.admit_transaction(ids)
        else:
            commit_ends = 0.0
            refusal = self.state.admit_single(
                operation, single_item(operation, request, region, self._key_names)
            )
        if refusal is not None:
            self._log(f"conflict: {refusal.log}")
            payload = json.dumps(refusal.body).encode()
            start_response(
                f"{refusal.status} Bad Request",
                [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        # moto applies the call at once; the answer waits for the end of the commit window.
        answer = list(self.app(environ, start_response))
        wait_s = commit_ends - self._clock()
        if wait_s > 0:
            self._sleep(wait_s)
        return answer
