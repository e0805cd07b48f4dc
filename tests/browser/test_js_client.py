"""The browser client's own tests (node's test runner, no browser), the package as a frontend
developer installs it (`npm pack`, its declarations, a strict TypeScript app), and that the
files the demo page loads are what clients/js/build.sh makes from the sources and the locked SDK.

Node is required in CI (CI=true); elsewhere these skip, loudly, without it.
"""

from __future__ import annotations

import json
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
SDK_PACKAGE = "node_modules/@openai/agents-realtime/package.json"


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        reason = f"`{tool}` is not on PATH (install Node.js 18+: apt-get install -y nodejs npm)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(f"JS CLIENT TESTS NOT RUN: {reason}")
    return path


def _run(
    command: list[str], timeout_s: float, cwd: Path = CLIENT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def npm_ci(folder: Path, needed: tuple[str, ...]) -> Path:
    """`npm ci` in `folder` unless what the tests need is installed already. npm's cache makes a
    second machine's install quick, and --prefer-offline skips the registry for what it holds."""
    _require("node")
    npm = _require("npm")
    if not all((folder / path).exists() for path in needed):
        # esbuild's and tsc's binaries come as optional dependencies: no install script runs.
        command = [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"]
        installed = _run(command, NPM_CI_TIMEOUT_S, cwd=folder)
        assert installed.returncode == 0, "npm ci failed:\n" + installed.stderr[-3000:]
    return folder / "node_modules"


def test_node_test_runner_passes_the_client_tests(node_modules: Path) -> None:
    node = _require("node")
    # Files, not the folder: node 18 and 20 read a folder argument differently from node 22.
    files = sorted(str(path) for path in (CLIENT / "test").glob("*.test.js"))
    assert files, "clients/js/test/*.test.js should exist"
    result = _run([node, "--test", *files], NODE_TEST_TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """clients/js/node_modules as package-lock.json pins it (`npm ci` when it is missing)."""
    return npm_ci(CLIENT, ("node_modules/.bin/esbuild", "node_modules/.bin/tsc", SDK_PACKAGE))


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


def test_the_committed_declarations_are_what_tsc_makes(node_modules: Path, tmp_path: Path) -> None:
    tsc = str(node_modules / ".bin" / "tsc")
    made = _run([tsc, "-p", "tsconfig.types.json", "--outDir", str(tmp_path)], NODE_TEST_TIMEOUT_S)
    assert made.returncode == 0, made.stdout[-6000:]
    committed = CLIENT / "types"
    names = sorted(path.name for path in tmp_path.glob("*.d.ts"))
    assert names == sorted(path.name for path in committed.glob("*.d.ts"))
    stale = [n for n in names if (tmp_path / n).read_bytes() != (committed / n).read_bytes()]
    assert not stale, f"clients/js/types/{stale} are stale: run `npm run types` in clients/js"


def test_a_strict_typescript_app_type_checks_against_the_package(node_modules: Path) -> None:
    # test/types/app.ts imports '@ekmint/client' by name (its exports and types), listens for
    # typed events and needs each of its @ts-expect-error lines: `any` would fail it.
    tsc = str(node_modules / ".bin" / "tsc")
    checked = _run([tsc, "-p", "test/types/tsconfig.json"], NODE_TEST_TIMEOUT_S)
    assert checked.returncode == 0, checked.stdout[-6000:]


def test_npm_pack_ships_the_sources_and_declarations_only(node_modules: Path) -> None:
    npm = _require("npm")
    packed = _run([npm, "pack", "--dry-run", "--json", "--ignore-scripts"], NODE_TEST_TIMEOUT_S)
    assert packed.returncode == 0, packed.stderr[-3000:]
    (listing,) = json.loads(packed.stdout)
    files = {entry["path"] for entry in listing["files"]}
    sources = {f"src/{path.name}" for path in (CLIENT / "src").glob("*.js")}
    declarations = {f"types/{path.name}" for path in (CLIENT / "types").glob("*.d.ts")}
    assert files == {"package.json", "README.md", *sources, *declarations}
    manifest = json.loads((CLIENT / "package.json").read_text())
    assert manifest["exports"]["."]["types"] == "./types/index.d.ts"
    assert manifest["types"] == "types/index.d.ts"
    assert "dependencies" not in manifest  # the SDK is the app's: a peer dependency
    assert "@openai/agents-realtime" in manifest["peerDependencies"]
