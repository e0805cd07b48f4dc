"""schemathesis against the real local stack, driven by docs/openapi.json: whatever it sends,
no 5xx and every answer matches the description; and every request the description calls valid
is accepted. `make fuzz` runs it with many more examples."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from stack_harness import REPO, Stack, start_stack

pytestmark = pytest.mark.e2e

EXAMPLES = os.environ.get("EKMINT_FUZZ_EXAMPLES", "60")
# How to send application/sdp (POST /api/realtime/calls): as text.
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
ANSWER_CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Quotas off: the run is about input handling, and thousands of mints are expected.
    running = start_stack(
        tmp_path_factory.mktemp("schemathesis"),
        QUOTA_PER_MINUTE="0",
        QUOTA_PER_DAY="0",
        GLOBAL_DAILY_CAP="0",
    )
    yield running
    running.stop()


def schemathesis(
    stack: Stack, checks: list[str], report_dir: Path, extra: tuple[str, ...] = ()
) -> str:
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            str(REPO / "docs" / "openapi.json"),
            *("--url", stack.url, "--checks", ",".join(checks)),
            *("--max-examples", EXAMPLES),
            *("--seed", os.environ.get("EKMINT_FUZZ_SEED", "20261125")),
            *("--report-dir", str(report_dir)),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=REPO,
        env=os.environ | {"SCHEMATHESIS_HOOKS": str(HOOKS)},
    )
    summary = run.stdout[-4000:]
    # The count of cases tried, for `make fuzz`'s figures (the rest stays captured).
    for line in summary.splitlines():
        if "generated" in line:
            sys.__stderr__.write(f"\nschemathesis ({checks[0]}…): {line.strip()}\n")
    assert run.returncode == 0, summary
    assert "passed" in summary.lower()
    return summary


def test_schemathesis_finds_no_5xx_and_no_answer_off_the_spec(stack: Stack, tmp_path: Path) -> None:
    schemathesis(stack, ANSWER_CHECKS, tmp_path)


def test_every_request_the_description_calls_valid_is_accepted(
    stack: Stack, tmp_path: Path
) -> None:
    # The description is independent of nothing if the service refuses what it promises: the
    # document is narrowed to the default policy (ekmint_dev/openapi.py), and schemathesis'
    # positive-data check sends schema-valid requests, which must get a 2xx (or 401/403/404).
    # The mint only: a relayed call's body is an SDP offer, which no schema can describe well
    # enough to generate (`v=0` alone matches `^v=0` and is rightly refused as no offer); the
    # relay's acceptance of real offers is tests/integration/test_relay.py's.
    schemathesis(
        stack,
        ["positive_data_acceptance"],
        tmp_path,
        ("--include-path", "/api/client-secret"),
    )
