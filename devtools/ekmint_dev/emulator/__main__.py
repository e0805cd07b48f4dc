"""python -m ekmint_dev.emulator"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence
from typing import Any

from .dialect import DIALECTS
from .service import Emulator
from .state import checked_latency

DEFAULT_CLI_PORT = 8089


logger = logging.getLogger(__name__)


def _latency_arg(text: str) -> tuple[float, float]:
    try:
        bounds = [float(part) for part in text.split(",")]
        low, high = (bounds[0], bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])
        if len(bounds) > 2:
            raise ValueError
        return checked_latency((low, high))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX milliseconds, got {text!r}") from None


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ekmint_dev.emulator",
        description="Serve a local OpenAI Realtime client_secrets emulator on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_CLI_PORT, help="0 picks a free port")
    parser.add_argument(
        "--api-key",
        action="append",
        required=True,
        dest="api_keys",
        help="an accepted API key (repeat for several)",
    )
    parser.add_argument(
        "--dialect",
        choices=sorted(DIALECTS),
        default="openai",
        help="openai (paths under /v1, bearer key) or azure (/openai/v1, api-key header)",
    )
    parser.add_argument(
        "--deployment",
        action="append",
        dest="deployments",
        help="azure: a deployment name session.model may use (repeat; default gpt-realtime)",
    )
    parser.add_argument(
        "--latency-ms",
        type=_latency_arg,
        default=(0.0, 0.0),
        help="added latency per request, MIN,MAX in milliseconds (e.g. 0,20)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    emulator_args: dict[str, Any] = {"dialect": args.dialect}
    if args.deployments:
        emulator_args["deployments"] = args.deployments
    with Emulator(
        args.api_keys, port=args.port, latency_ms=args.latency_ms, **emulator_args
    ) as emulator:
        print(f"ekmint emulator: {emulator.url} (admin {emulator.admin_url})", flush=True)
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop_requested.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
