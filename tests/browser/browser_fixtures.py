"""Real Chromium against the real local stack: fixtures for both, and the emulator's controls.

Not a conftest.py: with rootdir-less test folders, a second `conftest` module shadows the one
that tests/integration imports by name (`from support import HandlerFactory`). The browser
tests import these fixtures explicitly.

Chromium is Debian's (`apt-get install chromium`), driven by Playwright for Python with
`executable_path` (no `playwright install`). Without it the tests skip with the reason, except
in CI (CI=true), where a missing browser is a failure: a green CI run must have run them.

The stack is `python -m ekmint_dev.cli dev` as a subprocess on free ports, started once per
session; every test gets a fresh browser profile and a stack whose fault scripts are empty.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import REPO, find_leaks

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "artifacts" / "screenshots"
STACK_LOG = REPO / "artifacts" / "browser-stack.log"
STACK_START_TIMEOUT_S = 60.0
LOCAL_CONFIG_PATH = "/_ekmint/local-config.json"

# From the issue: fake media devices, nothing that phones home, a fresh profile per test.
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip loudly on a developer's machine; fail in CI, where the tests must run."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(f"BROWSER TESTS NOT RUN: {reason}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _http(method: str, url: str, body: Any = None, timeout_s: float = 5.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        text = answer.read()
    return json.loads(text) if text else None


@dataclass
class Stack:
    """A running `ekmint dev` and the controls of its OpenAI emulator (and WebRTC peer)."""

    url: str
    emulator_admin_url: str
    realtime_url: str | None  # the emulator's WebRTC calls URL, as the page learns it
    process: subprocess.Popen[bytes]
    # A second origin in ALLOWED_ORIGINS, for apps served apart from the stack (a Vite build):
    # their key requests are cross-origin, as in production.
    app_port: int = 0

    @property
    def app_origin(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    # -- the client_secrets fault script (emulator/faults.py) and its request log -----------
    def set_mint_faults(self, faults: list[dict[str, Any]]) -> None:
        _http("PUT", f"{self.emulator_admin_url}/faults", {"faults": faults})

    def mint_requests(self) -> list[dict[str, Any]]:
        return list(_http("GET", f"{self.emulator_admin_url}/requests"))

    # -- the WebRTC peer's fault script and call log (realtime_peer.py) ---------------------
    def set_call_faults(self, faults: list[dict[str, Any]]) -> None:
        _http("PUT", f"{self.emulator_admin_url}/realtime/faults", {"faults": faults})

    def calls(self) -> list[dict[str, Any]]:
        return list(_http("GET", f"{self.emulator_admin_url}/realtime/calls"))

    def wait_for_call(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 20.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            calls = self.calls()
            if predicate(calls) or time.monotonic() > deadline:
                return calls
            time.sleep(0.1)

    def reset(self) -> None:
        _http("DELETE", f"{self.emulator_admin_url}/faults")
        _http("DELETE", f"{self.emulator_admin_url}/requests")
        if self.realtime_url:
            _http("POST", f"{self.emulator_admin_url}/realtime/reset")


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log_path: Path = STACK_LOG) -> None:
    deadline = time.monotonic() + STACK_START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            _http("HEAD", url + "/", timeout_s=1.0)
            return
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
    pytest.fail(f"the local stack did not come up at {url} (its log):\n{tail}", pytrace=False)


def _realtime_url(url: str) -> str | None:
    """What the stack tells the page at LOCAL_CONFIG_PATH; None if it does not (yet)."""
    try:
        config = _http("GET", url + LOCAL_CONFIG_PATH)
    except urllib.error.HTTPError:
        return None
    return str(config["realtime_url"]) if config.get("realtime_url") else None


# Each test module imports these fixtures, which makes a copy of each session fixture per
# module; these hold the one stack and the one Playwright driver the copies share, stopped when
# the pytest session ends.
_SHARED: dict[str, Any] = {}


def _start_stack(extra_env: dict[str, str] | None = None, log_path: Path = STACK_LOG) -> Stack:
    """`ekmint dev` on free ports with its emulator; `extra_env` adds settings (such as
    UPSTREAM_PROVIDER=azure, which makes the emulator an Azure OpenAI resource)."""
    from ekmint_dev import stack_info

    port, aws_port, app_port = _free_port(), _free_port(), _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        # The emulator, not OpenAI; no sign-in; the service's own defaults otherwise.
        if key not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AUTH_MODE", "ALLOWED_ORIGINS")
    }
    # One browser on 127.0.0.1 asks for many keys; the anonymous quota (3/min) would stop it.
    env |= {"QUOTA_PER_MINUTE": "10000", "QUOTA_PER_DAY": "100000", "GLOBAL_DAILY_CAP": "0"}
    own = [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
    env["ALLOWED_ORIGINS"] = ",".join([*own, f"http://127.0.0.1:{app_port}"])
    env |= extra_env or {}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        command = [sys.executable, "-m", "ekmint_dev.cli", "dev"]
        process = subprocess.Popen(
            [*command, "--port", str(port), "--aws-port", str(aws_port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(url, process, log_path)
        info = stack_info.find(aws_port)
        assert info is not None and info.emulator_admin_url, "the stack should use its emulator"
        return Stack(url, info.emulator_admin_url, _realtime_url(url), process, app_port)
    except BaseException:
        _stop(process)
        raise


def _stop(process: subprocess.Popen[bytes]) -> int | None:
    process.terminate()
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def _stop_and_check(process: subprocess.Popen[bytes]) -> None:
    code = _stop(process)
    # As stack_harness.Stack.stop does for the other stacks: a clean exit, and no secret in
    # anything the stack printed (this log is not part of any test's captured output).
    log = STACK_LOG.read_text(errors="replace")
    leaks = find_leaks(log)
    assert not leaks, f"{STACK_LOG} holds {sorted(set(leaks))}"
    assert code == 0, f"the browser tests' stack ended with {code}:\n{log[-3000:]}"


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Stack:
    if "stack" not in _SHARED:
        started = _start_stack()
        _SHARED["stack"] = started
        request.config.add_cleanup(lambda: _stop_and_check(_SHARED.pop("stack").process))
    return _SHARED["stack"]  # type: ignore[no-any-return]


@pytest.fixture
def live_stack(stack: Stack) -> Stack:
    """The session's stack with empty fault scripts and logs."""
    stack.reset()
    return stack


