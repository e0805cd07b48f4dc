"""The run-wide secret scan, a pytest plugin (`-p secret_scan` in pyproject.toml's addopts).

A test whose output holds a fake OpenAI key or any `ek_` value fails, whatever it asserted.
Its output is every channel a run has, not only what pytest happens to show:
- what pytest captures for each phase (stdout, stderr, log records at pytest's level);
- output the test read itself, so pytest never saw it: `capsys`/`capfd.readouterr()`, and a
  subprocess's output read with `capture_output` (every `Popen.communicate`);
- every stdlib log record at DEBUG and above: the root logger is set to DEBUG for the scan's own
  handler (the emulator's and moto's lines are INFO/DEBUG), while pytest's report handler stays at
  WARNING (`log_level` in pyproject.toml) so a failure's report is not drowned. Wire-level loggers
  (botocore prints every response body, the SDK's legitimate secret read included; aiortc every
  packet) are scanned from INFO up;
- with `-s` (`make load`), what reaches sys.stdout and sys.stderr;
- log records written between tests (a background thread outliving its test): they fail the
  run at its end, naming the test that ran last; a record that lands in a later test names the
  thread that wrote it.
Stack logs are scanned by their owners when the stack stops (tests/e2e/stack_harness.py,
tests/browser/browser_fixtures.py). tests/unit/test_secret_scan.py plants a leak in each channel.

EKMINT_SCAN_PLANTED adds a value to look for: the scan's own tests plant it in an inner run,
so the outer run (which sees the inner output) does not trip over it.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

import pytest
from _pytest.capture import CaptureFixture
from support import find_leaks

WIRE_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer", "httpcore", "hpack", "asyncio")
WIRE_LOGGERS += ("aioice", "aiortc", "av", "PIL", "faker", "hypothesis", "charset_normalizer")
PLANTED_ENV = "EKMINT_SCAN_PLANTED"


class _Seen:
    """Text from the channels pytest does not report, by phase, and between tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current: str | None = None  # the running test's node id
        self.last: str | None = None
        self.threads_before: set[int] = set()
        self._phase: list[tuple[str, str]] = []
        self.outside: list[tuple[str, str, str]] = []  # (after test, channel, text)
        self.extra: tuple[str, ...] = ()

    def record(self, channel: str, text: str) -> None:
        if not text:
            return
        with self._lock:
            if self.current is None:
                self.outside.append((self.last or "(before the first test)", channel, text))
            else:
                self._phase.append((channel, text))

    def take(self) -> list[tuple[str, str]]:
        with self._lock:
            taken, self._phase = self._phase, []
        return taken

    def leaks(self, text: str) -> list[str]:
        found = find_leaks(text)
        found += [f"planted value {value[:10]}…" for value in self.extra if value in text]
        return found


SEEN = _Seen()
_SCANNED = pytest.StashKey[int]()


class _ScanHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"{self.format(record)} {vars(record)!r}"
        except Exception:  # a record that cannot be formatted is scanned as its parts
            text = repr(vars(record))
        thread = threading.current_thread()
        origin = "" if thread.ident not in SEEN.threads_before else " of an earlier test"
        SEEN.record(f"log record ({record.name}, thread {thread.name}{origin})", text)


class _Tee(io.TextIOBase):
    """sys.stdout/sys.stderr under -s: written through, and recorded."""

    def __init__(self, stream: TextIO, channel: str) -> None:
        self._stream = stream
        self._channel = channel

    def write(self, text: str) -> int:
        SEEN.record(self._channel, text)
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _decoded(data: object) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data if isinstance(data, str) else ""


def _patch_communicate() -> None:
    original = subprocess.Popen.communicate
    if getattr(original, "scanned", False):
        return

    def communicate(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> Any:
        out, err = original(self, *args, **kwargs)
        SEEN.record(f"subprocess output ({self.args!r:.60})", _decoded(out) + _decoded(err))
        return out, err

    communicate.scanned = True  # type: ignore[attr-defined]
    subprocess.Popen.communicate = communicate  # type: ignore[method-assign]


def _patch_readouterr() -> None:
    original = CaptureFixture.readouterr
    if getattr(original, "scanned", False):
        return

    def readouterr(self: CaptureFixture[Any]) -> Any:
        result = original(self)
        SEEN.record("output read with readouterr()", _decoded(result.out) + _decoded(result.err))
        return result

    readouterr.scanned = True  # type: ignore[attr-defined]
    CaptureFixture.readouterr = readouterr  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    SEEN.extra = tuple(v for v in os.environ.get(PLANTED_ENV, "").split(",") if v)
    root = logging.getLogger()
    root.addHandler(_ScanHandler(logging.DEBUG))
    root.setLevel(logging.DEBUG)
    for name in WIRE_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
    _patch_communicate()
    _patch_readouterr()
    if config.getoption("capture") == "no":
        sys.stdout = _Tee(sys.stdout, "stdout (-s)")
        sys.stderr = _Tee(sys.stderr, "stderr (-s)")


def pytest_runtest_logstart(nodeid: str, location: object) -> None:
    SEEN.take()  # whatever a previous phase left unclaimed was reported with it
    SEEN.threads_before = {t.ident for t in threading.enumerate() if t.ident is not None}
    SEEN.threads_before.discard(threading.main_thread().ident)
    SEEN.current = nodeid


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    SEEN.current = None
    SEEN.last = nodeid


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    # A phase's report repeats the sections of the phases before it: scan each once.
    scanned = item.stash.get(_SCANNED, 0)
    item.stash[_SCANNED] = len(report.sections)
    channels = [(name.lower(), content) for name, content in report.sections[scanned:]]
    channels += SEEN.take()
    leaks = {f"{leak} in {channel}" for channel, text in channels for leak in SEEN.leaks(text)}
    if leaks and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = f"secret hygiene: the test's output contains {sorted(leaks)}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = sorted(
        {
            f"{leak} in {channel} after {test}"
            for test, channel, text in SEEN.outside
            for leak in SEEN.leaks(text)
        }
    )
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"secret hygiene: output between tests contains {leaks}"
        if reporter is not None:
            reporter.write_line(message, red=True)
        else:
            print(message, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
