"""The secret scan itself (tests/secret_scan.py): a leak planted in each channel a test can print
to must fail an inner pytest run, and a clean inner run must pass.

The inner runs plant their own value (EKMINT_SCAN_PLANTED), not the fake OpenAI keys: pytester
copies the inner output into this test's output, which the outer scan reads too.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS_DIR = Path(__file__).resolve().parents[1]

CHANNELS = {
    "print": """
def test_leaks():
    print(PLANTED)
""",
    "readouterr": """
def test_leaks(capsys):
    print(PLANTED)
    assert PLANTED in capsys.readouterr().out
""",
    "capfd": """
import os
def test_leaks(capfd):
    os.write(1, PLANTED.encode())
    assert PLANTED in capfd.readouterr().out
""",
    "subprocess": """
import subprocess, sys
def test_leaks():
    run = subprocess.run([sys.executable, "-c", f"print({PLANTED!r})"],
                         capture_output=True, text=True, check=True)
    assert PLANTED in run.stdout
""",
    "info log record": """
import logging
def test_leaks():
    logging.getLogger("ekmint_dev.emulator").info("upstream key %s", PLANTED)
""",
    "debug log record": """
import logging
def test_leaks():
    logging.getLogger("moto.core").debug("secret %s", PLANTED)
""",
    "log record extra field": """
import logging
def test_leaks():
    logging.getLogger("ekmint").warning("minted", extra={"value": PLANTED})
""",
}


def inner_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, body: str, *args: str
) -> tuple[pytest.RunResult, str]:
    planted = f"planted-{secrets.token_hex(8)}"
    monkeypatch.setenv("EKMINT_SCAN_PLANTED", planted)
    monkeypatch.setenv("PYTHONPATH", str(TESTS_DIR))
    pytester.makepyfile(
        test_inner="import os\nPLANTED = os.environ['EKMINT_SCAN_PLANTED']\n" + body
    )
    result = pytester.runpytest_subprocess("-p", "secret_scan", "-p", "no:cacheprovider", *args)
    return result, planted


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_a_leak_in_each_channel_fails_the_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, channel: str
) -> None:
    result, _ = inner_run(pytester, monkeypatch, CHANNELS[channel])
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*secret hygiene*planted value*"])


def test_a_leak_under_dash_s_fails_the_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, _ = inner_run(pytester, monkeypatch, CHANNELS["print"], "-s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*secret hygiene*planted value*stdout (-s)*"])


def test_a_background_thread_leaking_after_its_test_fails_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = """
import logging, threading, time
def test_starts_a_thread():
    def later():
        time.sleep(0.3)
        logging.getLogger("ekmint_dev.emulator").info("late %s", PLANTED)
    threading.Thread(target=later, name="lingering").start()

def test_next():
    time.sleep(1.0)
"""
    result, _ = inner_run(pytester, monkeypatch, body)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # Either between the tests (the run fails at its end) or in the next test, named as
    # a thread of an earlier test: never unseen.
    result.stdout.fnmatch_lines(["*secret hygiene*planted value*lingering*"])


def test_a_clean_run_passes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    body = """
import logging, subprocess, sys
def test_clean(capsys):
    print("nothing secret")
    logging.getLogger("ekmint_dev.emulator").debug("nothing secret")
    subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True, check=True)
    capsys.readouterr()
"""
    result, _ = inner_run(pytester, monkeypatch, body)
    result.assert_outcomes(passed=1)
