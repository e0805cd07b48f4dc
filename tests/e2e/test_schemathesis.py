"""schemathesis against the real local stack, driven by docs/openapi.json: whatever it sends,
no 5xx and every answer matches the description. `make fuzz` runs it with many more examples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from stack_harness import REPO, start_stack

EXAMPLES = os.environ.get("EKMINT_FUZZ_EXAMPLES", "60")
# How to send application/sdp (POST /api/realtime/calls): as text.
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


@pytest.mark.e2e
def test_schemathesis_finds_no_5xx_and_no_answer_off_the_spec(tmp_path: Path) -> None:
    # Quotas off: the run is about input handling, and thousands of mints are expected.
    stack = start_stack(tmp_path, QUOTA_PER_MINUTE="0", QUOTA_PER_DAY="0", GLOBAL_DAILY_CAP="0")
    try:
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                str(REPO / "docs" / "openapi.json"),
                "--url",
                stack.url,
                "--checks",
                CHECKS,
                "--max-examples",
                EXAMPLES,
                "--seed",
                os.environ.get("EKMINT_FUZZ_SEED", "20261125"),
                "--report-dir",
                str(tmp_path / "schemathesis"),
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            cwd=REPO,
            env=os.environ | {"SCHEMATHESIS_HOOKS": str(HOOKS)},
        )
    finally:
        stack.stop()
    summary = run.stdout[-4000:]
    # The count of cases tried, for `make fuzz`'s figures (the rest stays captured).
    for line in summary.splitlines():
        if "generated" in line:
            sys.__stderr__.write(f"\nschemathesis: {line.strip()}\n")
    assert run.returncode == 0, summary
    assert "passed" in summary.lower()
