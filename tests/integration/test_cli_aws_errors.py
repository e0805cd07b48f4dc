"""`ekmint audit` against AWS that fails: one line saying what to do, a non-zero exit, no
traceback. The CLI runs as a real process, with no credentials anywhere it could find them, a
closed port for "no network", and moto server over HTTP for a missing table."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from support import REPO

from ekmint_dev.local_aws import MotoServer

CLI_TIMEOUT_S = 60.0


def _isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment in which botocore finds no credentials: no AWS_* variables from the
    machine, config and credential files that do not exist, no instance metadata."""
    keep = {name: os.environ[name] for name in ("PATH", "LANG", "SYSTEMROOT") if name in os.environ}
    return keep | {
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        # No stack runs on this port: the CLI must not find one and read it instead.
        "LOCAL_AWS_PORT": str(_closed_port()),
        **extra,
    }


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _audit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ekmint_dev.cli", "audit", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ekmint audit: ")
    return lines[0]


def test_no_credentials_is_one_line_that_says_how_to_get_them(tmp_path: Path) -> None:
    result = _audit(_isolated_env(tmp_path), "--table", "audit", "--region", "eu-west-1")
    line = _one_line(result)
    assert "no usable AWS credentials" in line
    assert "aws configure" in line


def test_no_network_is_one_line_naming_the_region(tmp_path: Path) -> None:
    env = _isolated_env(
        tmp_path,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        # Where DynamoDB "is" for this run: a port nothing listens on.
        AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{_closed_port()}",
    )
    line = _one_line(_audit(env, "--table", "audit", "--region", "eu-west-1"))
    assert "could not reach DynamoDB in region eu-west-1" in line


def test_a_missing_table_is_one_line_naming_it(tmp_path: Path, moto_server: MotoServer) -> None:
    moto_server.reset()
    env = _isolated_env(
        tmp_path,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL_DYNAMODB=moto_server.url,
    )
    line = _one_line(_audit(env, "--table", "no-such-table", "--region", "us-east-1"))
    assert "no table 'no-such-table' in region us-east-1" in line


def test_a_malformed_region_is_one_line(tmp_path: Path) -> None:
    env = _isolated_env(tmp_path)
    line = _one_line(_audit(env, "--table", "audit", "--region", "not a region"))
    assert "not a region" in line
