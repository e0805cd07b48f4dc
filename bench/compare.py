"""Before/after for a change to the function: `python -m bench.compare DIR [DIR ...]`.

Each DIR is a copy of functions/mint (e.g. a copy with a change undone), or a whole checkout (a
`git worktree` of another commit); the working tree's own functions/mint is always included as
"this tree". A checkout runs on the dependency set its own layers/deps asks for (so a change of
dependencies is compared too), a bare copy on this tree's. All use the same stubs, interleaved,
and print one table: init, first mint and init + first mint with realistic latency, warm
p50/p99 with instant stubs.
"""

from __future__ import annotations

import argparse
import dataclasses
import socket
import statistics
import sys
from pathlib import Path
from typing import Any

from bench import envs
from bench.run import FULL, INIT, QUICK, Options, cold, log, percentile, warm
from bench.stubs import INSTANT, REALISTIC, Stubs
from bench.targets import FUNCTION_CODE, Run, Target, targets


def checkout_site(checkout: Path) -> Path:
    """The dependency set of another checkout's layer, as its requirements files were then."""
    return envs.site_dir("ekmint", envs.ekmint_requirements(checkout / "layers" / "deps"))


def variants(dirs: list[Path]) -> list[Target]:
    ekmint = next(t for t in targets() if t.name == "ekmint")
    found = [dataclasses.replace(ekmint, name="this tree")]
    for path in dirs:
        if (path / "functions").is_dir():
            code, site = path / "functions" / "mint", checkout_site(path)
        else:
            code, site = path, ekmint.site
        found.append(
            dataclasses.replace(ekmint, name=path.name, code_dir=code.resolve(), site=site)
        )
    return found


def measure(chosen: list[Target], opts: Options) -> dict[str, dict[str, float]]:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    xray = f"127.0.0.1:{sink.getsockname()[1]}"
    instant, realistic = Stubs.start(INSTANT), Stubs.start(REALISTIC)
    fast, slow = Run(instant, xray, 512), Run(realistic, xray, 512)
    try:
        real = cold(chosen, slow, opts.cold_runs)
        hot = warm(chosen, fast, opts, opts.warm_mints)
    finally:
        instant.stop()
        realistic.stop()
        sink.close()
    table: dict[str, dict[str, float]] = {}
    for target in chosen:
        runs: list[dict[str, Any]] = real[target.name]
        table[target.name] = {
            "init": statistics.median(sum(r[p] for p in INIT) for r in runs),
            "first": statistics.median(r["first_ms"] for r in runs),
            "total": statistics.median(sum(r[p] for p in (*INIT, "first_ms")) for r in runs),
            "p50": percentile(hot[target.name]["ms"], 50),
            "p99": percentile(hot[target.name]["ms"], 99),
        }
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dirs", nargs="*", type=Path)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    opts = QUICK if args.quick else FULL
    chosen = variants(args.dirs)
    log(f"comparing {', '.join(t.name for t in chosen)} (this tree: {FUNCTION_CODE})")
    table = measure(chosen, opts)
    print(
        f"{'variant':<16}{'init':>10}{'first mint':>12}{'init+first':>12}"
        f"{'warm p50':>10}{'warm p99':>10}   (realistic cold, {opts.cold_runs} runs; "
        f"instant warm, {opts.warm_mints} mints)"
    )
    for name, row in table.items():
        print(
            f"{name:<16}{row['init']:>8.1f}ms{row['first']:>10.1f}ms{row['total']:>10.1f}ms"
            f"{row['p50']:>8.3f}ms{row['p99']:>8.3f}ms"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
