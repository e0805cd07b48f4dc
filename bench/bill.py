"""The whole AWS bill per million mints, old quota design against new (docs/scaling.md).

`python -m bench.bill` prints it; `make bench` prints it after its measurements. Every price is
a published us-east-1 list price (first tier), every per-mint quantity is either measured here
(log bytes, audit item size: tests/integration/test_bill_inputs.py checks them against the
function) or taken from the design (write units per call, from DynamoDB's pricing rules).

Formula, per million mints (N = 1e6):
  Lambda       N x (requests price + GB x (billed s + cold share x init s) x GB-s price)
  API Gateway  N x HTTP API price per request (one request up to 512 KB)
  DynamoDB     N x write units per mint x write price
               + audit storage: N x item bytes x (1 + GSIs) x months kept x (storage + PITR price)
  Secrets      N x (reads per mint) x call price; reads per mint = concurrency / (max age x rate)
  Logs         N x (function + platform + access log bytes) x ingestion price
  X-Ray        N x sampled share x trace price; share = (1/s + 5% of the rest) / rate
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

# -- prices: us-east-1 list prices, first tier, as published (current 2026-11) -----------------
# aws.amazon.com/lambda/pricing: Arm. INIT is billed like duration for on-demand functions
# since 2025-08-01 ("AWS Lambda standardizes billing for INIT phase").
LAMBDA_USD_PER_GB_S = 0.0000133334
LAMBDA_USD_PER_REQUEST = 0.20 / 1e6
# aws.amazon.com/api-gateway/pricing: HTTP APIs, first 300 million a month, per 512 KB request.
HTTP_API_USD_PER_REQUEST = 1.00 / 1e6
# aws.amazon.com/dynamodb/pricing/on-demand: $0.625 per million write request units (after the
# November 2024 price cut), storage $0.25 per GB-month, continuous backups (PITR, on in
# template.yaml) $0.20 per GB-month.
DYNAMODB_USD_PER_WRITE_UNIT = 0.625 / 1e6
DYNAMODB_USD_PER_GB_MONTH = 0.25
PITR_USD_PER_GB_MONTH = 0.20
# aws.amazon.com/secrets-manager/pricing: $0.05 per 10,000 API calls.
SECRETS_USD_PER_CALL = 0.05 / 10_000
# aws.amazon.com/cloudwatch/pricing: Logs standard ingestion $0.50 per GB.
LOGS_USD_PER_GB = 0.50
# aws.amazon.com/xray/pricing: $5.00 per million traces recorded.
XRAY_USD_PER_TRACE = 5.00 / 1e6

# -- the design's quantities ------------------------------------------------------------------
# DynamoDB: a standard write of an item up to 1 KB is 1 unit, a transactional one 2 (Developer
# Guide, "Amazon DynamoDB Transactions: How it works", capacity management). Each GSI that
# projects the item costs its own write (template.yaml: two GSIs, ProjectionType ALL).
AUDIT_GSIS = 2
COUNTERS = 3  # minute, day, global
OLD_QUOTA_WRITE_UNITS = 2 * COUNTERS  # one TransactWriteItems over three counters
NEW_QUOTA_WRITE_UNITS = 1 * COUNTERS  # three conditional UpdateItem calls
AUDIT_WRITE_UNITS = 1 + AUDIT_GSIS
# Measured (tests/integration/test_bill_inputs.py keeps these honest): the audit item's size
# by DynamoDB's rules, and what the function writes to its log for one warm mint at INFO (the
# audit line and the EMF metrics line).
AUDIT_ITEM_BYTES = 578
FUNCTION_LOG_BYTES_PER_MINT = 1621
# Not measurable here: DynamoDB's per-item storage overhead (100 bytes, Developer Guide "Item
# sizes"), Lambda's START/END/REPORT lines with the X-Ray trace id (~370 bytes), and one HTTP API
# access log line in template.yaml's format with typical values (~450 bytes).
ITEM_OVERHEAD_BYTES = 100
PLATFORM_LOG_BYTES_PER_MINT = 370
ACCESS_LOG_BYTES_PER_MINT = 450
# docs/performance.md (make bench, realistic latencies): billed ms of a warm mint at p50, and
# init. OpenAI's answer is most of the duration.
BILLED_S = 0.177
INIT_S = 0.40
MEMORY_GB = 512 / 1024
SECRET_MAX_AGE_S = 300  # OPENAI_SECRET_MAX_AGE_S default
AUDIT_MONTHS_KEPT = 90 / 30  # AUDIT_RETENTION_DAYS default
XRAY_RESERVOIR_PER_S = 1.0  # Lambda's default sampling: the first request each second ...
XRAY_RATE = 0.05  # ... and 5% of the rest
MILLION = 1_000_000


@dataclass(frozen=True)
class Traffic:
    mints_per_s: float = 100.0
    cold_share: float = 0.01  # one mint in a hundred starts an environment (bursty pages)


def lines_for(quota_write_units: int, traffic: Traffic) -> dict[str, float]:
    """USD per million mints, by service."""
    n = MILLION
    concurrency = traffic.mints_per_s * BILLED_S
    secret_reads_per_mint = concurrency / (SECRET_MAX_AGE_S * traffic.mints_per_s)
    sampled = min(
        1.0,
        (XRAY_RESERVOIR_PER_S + XRAY_RATE * max(0.0, traffic.mints_per_s - XRAY_RESERVOIR_PER_S))
        / traffic.mints_per_s,
    )
    stored_gb = n * (AUDIT_ITEM_BYTES + ITEM_OVERHEAD_BYTES) * (1 + AUDIT_GSIS) / 1e9
    log_gb = n * (FUNCTION_LOG_BYTES_PER_MINT + PLATFORM_LOG_BYTES_PER_MINT) / 1e9
    return {
        "Lambda requests": n * LAMBDA_USD_PER_REQUEST,
        "Lambda GB-s (init included)": n
        * MEMORY_GB
        * (BILLED_S + traffic.cold_share * INIT_S)
        * LAMBDA_USD_PER_GB_S,
        "API Gateway (HTTP API)": n * HTTP_API_USD_PER_REQUEST,
        "DynamoDB quota writes": n * quota_write_units * DYNAMODB_USD_PER_WRITE_UNIT,
        "DynamoDB audit writes (item + 2 GSIs)": n
        * AUDIT_WRITE_UNITS
        * DYNAMODB_USD_PER_WRITE_UNIT,
        "DynamoDB audit storage + PITR, 90 days": stored_gb
        * AUDIT_MONTHS_KEPT
        * (DYNAMODB_USD_PER_GB_MONTH + PITR_USD_PER_GB_MONTH),
        "Secrets Manager calls": n * secret_reads_per_mint * SECRETS_USD_PER_CALL,
        "CloudWatch Logs (function)": log_gb * LOGS_USD_PER_GB,
        "CloudWatch Logs (API access log)": n * ACCESS_LOG_BYTES_PER_MINT / 1e9 * LOGS_USD_PER_GB,
        "X-Ray traces": n * sampled * XRAY_USD_PER_TRACE,
    }


def bill_lines(traffic: Traffic = Traffic()) -> list[str]:
    old = lines_for(OLD_QUOTA_WRITE_UNITS, traffic)
    new = lines_for(NEW_QUOTA_WRITE_UNITS, traffic)
    width = max(len(name) for name in old) + 2
    out = [
        f"Bill per million mints, us-east-1 list prices, at {traffic.mints_per_s:g} mints/s, "
        f"{traffic.cold_share:.0%} cold starts, {MEMORY_GB * 1024:.0f} MB Arm",
        f"{'':<{width}}{'old quota':>11}{'new quota':>11}",
    ]
    for name in old:
        out.append(f"{name:<{width}}{old[name]:>11.3f}{new[name]:>11.3f}")
    out.append(f"{'total':<{width}}{sum(old.values()):>11.2f}{sum(new.values()):>11.2f}")
    dynamo = [sum(v for k, v in d.items() if k.startswith("DynamoDB")) for d in (old, new)]
    lam = sum(v for k, v in new.items() if k.startswith("Lambda"))
    out.append(
        f"DynamoDB is {dynamo[0] / sum(old.values()):.0%} (old) / "
        f"{dynamo[1] / sum(new.values()):.0%} (new) of the bill; Lambda "
        f"{lam / sum(new.values()):.0%}. Write units per mint: "
        f"old {OLD_QUOTA_WRITE_UNITS + AUDIT_WRITE_UNITS}, "
        f"new {NEW_QUOTA_WRITE_UNITS + AUDIT_WRITE_UNITS}."
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bill", description=__doc__)
    parser.add_argument("--rate", type=float, default=100.0, help="mints per second")
    parser.add_argument("--cold-share", type=float, default=0.01)
    args = parser.parse_args(argv)
    print("\n".join(bill_lines(Traffic(args.rate, args.cold_share))))


if __name__ == "__main__":
    main()
