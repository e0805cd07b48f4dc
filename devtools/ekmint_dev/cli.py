"""`ekmint`: the developer's command line (dev only; never shipped).

    ekmint dev        the whole service on 127.0.0.1 (what `make dev` runs)
    ekmint invoke     one or more events straight into the handler (no-Docker `sam local invoke`)
    ekmint audit      audit records as JSON lines (local stack, or a real table)
    ekmint token      a dev JWT for AUTH_MODE=jwt
    ekmint faults     script the emulator's failures while the stack runs
    ekmint sam-env    SAM's --env-vars file for `sam local invoke` against the running stack

Commands that talk to a running stack find it through its local AWS on LOCAL_AWS_PORT
(`--aws-port`), see stack_info.py.

`make install` puts the command in .venv/bin, not on PATH: run `.venv/bin/ekmint …`, or
`source .venv/bin/activate` once per shell.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from . import stack_info
from .jwt_local import DEFAULT_AUDIENCE, DEFAULT_TOKEN_TTL_S, default_issuer, local_dir
from .stack_info import DEFAULT_AWS_PORT, DEFAULT_PORT

ENV_PORT = "PORT"
ENV_AWS_PORT = "LOCAL_AWS_PORT"
DEFAULT_WORKERS = 4
ADMIN_TIMEOUT_S = 5.0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"ekmint: {name}={value!r} is not a port number") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# -- dev ---------------------------------------------------------------------------------


def _dev(args: argparse.Namespace) -> int:
    from ekmint.settings import SettingsError

    from .dynamodb_conflicts import ConflictSettingsError
    from .local_stack import Console, LocalStack, StackError, StackOptions

    console = Console()
    options = StackOptions(port=args.port, aws_port=args.aws_port, workers=args.workers)
    try:
        stack = LocalStack(options, console)
    except (SettingsError, ConflictSettingsError) as exc:
        # The same words the function would log at its cold start.
        print(f"ekmint dev: invalid configuration: {exc}", file=sys.stderr)
        return 2

    # A plain flag, not a threading.Event: Event.set() takes a lock, and a second signal
    # arriving while the first handler holds it deadlocked the stack (pkill then timeout).
    stop_requested: list[int] = []

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.append(signum)

    # Set before start(): a Ctrl-C or SIGTERM during start-up still ends in stop().
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    started = time.monotonic()
    try:
        try:
            stack.start()
        except StackError as exc:
            print(f"ekmint dev: {exc}", file=sys.stderr)
            return 1
        console.block(stack.banner())
        console.line(f"ready in {time.monotonic() - started:.1f} s")
        # sleep() returns early on a signal; the handler only appends, so nothing can block.
        while not stop_requested:
            time.sleep(0.2)
        console.line("stopping: gateway, execution environments, emulator, local AWS")
    finally:
        stack.stop()
    console.line("stopped")
    return 0


# -- invoke ------------------------------------------------------------------------------


def _invoke(args: argparse.Namespace) -> int:
    from .local_invoke import run

    return run(args.events, args.env_vars, args.aws_port, show_keys=args.show_keys)


# -- audit -------------------------------------------------------------------------------


def _audit(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from .audit_query import AuditFilter, QueryError, aws_error_line, parse_time, read_records
    from .local_aws import LocalNames, client

    try:
        wanted = AuditFilter(
            principal=args.principal,
            since=parse_time(args.since) if args.since else None,
            until=parse_time(args.until, end_of_day=True) if args.until else None,
            request_id=args.request_id,
        )
    except QueryError as exc:
        print(f"ekmint audit: {exc}", file=sys.stderr)
        return 2
    if args.region:
        if not args.table:
            print(
                "ekmint audit: --region reads a table in AWS; name it with --table", file=sys.stderr
            )
            return 2
        import boto3

        # A real table: the developer's own credentials and region, no endpoint override.
        table, where = args.table, f"region {args.region}"
        try:
            dynamodb: Any = boto3.session.Session(region_name=args.region).client("dynamodb")
        except BotoCoreError as exc:  # e.g. a malformed region name
            print(f"ekmint audit: {exc}", file=sys.stderr)
            return 2
    else:
        running = stack_info.find(args.aws_port)
        if running is None:
            print(
                f"ekmint audit: no local stack on port {args.aws_port} (start one with "
                "`make dev`, or read a table in AWS with --table NAME --region R)",
                file=sys.stderr,
            )
            return 1
        dynamodb = client("dynamodb", running.aws_endpoint)
        table = args.table or running.audit_table or LocalNames.audit_table
        where = f"the local stack ({running.aws_endpoint})"
    try:
        for record in read_records(dynamodb, table, wanted):
            print(json.dumps(record, sort_keys=True))
    except QueryError as exc:
        print(f"ekmint audit: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        # One line saying what to do; botocore's traceback helps nobody who has no credentials.
        print(f"ekmint audit: {aws_error_line(exc, table=table, where=where)}", file=sys.stderr)
        return 1
    return 0


# -- token -------------------------------------------------------------------------------


def _token(args: argparse.Namespace) -> int:
    from .jwt_local import issue_token, load_or_create_key

    running = stack_info.find(args.aws_port)
    issuer = (
        args.issuer
        or (running.jwt_issuer if running else None)
        or os.environ.get("JWT_ISSUER", "").strip()
        or default_issuer(args.port)
    )
    audience = (
        args.audience
        or (running.jwt_audience if running else None)
        or os.environ.get("JWT_AUDIENCE", "").strip()
        or DEFAULT_AUDIENCE
    ).split(",")[0]
    key = load_or_create_key(local_dir())
    print(issue_token(key, sub=args.sub, issuer=issuer, audience=audience, ttl_s=args.ttl))
    return 0


# -- faults ------------------------------------------------------------------------------


def _fault_list(text: str) -> list[Any]:
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    document = json.loads(text)
    if isinstance(document, dict) and "faults" in document:
        document = document["faults"]
    return document if isinstance(document, list) else [document]


def _faults(args: argparse.Namespace) -> int:
    import httpx

    running = stack_info.find(args.aws_port)
    if running is None:
        print(f"ekmint faults: no local stack on port {args.aws_port}", file=sys.stderr)
        return 1
    if running.emulator_admin_url is None:
        print(
            "ekmint faults: this stack calls real OpenAI (OPENAI_API_KEY is set); faults need "
            "the built-in emulator: start the stack without OPENAI_API_KEY",
            file=sys.stderr,
        )
        return 1
    url = f"{running.emulator_admin_url}/faults"
    try:
        if args.action == "show":
            answer = httpx.get(url, timeout=ADMIN_TIMEOUT_S)
        elif args.action == "clear":
            answer = httpx.delete(url, timeout=ADMIN_TIMEOUT_S)
        else:
            faults = _fault_list(args.faults)
            method = "PUT" if args.action == "set" else "POST"
            answer = httpx.request(method, url, json={"faults": faults}, timeout=ADMIN_TIMEOUT_S)
    except (OSError, ValueError) as exc:
        print(f"ekmint faults: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"ekmint faults: the emulator did not answer: {exc}", file=sys.stderr)
        return 1
    if answer.status_code != 200:
        message = answer.json().get("error", {}).get("message", answer.text)
        print(f"ekmint faults: {message}", file=sys.stderr)
        return 2
    print(json.dumps(answer.json()))
    return 0


# -- sam-env -----------------------------------------------------------------------------


def _sam_env(args: argparse.Namespace) -> int:
    from .sam_env import env_file, load_settings_file

    running = stack_info.find(args.aws_port)
    if running is None:
        print(
            f"ekmint sam-env: no local stack on port {args.aws_port}: start one with `make dev`",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(env_file(running, load_settings_file(), args.host), indent=2))
    return 0


# -- the parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    port = _env_int(ENV_PORT, DEFAULT_PORT)
    aws_port = _env_int(ENV_AWS_PORT, DEFAULT_AWS_PORT)
    parser = argparse.ArgumentParser(
        prog="ekmint",
        description="ekmint's local development tools (docs/local.md).",
        epilog="Installed by `make install` in .venv/bin: run .venv/bin/ekmint, or "
        "`source .venv/bin/activate` once per shell.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def aws_port_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--aws-port",
            type=int,
            default=aws_port,
            help=f"the local stack's moto port (${ENV_AWS_PORT}, default {DEFAULT_AWS_PORT})",
        )

    dev = commands.add_parser("dev", help="run the whole service on 127.0.0.1 (make dev)")
    dev.add_argument("--port", type=int, default=port, help=f"API port (${ENV_PORT}, {port})")
    aws_port_option(dev)
    dev.add_argument(
        "--workers",
        type=_positive,
        default=DEFAULT_WORKERS,
        help=f"most execution environments at once (default {DEFAULT_WORKERS})",
    )
    dev.set_defaults(run=_dev)

    invoke = commands.add_parser(
        "invoke", help="run events through the handler, like `sam local invoke`"
    )
    invoke.add_argument("events", nargs="+", type=Path, metavar="EVENT", help="event JSON file")
    invoke.add_argument(
        "--env-vars", type=Path, help='SAM\'s env file: {"Parameters": {…}, "MintFunction": {…}}'
    )
    invoke.add_argument(
        "--show-keys",
        action="store_true",
        help="print minted ek_ values whole (by default ek_... and their last four characters)",
    )
    aws_port_option(invoke)
    invoke.set_defaults(run=_invoke)

    audit = commands.add_parser("audit", help="audit records as JSON lines (Query, never Scan)")
    audit.add_argument("--principal", help="the caller: a JWT sub or a source IP")
    audit.add_argument("--since", help="ISO date or time, UTC unless it says otherwise")
    audit.add_argument("--until", help="ISO date or time (a bare date includes that day)")
    audit.add_argument("--request-id", help="one record, by its request id")
    audit.add_argument("--table", help="audit table name (default: the local stack's)")
    audit.add_argument("--region", help="read --table in AWS, in this region")
    aws_port_option(audit)
    audit.set_defaults(run=_audit)

    token = commands.add_parser("token", help="a dev JWT for AUTH_MODE=jwt")
    token.add_argument("--sub", default="local-developer", help="the token's subject")
    token.add_argument(
        "--ttl", type=_positive, default=DEFAULT_TOKEN_TTL_S, help="lifetime in seconds"
    )
    token.add_argument("--port", type=int, default=port, help="the stack's API port (issuer)")
    token.add_argument("--issuer", help="iss claim (default: the running stack's issuer)")
    token.add_argument("--audience", help="aud claim (default: the running stack's audience)")
    aws_port_option(token)
    token.set_defaults(run=_token)

    faults = commands.add_parser("faults", help="script the OpenAI emulator's failures")
    faults_actions = faults.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (("set", "replace the fault script"), ("add", "append to it")):
        sub = faults_actions.add_parser(action, help=text)
        sub.add_argument("faults", help="JSON: a fault, a list of faults, or @file.json")
        aws_port_option(sub)
    for action, text in (("clear", "no more faults"), ("show", "print the fault script")):
        aws_port_option(faults_actions.add_parser(action, help=text))
    faults.set_defaults(run=_faults)

    sam_env = commands.add_parser(
        "sam-env", help="SAM's --env-vars file for `sam local invoke` against the running stack"
    )
    sam_env.add_argument(
        "--host",
        default="host.docker.internal",
        help="how the container reaches this machine: host.docker.internal (default), or "
        "127.0.0.1 with `sam local invoke --docker-network host` (Linux)",
    )
    aws_port_option(sam_env)
    sam_env.set_defaults(run=_sam_env)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
