"""`make bench`: cold start, warm path, I/O and artifact size of ekmint, the floor and the naive
reference, measured in one run on this machine and printed as one table. Method:
docs/performance.md. Figures come from here, never from timed assertions in tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench import bill, envs
from bench.stubs import INSTANT, REALISTIC, Stubs
from bench.targets import Run, Target, run_child, targets
from ekmint_dev.local_aws import load_template

# Published AWS Lambda prices, US East (N. Virginia), Arm, first tier (the first 7.5 billion
# GB-seconds of a month), from aws.amazon.com/lambda/pricing; unchanged since Arm's launch in
# September 2021 and current when this was written (2026-11). Duration is billed per ms, rounded up.
ARM_USD_PER_GB_S = 0.0000133334
USD_PER_MILLION_REQUESTS = 0.20
PRICE_NOTE = (
    f"${ARM_USD_PER_GB_S:.10f}/GB-s + ${USD_PER_MILLION_REQUESTS:.2f}/million requests: "
    "Lambda Arm, us-east-1, first tier (aws.amazon.com/lambda/pricing, current 2026-11)"
)
NAMES = ("floor", "naive", "ekmint")
CELL = 12


@dataclasses.dataclass(frozen=True)
class Options:
    cold_runs: int
    no_pyc_runs: int
    warm_mints: int
    warmup: int
    io_window: int
    realistic_warm_mints: int
    # Warm environments per target (instant stubs), interleaved; they share warm_mints.
    warm_rounds: int


FULL = Options(
    cold_runs=10,
    no_pyc_runs=3,
    warm_mints=2000,
    warmup=200,
    io_window=100,
    realistic_warm_mints=40,
    warm_rounds=4,
)
QUICK = Options(
    cold_runs=3,
    no_pyc_runs=1,
    warm_mints=300,
    warmup=50,
    io_window=100,
    realistic_warm_mints=10,
    warm_rounds=2,
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(q / 100 * len(ordered) + 0.999999)))
    return ordered[rank - 1]


# ---------------------------------------------------------------- measurements


def cold(
    chosen: list[Target], run: Run, runs: int, *, no_pyc: bool = False
) -> dict[str, list[dict[str, float]]]:
    """`runs` fresh processes per target, interleaved so that machine noise hits all alike."""
    results: dict[str, list[dict[str, float]]] = {t.name: [] for t in chosen}
    if not no_pyc:
        for target in chosen:
            # Untimed: writes missing .pyc and warms the page cache ("fresh process, warm .pyc").
            run_child(target, run, "cold")
    label = f"cold ({run.stubs.profile.name}{', no .pyc' if no_pyc else ''})"
    for i in range(runs):
        log(f"  {label} {i + 1}/{runs}")
        for target in chosen:
            results[target.name].append(run_child(target, run, "cold", no_pyc=no_pyc))
    return results


def restored(target: Target, run: Run, runs: int) -> list[dict[str, float]]:
    """The first mint of an environment resumed from a SnapStart snapshot (simulated)."""
    results = []
    for i in range(runs):
        log(f"  SnapStart restore, simulated ({run.stubs.profile.name}) {i + 1}/{runs}")
        results.append(run_child(target, run, "restored", snapstart_hooks="ekmint.lifecycle"))
    return results


def warm(chosen: list[Target], run: Run, opts: Options, mints: int) -> dict[str, dict[str, Any]]:
    """`mints` timed invocations per target, in `opts.warm_rounds` warm environments each (a
    fresh process, warmed up, then its share of the mints), interleaved across targets as the
    cold runs are: a slow spell of the machine then lands on every target, not on one."""
    instant = run.stubs.profile is INSTANT
    rounds = opts.warm_rounds if instant else 1
    share = -(-mints // rounds)
    runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in chosen}
    for i in range(rounds):
        for target in chosen:
            log(f"  warm ({run.stubs.profile.name}) {target.name}: {share} mints, {i + 1}/{rounds}")
            runs[target.name].append(
                run_child(
                    target,
                    run,
                    "warm",
                    warmup=opts.warmup if instant else 3,
                    io_window=opts.io_window if instant else 0,
                    timed=share,
                )
            )
    return {name: _warm_summary(results, run, opts) for name, results in runs.items()}


def _warm_summary(results: list[dict[str, Any]], run: Run, opts: Options) -> dict[str, Any]:
    durations_ms = [d / 1e6 for r in results for d in r["durations_ns"]]
    wall_s = sum(r["wall_ns"] for r in results) / 1e9

    def total(match: Callable[[str], bool]) -> float:
        return float(sum(v for r in results for k, v in r["io"].items() if match(k)))

    # Per 100 mints of the I/O windows (one per environment).
    window = (opts.io_window or 1) * len(results)
    return {
        "ms": durations_ms,
        "mints_per_s": len(durations_ms) / wall_s,
        "io": {
            name: 100 / window * total(match)
            for name, match in (
                (
                    "upstream_connections",
                    lambda k: k.endswith("|connections") and run.stubs.openai.url in k,
                ),
                ("secretsmanager", lambda k: k.startswith("secretsmanager.")),
                ("dynamodb", lambda k: k.startswith("dynamodb.")),
                ("openai", lambda k: k.startswith("openai.")),
            )
        },
    }


# ---------------------------------------------------------------- the table


def ms(value: float) -> str:
    return f"{value:.1f} ms"


def ms3(value: float) -> str:
    return f"{value:.3f} ms"


def whole(value: float) -> str:
    return f"{value:,.0f}"


def kib(value: float) -> str:
    return f"{value / 1024:,.0f} KiB"


def usd(value: float) -> str:
    return f"${value:.2f}"


def row(label: str, values: dict[str, float], fmt: Callable[[float], str]) -> str:
    cells = "".join(f"{fmt(values[n]) if n in values else '-':>{CELL}}" for n in NAMES)
    ek = values.get("ekmint")
    ratios = "".join(
        f"{ek / values[base]:>9.2f}x" if ek is not None and values.get(base) else f"{'-':>10}"
        for base in ("floor", "naive")
    )
    return f"{label:<46}{cells}{ratios}"


def header(title: str) -> str:
    names = "".join(f"{n:>{CELL}}" for n in NAMES)
    return f"\n{title:<46}{names}{'ek/floor':>10}{'ek/naive':>10}"


def median_of(results: dict[str, list[dict[str, float]]], *parts: str) -> dict[str, float]:
    return {
        name: statistics.median([sum(r[p] for p in parts) for r in runs])
        for name, runs in results.items()
    }


def cold_rows(report: dict[str, Any]) -> list[str]:
    inst = report["cold_instant"]
    out = [header(f"1. Cold start, instant stubs ({report['runs']} fresh processes each)")]
    for part, label in (
        ("import_ms", "module import"),
        ("construct_ms", "client construction"),
        ("first_ms", "first request"),
    ):
        out.append(row(f"  {label}, median", median_of(inst, part), ms))
        out.append(
            row(f"  {label}, max", {n: max(r[part] for r in rs) for n, rs in inst.items()}, ms)
        )
    out.append(row("  init (import + construction), median", median_of(inst, *INIT), ms))
    no_pyc = report["cold_no_pyc"]
    out.append(
        row(
            f"  init without .pyc (source only), n={report['no_pyc_runs']}",
            median_of(no_pyc, *INIT),
            ms,
        )
    )
    real = report["cold_realistic"]
    out.append(header(f"   Cold mint, realistic latency* ({report['runs']} fresh processes each)"))
    out.append(row("  init, median", median_of(real, *INIT), ms))
    out.append(row("  first mint (first invocation), median", median_of(real, "first_ms"), ms))
    out.append(row("  init + first mint, median", median_of(real, *INIT, "first_ms"), ms))
    snap = {"ekmint": report["restored"]}
    out.append(
        row("  SnapStart (simulated): after-restore hooks", median_of(snap, "restore_hooks_ms"), ms)
    )
    out.append(row("  SnapStart (simulated): first mint, median", median_of(snap, "first_ms"), ms))
    return out


INIT = ("import_ms", "construct_ms")


def warm_rows(report: dict[str, Any]) -> list[str]:
    warm_i = report["warm_instant"]
    out = [header(f"2. Warm path, instant stubs ({report['warm_mints']} mints each)")]
    p50 = {n: percentile(r["ms"], 50) for n, r in warm_i.items()}
    p99 = {n: percentile(r["ms"], 99) for n, r in warm_i.items()}
    out.append(row("  handler time p50", p50, ms3))
    out.append(row("  handler time p99", p99, ms3))
    out.append(row("  p99 / p50", {n: p99[n] / p50[n] for n in p50}, lambda v: f"{v:.2f}"))
    tput = {n: r["mints_per_s"] for n, r in warm_i.items()}
    out.append(row("  throughput, one environment (mints/s)", tput, whole))
    out.append(header("3. I/O per 100 warm mints"))
    for key, label in (
        ("upstream_connections", "new connections to OpenAI"),
        ("secretsmanager", "Secrets Manager calls"),
        ("dynamodb", "DynamoDB calls"),
        ("openai", "OpenAI calls"),
    ):
        out.append(row(f"  {label}", {n: r["io"][key] for n, r in warm_i.items()}, whole))
    return out


def cost_rows(report: dict[str, Any], memory_mb: int) -> list[str]:
    sizes = report["sizes"]
    out = [header("4. Deployment artifact (function + layers)")]
    out.append(row("  unzipped", {n: s["unzipped"] for n, s in sizes.items()}, kib))
    out.append(row("  zipped", {n: s["zipped"] for n, s in sizes.items()}, kib))
    gb = memory_mb / 1024

    def per_million(billed_ms: float) -> float:
        return gb * billed_ms / 1000 * ARM_USD_PER_GB_S * 1e6 + USD_PER_MILLION_REQUESTS

    out.append(header(f"5. Cost of a warm mint, MemorySize {memory_mb} MB, Arm"))
    for key, label in (("warm_instant", "instant stubs"), ("warm_realistic", "realistic*")):
        billed = {
            n: float(int(percentile(r["ms"], 50)) + 1)
            for n, r in report[key].items()
            if n != "floor"
        }
        out.append(row(f"  billed ms at p50, {label}", billed, whole))
        out.append(
            row(
                f"  GB-s per mint, {label}",
                {n: gb * v / 1000 for n, v in billed.items()},
                lambda v: f"{v:.5f}",
            )
        )
        out.append(
            row(
                f"  $ per million mints, {label}",
                {n: per_million(v) for n, v in billed.items()},
                usd,
            )
        )
    return out


def print_table(report: dict[str, Any], memory_mb: int) -> None:
    out = [
        "ekmint benchmark, one run on this machine: "
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"load average {report['load_before']} before, {report['load_after']} after"
    ]
    out += cold_rows(report)
    out += warm_rows(report)
    out += cost_rows(report, memory_mb)
    out.append(
        "\n* realistic: each AWS call 10 ms, each OpenAI call 150 ms, 50 ms (TCP+TLS) on each new"
        " OpenAI connection.\n  ekmint gets Lambda's trace header (Tracing: Active) and has no"
        " tracer of its own; the references get none.\n  Prices: " + PRICE_NOTE + "."
    )
    print("\n".join(out))


# ---------------------------------------------------------------- main


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, for trying changes")
    args = parser.parse_args(argv)
    opts = QUICK if args.quick else FULL
    started = time.monotonic()
    log("preparing dependency sets and artifacts")
    chosen = targets()
    memory_mb = int(load_template()["Parameters"]["MemorySize"]["Default"])
    function, layer = envs.ekmint_artifact()
    sizes = {
        "ekmint": {
            "unzipped": function.unzipped + layer.unzipped,
            "zipped": function.zipped + layer.zipped,
        },
        "naive": dataclasses.asdict(envs.naive_artifact()),
    }
    # X-Ray segments go to a UDP socket nobody reads, as to a daemon that keeps up.
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    xray = f"127.0.0.1:{sink.getsockname()[1]}"
    instant, realistic = Stubs.start(INSTANT), Stubs.start(REALISTIC)
    fast, slow = Run(instant, xray, memory_mb), Run(realistic, xray, memory_mb)
    minters = [t for t in chosen if t.name != "floor"]
    ekmint = next(t for t in chosen if t.name == "ekmint")
    load_before = load()
    try:
        log("cold starts")
        report: dict[str, Any] = {
            "cold_instant": cold(chosen, fast, opts.cold_runs),
            "cold_no_pyc": cold(chosen, fast, opts.no_pyc_runs, no_pyc=True),
            "cold_realistic": cold(minters, slow, opts.cold_runs),
            "restored": restored(ekmint, slow, opts.cold_runs),
        }
        log("warm path")
        report["warm_instant"] = warm(chosen, fast, opts, opts.warm_mints)
        report["warm_realistic"] = warm(minters, slow, opts, opts.realistic_warm_mints)
    finally:
        instant.stop()
        realistic.stop()
        sink.close()
    report |= {
        "runs": opts.cold_runs,
        "no_pyc_runs": opts.no_pyc_runs,
        "warm_mints": opts.warm_mints,
        "load_before": load_before,
        "load_after": load(),
        "sizes": sizes,
    }
    print_table(report, memory_mb)
    # The whole bill, not only Lambda's share of it (docs/scaling.md).
    print("\n" + "\n".join(bill.bill_lines()))
    log(f"(bench took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