@pytest.fixture
def voice_stack(live_stack: Stack) -> Stack:
    """A stack whose emulator also answers WebRTC calls (realtime_peer.py, mounted)."""
    if live_stack.realtime_url is None:
        pytest.fail(
            f"the local stack serves no {LOCAL_CONFIG_PATH}: the emulator's WebRTC peer "
            "(devtools/ekmint_dev/realtime_peer.py) is not mounted in the stack",
            pytrace=False,
        )
    return live_stack


@pytest.fixture(scope="session")
def playwright_driver(request: pytest.FixtureRequest) -> Any:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install -e '.[dev]')")
    if "playwright" not in _SHARED:
        # One driver per process: a second sync_playwright() refuses to start inside the first.
        _SHARED["playwright"] = sync_playwright().start()
        request.config.add_cleanup(lambda: _SHARED.pop("playwright").stop())
    return _SHARED["playwright"]


@dataclass
class Browser:
    """Opens fresh Chromium profiles; each closes at the end of the test."""

    driver: Any
    opened: list[Any]
    profiles: list[tempfile.TemporaryDirectory[str]]

    def context(self, *, microphone_prompt: str = "accept") -> Any:
        """A new profile. microphone_prompt='accept': the fake UI grants the microphone;
        'deny': no fake UI, and the site's microphone permission is set to denied."""
        args = list(CHROMIUM_ARGS)
        if microphone_prompt == "deny":
            args.remove("--use-fake-ui-for-media-stream")
        profile = tempfile.TemporaryDirectory(prefix="ekmint-chromium-")
        self.profiles.append(profile)
        context = self.driver.chromium.launch_persistent_context(
            profile.name, executable_path=str(CHROMIUM), headless=True, args=args
        )
        self.opened.append(context)
        return context


@pytest.fixture
def browser(playwright_driver: Any) -> Iterator[Browser]:
    opened = Browser(playwright_driver, [], [])
    yield opened
    for context in opened.opened:
        context.close()
    for profile in opened.profiles:
        profile.cleanup()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def node_binary() -> str | None:
    return shutil.which("node")
