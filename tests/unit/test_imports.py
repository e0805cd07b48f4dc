"""What a cold start imports: the handler, in a fresh interpreter shaped like a traced Lambda
function, must not load the libraries the function deliberately does without (each one costs
tens of ms of every cold start: docs/performance.md)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from observability_tools import REPO

AVOIDED = {
    # AWS calls go through aws_client.py.
    "boto3": "aws_client.py",
    "botocore.client": "aws_client.py",
    # Tracing is xray.py's own.
    "aws_xray_sdk": "xray.py",
    # HTTP is httpcore through http_client.py; httpx's client stack drags these in.
    "httpx": "http_client.py",
    "urllib.request": "http_client.py",
    "http.cookiejar": "http_client.py",
}

CHILD = """
import json, sys
import ekmint.handler as handler
assert handler.tracer is not None, "tracing should be on in this environment"
print(json.dumps(sorted(sys.modules)))
"""


def test_a_cold_start_imports_none_of_what_the_function_does_without() -> None:
    with socket.socket() as probe:  # a closed port: the warm start's connects fail at once
        probe.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{probe.getsockname()[1]}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO / "functions" / "mint"),
        "LAMBDA_TASK_ROOT": str(REPO / "functions" / "mint"),
        "_HANDLER": "ekmint.handler.lambda_handler",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIAIMPORTTEST000000",
        "AWS_SECRET_ACCESS_KEY": "import-test-secret",
        "AWS_ENDPOINT_URL": nowhere,
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:9",
        "OPENAI_BASE_URL": f"{nowhere}/v1",
        "OPENAI_SECRET_ID": "ekmint/openai",
        "AUDIT_TABLE_NAME": "ekmint-audit",
        "QUOTA_TABLE_NAME": "ekmint-quota",
        "ALLOWED_ORIGINS": "https://app.example.com",
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    modules = set(json.loads(child.stdout.splitlines()[-1]))
    assert "ekmint.handler" in modules and "httpcore" in modules
    loaded = {name: why for name, why in AVOIDED.items() if name in modules}
    assert loaded == {}, f"imported at cold start (see the module named): {loaded}"
