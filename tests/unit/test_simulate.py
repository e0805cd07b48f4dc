"""The quota simulation (make simulate): the figures docs/scaling.md quotes come from it, so its
headline results are pinned here at a rate where they are cheap to compute."""

from __future__ import annotations

from bench.simulate import DESIGNS, simulate, table_lines

OLD, NEW = "old (transaction)", "new (parallel updates)"


def test_the_transaction_design_fails_under_contention_and_the_new_one_stays_exact() -> None:
    for scenario in ("one caller", "many callers"):
        old = simulate(100, scenario, OLD, seed=1)
        new = simulate(100, scenario, NEW, seed=1)
        assert old.outcomes["failed"] > 0, scenario
        assert old.outcomes["minted"] <= old.limit
        assert new.outcomes == {
            "minted": new.limit,
            "refused": new.offered - new.limit,
            "failed": 0,
        }, scenario


def test_the_table_has_a_row_per_run_and_says_which_are_exact() -> None:
    results = [simulate(10, "one caller", design, seed=1) for design in DESIGNS]
    lines = table_lines(results)
    assert len(lines) == 2 + len(DESIGNS)
    assert all(line.rstrip().endswith(("yes", "NO")) for line in lines[2:])
