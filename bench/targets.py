"""The three functions the benchmark runs, and how a fresh Lambda-like process is started for each.

Each child is the base python3.13 run with `-I -S` (no dev venv, no site-packages, no PYTHON*
variables), a path of exactly its dependencies and its code, and an environment shaped like
Lambda's: the function's configuration, the runtime's AWS_* variables, credentials, and the
stubs' endpoints. Nothing of the developer's shell leaks in (SSL_CERT_FILE, for one, would change
what an HTTP client's construction costs).
"""

from __future__ import annotations

import ast
import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import envs
from bench.stubs import Stubs
from ekmint_dev.events import http_api_event

CHILD = Path(__file__).resolve().parent / "child.py"
REFS = Path(__file__).resolve().parent / "refs"
FUNCTION_CODE = envs.REPO / "functions" / "mint"
ORIGIN = "https://app.example.com"
TABLES = {"AUDIT_TABLE_NAME": "ekmint-audit", "QUOTA_TABLE_NAME": "ekmint-quota"}
SECRET_ID = "bench/openai"  # noqa: S105 - a name, not a secret
CHILD_TIMEOUT_S = 300


@dataclass(frozen=True)
class Target:
    name: str
    code_dir: Path
    module: str
    package: str
    site: Path
    env: dict[str, str] = field(default_factory=dict)
    # Only ekmint traces (template.yaml: Tracing: Active); the references do not.
    xray: bool = False

    @property
    def handler_file(self) -> Path:
        return self.code_dir / (self.module.replace(".", "/") + ".py")


def top_level_imports(path: Path, package: str) -> list[str]:
    """The modules the handler file imports at module scope, in order, relative ones resolved:
    what the child times as "module import" (the rest of the module is "construction")."""
    names: list[str] = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.append(base)
            # `from pkg import submodule` imports the submodule too.
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def targets() -> list[Target]:
    ekmint_site = envs.site_dir("ekmint", envs.ekmint_requirements())
    naive_site = envs.site_dir("naive", envs.naive_requirements())
    common = {"OPENAI_SECRET_ID": SECRET_ID, **TABLES}
    return [
        # The floor runs on ekmint's own dependency set: same Powertools, and boto3 is there
        # (as the runtime's) without being imported.
        Target("floor", REFS, "floor", "", ekmint_site),
        Target("naive", REFS, "naive", "", naive_site, env=common),
        Target(
            "ekmint",
            FUNCTION_CODE,
            "ekmint.handler",
            "ekmint",
            ekmint_site,
            env={
                **common,
                "ALLOWED_ORIGINS": ORIGIN,
                # The quota is on (three counters, one transaction) but never runs out here.
                "QUOTA_PER_MINUTE": "100000000",
                "QUOTA_PER_DAY": "100000000",
                "GLOBAL_DAILY_CAP": "100000000",
                "POWERTOOLS_SERVICE_NAME": "ekmint",
                "POWERTOOLS_METRICS_NAMESPACE": "ekmint",
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
            xray=True,
        ),
    ]


def lambda_env(target: Target, stubs: Stubs, xray_address: str, memory_mb: int) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "ASIABENCHBENCHBENCH0",
        "AWS_SECRET_ACCESS_KEY": "bench-secret-access-key",
        "AWS_SESSION_TOKEN": "bench-session-token",
        "AWS_ENDPOINT_URL": stubs.aws.url,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": "ekmint-bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/ekmint-bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_XRAY_DAEMON_ADDRESS": xray_address,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "LAMBDA_TASK_ROOT": str(target.code_dir),
        "_HANDLER": f"{target.module}.lambda_handler",
        "OPENAI_BASE_URL": f"{stubs.openai.url}/v1",
        **target.env,
    }
    if not target.xray:
        # Tracing off for the references, as a function without `Tracing: Active` has it.
        env.pop("AWS_XRAY_DAEMON_ADDRESS")
    return env


def mint_event() -> dict[str, Any]:
    body = {"session": {"type": "realtime", "audio": {"output": {"voice": "marin"}}}}
    return http_api_event(
        "POST",
        "/api/client-secret",
        [
            ("content-type", "application/json"),
            ("origin", ORIGIN),
            ("user-agent", "ekmint-bench/1"),
        ],
        json.dumps(body).encode(),
        source_ip="198.51.100.7",
        route_key="POST /api/client-secret",
    )


@dataclass(frozen=True)
class Run:
    """Where a child runs: the stubs it talks to, the X-Ray sink, the memory size it reports."""

    stubs: Stubs
    xray_address: str
    memory_mb: int


def run_child(
    target: Target, run: Run, mode: str, *, no_pyc: bool = False, **options: Any
) -> dict[str, Any]:
    """Start one fresh process for `target`, return what it measured. `no_pyc`: compile every
    module from source and write no bytecode, as Lambda does with a package shipped without
    .pyc files (its code directories are read-only)."""
    stubs = run.stubs
    with tempfile.TemporaryDirectory(prefix="ekmint-bench-") as tmp:
        out = Path(tmp) / "result.json"
        spec = {
            "mode": mode,
            "paths": [str(target.code_dir), str(target.site)],
            "module": target.module,
            "imports": top_level_imports(target.handler_file, target.package),
            "event": mint_event(),
            "xray": target.xray,
            "stub_urls": [stubs.aws.url, stubs.openai.url],
            "out": str(out),
            **options,
        }
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        flags = ["-B", "-X", f"pycache_prefix={tmp}/no-pyc"] if no_pyc else []
        completed = subprocess.run(
            [envs.base_python(), "-I", "-S", *flags, str(CHILD), str(spec_path)],
            env=lambda_env(target, stubs, run.xray_address, run.memory_mb),
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            # The functions' log lines (Powertools JSON, EMF metrics) are not the benchmark's.
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=CHILD_TIMEOUT_S,
            check=False,
        )
        if completed.returncode != 0 or not out.exists():
            tail = completed.stderr.decode(errors="replace")[-2000:]
            raise RuntimeError(f"{target.name} {mode} run failed ({completed.returncode}):\n{tail}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result
