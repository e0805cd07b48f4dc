"""Tests that cannot run here must not pass silently in CI: with CI=true a missing dependency
fails the run, as the browser tests' fixtures already do (browser_fixtures.unavailable)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

TESTS_DIR = Path(__file__).resolve().parents[1]
PEER_TESTS = TESTS_DIR / "browser" / "test_realtime_peer.py"


def run_without_aiortc(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> pytest.RunResult:
    blocker = pytester.mkdir("blocker")
    (blocker / "aiortc.py").write_text("raise ImportError('aiortc blocked for this test')\n")
    pythonpath = [blocker, TESTS_DIR, TESTS_DIR / "e2e", TESTS_DIR / "browser"]
    monkeypatch.setenv("PYTHONPATH", ":".join(map(str, pythonpath)))
    monkeypatch.setenv("CI", ci)
    return pytester.runpytest_subprocess(str(PEER_TESTS), "-p", "no:cacheprovider", "-rs")


def test_webrtc_peer_tests_fail_in_ci_without_aiortc(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_without_aiortc(pytester, monkeypatch, "true")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error stops the run
    result.stdout.fnmatch_lines(["*CI=true but aiortc does not import*"])


def test_webrtc_peer_tests_skip_loudly_elsewhere(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_without_aiortc(pytester, monkeypatch, "")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*WEBRTC PEER TESTS NOT RUN*"])
