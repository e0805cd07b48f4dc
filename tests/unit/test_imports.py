"""The function's module graph: what a cold start imports (the named stack, and nothing the
function deliberately does without), no module that starts threads or opens sockets when
imported, and no import cycle among the function's modules."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from observability_tools import REPO

PACKAGE = REPO / "functions" / "mint" / "ekmint"
# The function's named stack (design card): a cold start must load each.
NAMED_STACK = ("boto3", "botocore.client", "httpx", "pydantic", "aws_lambda_powertools")
# What it does without: the X-Ray SDK (tracing is configuration: Tracing: Active, ADOT layer),
# OpenAI's SDK (600 s timeouts; ekmint's retry policy is its own).
AVOIDED = ("aws_xray_sdk", "openai")


def _nowhere() -> str:
    with socket.socket() as probe:  # a closed port: any connection attempt fails at once
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _env(nowhere: str, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO / "functions" / "mint"),
        "LAMBDA_TASK_ROOT": str(REPO / "functions" / "mint"),
        # Lambda sets both; botocore reads the second.
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIAIMPORTTEST000000",
        "AWS_SECRET_ACCESS_KEY": "import-test-secret",
        "AWS_ENDPOINT_URL": nowhere,
        "OPENAI_BASE_URL": f"{nowhere}/v1",
        "OPENAI_SECRET_ID": "ekmint/openai",
        "AUDIT_TABLE_NAME": "ekmint-audit",
        "QUOTA_TABLE_NAME": "ekmint-quota",
        "ALLOWED_ORIGINS": "https://app.example.com",
        **extra,
    }


def _run(code: str, env: dict[str, str]) -> str:
    child = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    return child.stdout.splitlines()[-1]


def test_a_cold_start_imports_the_named_stack_and_nothing_it_does_without() -> None:
    code = "import json, sys\nimport ekmint.handler\nprint(json.dumps(sorted(sys.modules)))"
    env = _env(_nowhere(), _HANDLER="ekmint.handler.lambda_handler")
    modules = set(json.loads(_run(code, env)))
    assert {name for name in NAMED_STACK if name not in modules} == set()
    assert {name for name in AVOIDED if name in modules} == set()


def test_importing_a_module_starts_no_thread_and_connects_nowhere() -> None:
    # Every module but the handler (whose import is the function's init) in a fresh process;
    # socket.socket is replaced so that any connection attempt is seen.
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in {"handler"})
    code = f"""
import json, socket, threading
opened = []
class Watched(socket.socket):
    def connect(self, address):
        opened.append(address)
        return super().connect(address)
    connect_ex = connect
socket.socket = Watched
import importlib
found = {{}}
for name in {modules!r}:
    importlib.import_module("ekmint." + name)
    found[name] = [threading.active_count(), len(opened)]
print(json.dumps(found))
"""
    found = json.loads(_run(code, _env(_nowhere())))
    assert set(found) == set(modules) and len(modules) >= 10
    assert {name: counts for name, counts in found.items() if counts != [1, 0]} == {}


def _imports_of(path: Path) -> set[str]:
    """The ekmint modules `path` imports, those for type checking only included: a cycle there
    is still two modules that must be understood together."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        if node.module:
            names.add(node.module.split(".")[0])
        else:
            names.update(alias.name for alias in node.names)
    return names


def test_the_function_modules_import_each_other_without_a_cycle() -> None:
    graph = {p.stem: _imports_of(p) for p in PACKAGE.glob("*.py")}
    assert graph["mint"] and graph["handler"]  # the parse found the relative imports

    def cycle_from(start: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        for target in sorted(graph.get(start, ())):
            if target in path:
                return (*path, target)
            found = cycle_from(target, (*path, target))
            if found:
                return found
        return None

    cycles = {name: cycle_from(name, (name,)) for name in graph}
    assert {name: c for name, c in cycles.items() if c} == {}
