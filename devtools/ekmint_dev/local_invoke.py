"""`ekmint invoke`: the no-Docker `sam local invoke`. Events go straight to the handler (no
gateway: no CORS, routes or authorizer), in one execution environment started for the run, with
the function's variables from the template and SAM's --env-vars file.

AWS and OpenAI come from the running local stack when its moto answers on LOCAL_AWS_PORT;
otherwise an ephemeral moto server and emulator are started in this process for the run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sys
import uuid
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ekmint.settings import DEFAULT_OPENAI_BASE_URL, SettingsError, load_settings

from . import stack_info
from .emulator import Emulator
from .emulator.dialect import DialectName
from .function_config import (
    function_definition,
    load_env_file,
    pick_settable,
    process_environment,
)
from .local_aws import LocalNames, MotoServer, provision
from .local_stack import own_origins
from .stack_info import DEFAULT_PORT
from .workers import EnvironmentPool, FunctionError, FunctionSpec

# Longer than the function's own timeout: this waits for a free environment, and there is one.
# A minted client secret (OpenAI: "ek_" and a url-safe token).
EK_VALUE = re.compile(r"ek_[A-Za-z0-9_\-]{8,}")
WAIT_S = 120.0


@dataclass(frozen=True)
class Backends:
    aws_endpoint: str
    openai_base_url: str
    names: LocalNames
    described: str


def _ephemeral(
    stack: ExitStack,
    names: LocalNames,
    environ: Mapping[str, str],
    base_url: str | None,
    dialect: DialectName = "openai",
) -> Backends:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto = MotoServer().start()
    stack.callback(moto.stop)
    real_key = environ.get("OPENAI_API_KEY", "").strip()
    key = real_key or f"sk-local-emulator-{secrets.token_hex(12)}"
    provision(moto.url, key, names)
    if real_key:
        url = base_url or DEFAULT_OPENAI_BASE_URL
        return Backends(moto.url, url, names, f"ephemeral moto, OpenAI at {url}")
    emulator = Emulator(api_keys=[key], dialect=dialect).start()
    stack.callback(emulator.stop)
    return Backends(moto.url, emulator.url, names, "ephemeral moto and emulator")


def run(
    event_paths: Sequence[Path],
    env_file: Path | None,
    aws_port: int,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    environ: Mapping[str, str] | None = None,
    show_keys: bool = False,
) -> int:
    """Print one response JSON line per event (logs go to `err`); 0 if every one was
    answered, 1 on a function error, 2 on a bad setting or file."""
    env = dict(os.environ if environ is None else environ)
    definition = function_definition()
    try:
        events = [json.loads(path.read_text()) for path in event_paths]
        from_file = load_env_file(env_file) if env_file else {}
    except (OSError, ValueError) as exc:
        print(f"ekmint invoke: {exc}", file=err)
        return 2
    function_env = dict(definition.defaults) | {
        "OPENAI_SECRET_ID": LocalNames.secret_id,
        "AUDIT_TABLE_NAME": LocalNames.audit_table,
        "QUOTA_TABLE_NAME": LocalNames.quota_table,
        "ALLOWED_ORIGINS": own_origins(DEFAULT_PORT),
    }
    function_env |= pick_settable(from_file, definition, warn=err, source=str(env_file))
    function_env.pop("OPENAI_BASE_URL", None)  # decided below, with the upstream
    # Like the stack: a real upstream only with a real key (OPENAI_API_KEY in the environment).
    base_url = (from_file.get("OPENAI_BASE_URL") or env.get("OPENAI_BASE_URL") or "").strip()
    provider: DialectName = (
        "azure" if function_env.get("UPSTREAM_PROVIDER", "").strip() == "azure" else "openai"
    )
    # Azure needs a resource's v1 base: a loopback placeholder of that shape, for the check.
    placeholder = "http://127.0.0.1:9/openai/v1" if provider == "azure" else DEFAULT_OPENAI_BASE_URL
    try:
        load_settings(function_env | {"OPENAI_BASE_URL": placeholder})
    except SettingsError as exc:
        print(f"ekmint invoke: invalid configuration: {exc}", file=err)
        return 2

    with ExitStack() as resources:
        running = stack_info.find(aws_port)
        if running is not None:
            names = LocalNames(running.audit_table, running.quota_table, running.secret_id)
            backends = Backends(
                running.aws_endpoint,
                running.openai_base_url,
                names,
                f"the local stack at {running.gateway_url}",
            )
            # The stack's upstream speaks its own dialect, whatever the file says.
            function_env["UPSTREAM_PROVIDER"] = running.upstream_provider
        else:
            names = LocalNames(
                audit_table=function_env["AUDIT_TABLE_NAME"],
                quota_table=function_env["QUOTA_TABLE_NAME"],
                secret_id=function_env["OPENAI_SECRET_ID"],
            )
            backends = _ephemeral(resources, names, env, base_url or None, provider)
        function_env |= {
            "OPENAI_BASE_URL": backends.openai_base_url,
            "AUDIT_TABLE_NAME": names.audit_table,
            "QUOTA_TABLE_NAME": names.quota_table,
            "OPENAI_SECRET_ID": names.secret_id,
        }
        print(f"ekmint invoke: using {backends.described}", file=err)
        spec = FunctionSpec(
            handler=definition.handler,
            timeout_s=definition.timeout_s,
            memory_mb=definition.memory_mb,
            name=f"ekmint-{definition.logical_id}-local",
            environment=process_environment(
                function_env, definition, aws_endpoint=backends.aws_endpoint, environ=env
            ),
        )
        pool = EnvironmentPool(
            spec, 1, log_sink=err, announce=lambda line: print(line, file=err, flush=True)
        )
        resources.callback(pool.stop)
        return _invoke_all(pool, events, out, show_keys=show_keys)
    return 1  # not reached: ExitStack does not swallow exceptions, but mypy cannot know


def mask_keys(text: str) -> str:
    """Each ek_ value as "ek_..." and its last four characters (the demo page's ek_…abcd)."""
    return EK_VALUE.sub(lambda match: f"ek_...{match.group()[-4:]}", text)


def _invoke_all(
    pool: EnvironmentPool, events: Sequence[Any], out: TextIO, *, show_keys: bool
) -> int:
    status = 0
    for event in events:
        try:
            invocation = pool.invoke(event, str(uuid.uuid4()), WAIT_S)
            answer: Any = invocation.response
        except FunctionError as error:
            # What `sam local invoke` prints for a function error.
            answer = {"errorType": error.error_type, "errorMessage": error.message}
            status = 1
        line = json.dumps(answer)
        # A live ek_ value can open a paid session until it expires: kept out of terminal
        # scrollback and CI logs unless asked for (--show-keys).
        out.write((line if show_keys else mask_keys(line)) + "\n")
        out.flush()
    return status
