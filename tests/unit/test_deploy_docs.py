"""docs/deploy.md's command blocks, run as an operator would paste them: the key prompt works in
bash and zsh and keeps the key off every command line; every AWS CLI call names its region; and
`make deploy` deploys to the operator's region, not the Makefile's default."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from support import REPO

DEPLOY_MD = REPO / "docs" / "deploy.md"
KEY = r"sk-proj-doc test key \with spaces"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ekmint-AbCdEf"

# Stands in for the AWS CLI: records each command line, answers the stack-output query, and
# keeps what put-secret-value reads from file:///dev/stdin.
FAKE_AWS = f"""#!/bin/sh
printf '%s\\n' "$*" >> "$RECORD/argv"
case "$1 $2" in
  "cloudformation describe-stacks") echo '{SECRET_ARN}' ;;
  "secretsmanager put-secret-value") cat /dev/stdin > "$RECORD/secret" ;;
esac
"""


def _bash_blocks(markdown: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", markdown, flags=re.DOTALL)


def _key_block() -> str:
    (block,) = [b for b in _bash_blocks(DEPLOY_MD.read_text()) if "put-secret-value" in b]
    return block


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_key_prompt_puts_the_key_in_the_secret_and_on_no_command_line(
    shell: str, tmp_path: Path
) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (apt-get install {shell})")
    fake = tmp_path / "bin" / "aws"
    fake.parent.mkdir()
    fake.write_text(FAKE_AWS)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {
        "PATH": f"{fake.parent}:{os.environ['PATH']}",
        "RECORD": str(tmp_path),
        "HOME": str(tmp_path),
    }
    run = subprocess.run(
        [shell, "-c", _key_block()],
        input=KEY + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "secret").read_text() == KEY
    argv = (tmp_path / "argv").read_text()
    assert f"--secret-id {SECRET_ARN}" in argv
    assert "proj-doc" not in argv
    assert "proj-doc" not in run.stdout + run.stderr


def test_every_aws_cli_call_in_the_deploy_guide_names_the_region() -> None:
    # The AWS CLI does not read samconfig.toml, where `sam deploy --guided` saves the region.
    for block in _bash_blocks(DEPLOY_MD.read_text()):
        commands = re.split(r"(?<!\\)\n", block)
        for command in commands:
            calls = re.findall(r"(?:^|\$\(|\| )\s*(aws [a-z]|\S*sam (?:logs|delete)\b)", command)
            if calls:
                assert '--region "$REGION"' in command, command
        if any("--region" in c for c in commands):
            assert re.search(r"^REGION=", block, flags=re.MULTILINE), block


@pytest.mark.parametrize(
    ("caller_region", "deploy_line"),
    [
        (None, "env -u AWS_DEFAULT_REGION .venv-deploy/bin/sam deploy"),
        ("eu-west-1", ".venv-deploy/bin/sam deploy"),
    ],
)
def test_make_deploy_never_deploys_to_the_makefiles_default_region(
    caller_region: str | None, deploy_line: str
) -> None:
    # As a user runs it: not a sub-make of `make test` (whose MAKELEVEL and MAKEFLAGS would add
    # "Entering/Leaving directory" lines) and without the Makefile's exported default region.
    outer = {"AWS_DEFAULT_REGION", "MAKELEVEL", "MAKEFLAGS", "MFLAGS"}
    env = {k: v for k, v in os.environ.items() if k not in outer}
    if caller_region:
        env["AWS_DEFAULT_REGION"] = caller_region
    dry_run = subprocess.run(
        ["make", "-n", "deploy"], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert dry_run.stdout.splitlines()[-1] == deploy_line
