"""`python -m bench.against_emulator`: warm mints of the real handler against the project's own
parts over HTTP (moto server and the OpenAI emulator), the figure issue 2 asks for. Unlike
`make bench` (instant stubs, ekmint's own overhead), this includes moto's and the emulator's
time, so it is what a developer sees locally, not what Lambda costs."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import statistics
import time

from ekmint_dev.emulator import Emulator
from ekmint_dev.events import http_api_event
from ekmint_dev.lambda_context import LocalLambdaContext
from ekmint_dev.local_aws import MotoServer, provision

WARM_UP = 20
MINTS = 200
OPENAI_KEY = "sk-local.bench.key.0001"


def main() -> None:
    moto = MotoServer().start()
    emulator = Emulator(api_keys=[OPENAI_KEY], realtime=False).start()
    try:
        names = provision(moto.url, OPENAI_KEY)
        os.environ.update(
            {
                "OPENAI_SECRET_ID": names.secret_id,
                "AUDIT_TABLE_NAME": names.audit_table,
                "QUOTA_TABLE_NAME": names.quota_table,
                "OPENAI_BASE_URL": emulator.url,
                "QUOTA_PER_MINUTE": "100000",  # on, never reached: the charge is measured
                "QUOTA_PER_DAY": "1000000",
                "AWS_ENDPOINT_URL": moto.url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        handler = importlib.import_module("ekmint.handler")
        times_ms = []
        with contextlib.redirect_stdout(io.StringIO()):
            for _ in range(WARM_UP + MINTS):
                started = time.perf_counter()
                event = http_api_event("POST", "/api/client-secret", [], b"")
                result = handler.lambda_handler(event, LocalLambdaContext())
                times_ms.append((time.perf_counter() - started) * 1000)
                assert result["statusCode"] == 200, result
    finally:
        emulator.stop()
        moto.stop()
    warm = sorted(times_ms[WARM_UP:])
    print(
        f"warm mint, real handler against moto server + emulator over HTTP: "
        f"p50 {statistics.median(warm):.1f} ms, p99 {warm[int(0.99 * len(warm))]:.1f} ms "
        f"(n={len(warm)})"
    )


if __name__ == "__main__":
    main()
