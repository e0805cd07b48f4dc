"""The browser client's own tests (node's test runner, no browser), and that the files the demo
page loads are what clients/js/build.sh makes from the sources and the locked SDK.

Node is required in CI (CI=true); elsewhere these skip, loudly, without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import REPO

CLIENT = REPO / "clients" / "js"
VENDOR = REPO / "examples" / "static-site" / "vendor"
NODE_TEST_TIMEOUT_S = 60
NPM_CI_TIMEOUT_S = 300


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        reason = f"`{tool}` is not on PATH (install Node.js 18+: apt-get install -y nodejs npm)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(f"JS CLIENT TESTS NOT RUN: {reason}")
    return path


def _run(command: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=CLIENT, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def test_node_test_runner_passes_the_client_tests() -> None:
    node = _require("node")
    # Files, not the folder: node 18 and 20 read a folder argument differently from node 22.
    files = sorted(str(path) for path in (CLIENT / "test").glob("*.test.js"))
    assert files, "clients/js/test/*.test.js should exist"
    result = _run([node, "--test", *files], NODE_TEST_TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """clients/js/node_modules as package-lock.json pins it (`npm ci` when it is missing)."""
    _require("node")
    npm = _require("npm")
    bins = CLIENT / "node_modules" / ".bin"
    if not ((bins / "esbuild").exists() and (bins / "tsc").exists()):
        # esbuild's and tsc's binaries come as optional dependencies: no install script runs.
        installed = _run([npm, "ci", "--no-audit", "--no-fund"], NPM_CI_TIMEOUT_S)
        assert installed.returncode == 0, "npm ci failed:\n" + installed.stderr[-3000:]
    return CLIENT / "node_modules"


def test_the_jsdoc_types_check(node_modules: Path) -> None:
    checked = _run([str(node_modules / ".bin" / "tsc"), "-p", "jsconfig.json"], NODE_TEST_TIMEOUT_S)
    assert checked.returncode == 0, checked.stdout[-6000:]


def test_the_committed_bundles_are_what_build_sh_makes(node_modules: Path, tmp_path: Path) -> None:
    built = _run(["sh", "build.sh", str(tmp_path)], NODE_TEST_TIMEOUT_S)
    assert built.returncode == 0, built.stderr[-3000:]
    stale = [
        name
        for name in ("openai-agents-realtime.js", "ekmint-client.js")
        if (tmp_path / name).read_bytes() != (VENDOR / name).read_bytes()
    ]
    assert not stale, f"examples/static-site/vendor/{stale} are stale: run clients/js/build.sh"
