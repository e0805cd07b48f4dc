"""The examples a frontend developer starts from, built as they would build them and driven in
real Chromium against the real local stack (its emulator answers the WebRTC call):

- examples/vite-app: a Vite app that installs clients/js from its folder (install-links, as a
  tarball installs), with an agent and a tool;
- examples/react-hook: useEkmintVoice under React StrictMode (a development build, where
  StrictMode mounts, cleans up and mounts again).

Each app is served by a plain HTTP server on the stack's second allowed origin, so its key
requests are cross-origin, as in production. The demo page (plain HTML) is test_demo_page.py.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_fixtures import (  # the fixtures these tests take, imported to be found
    Browser,
    Stack,
    browser,
    live_stack,
    playwright_driver,
    stack,
    voice_stack,
)
from support import REPO
from test_js_client import npm_ci

pytestmark = pytest.mark.e2e
__all__ = ["browser", "live_stack", "playwright_driver", "stack", "voice_stack"]

EXAMPLES = REPO / "examples"
BUILD_TIMEOUT_S = 180
UI_TIMEOUT_MS = 20_000
# Vite 7's floor (its package.json "engines").
VITE_NODE = (20, 19)


def _node_version() -> tuple[int, int]:
    node = shutil.which("node")
    if node is None:
        return (0, 0)
    text = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    major, minor, *_ = text.strip().lstrip("v").split(".")
    return (int(major), int(minor))


def build(example: str, stack: Stack, out: Path, mode: str = "production") -> Path:
    """`vite build` of examples/<example>, configured for this stack, into `out`."""
    if _node_version() < VITE_NODE:
        reason = f"Vite 7 needs Node {VITE_NODE[0]}.{VITE_NODE[1]}+ (found {_node_version()})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(f"EXAMPLE TESTS NOT RUN: {reason}")
    folder = EXAMPLES / example
    npm_ci(folder, ("node_modules/.bin/vite", "node_modules/@ekmint/client/package.json"))
    refresh_client(folder / "node_modules" / "@ekmint" / "client")
    env = os.environ | {
        # React's development build (StrictMode's double effects) needs NODE_ENV, not only --mode.
        "NODE_ENV": mode,
        "VITE_EKMINT_URL": f"{stack.url}/api/client-secret",
        "VITE_REALTIME_URL": stack.realtime_url or "",
    }
    vite = str(folder / "node_modules" / ".bin" / "vite")
    command = [vite, "build", "--mode", mode, "--outDir", str(out), "--emptyOutDir"]
    built = subprocess.run(
        [*command, "--logLevel", "warn"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


def refresh_client(installed: Path) -> None:
    """The client as this checkout has it, not as an earlier `npm ci` copied it: what the
    package ships (`files` in its package.json), copied over the installed copy."""
    client = REPO / "clients" / "js"
    shutil.rmtree(installed)
    installed.mkdir(parents=True)
    for name in ("package.json", "README.md"):
        shutil.copy2(client / name, installed / name)
    for folder in ("src", "types"):
        shutil.copytree(client / folder, installed / folder)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(folder: Path, port: int) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def vite_dist(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("vite-app", stack, tmp_path_factory.mktemp("vite-app"))


@pytest.fixture(scope="module")
def react_dist(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A development build: only there does StrictMode mount, clean up and mount again.
    return build("react-hook", stack, tmp_path_factory.mktemp("react-hook"), mode="development")


@pytest.fixture
def vite_app(voice_stack: Stack, vite_dist: Path) -> Iterator[str]:
    yield from serve(vite_dist, voice_stack.app_port)


@pytest.fixture
def react_app(voice_stack: Stack, react_dist: Path) -> Iterator[str]:
    yield from serve(react_dist, voice_stack.app_port)


# Every stream the page gets from getUserMedia, to tell which are still recording.
RECORD_STREAMS = """
  window.grantedStreams = [];
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    window.grantedStreams.push(stream);
    return stream;
  };
"""
LIVE_TRACKS = (
    "window.grantedStreams.flatMap((s) => s.getTracks()).filter((t) => t.readyState === 'live')"
    ".length"
)


def open_app(browser: Browser, url: str) -> Any:
    context = browser.context()
    context.add_init_script(RECORD_STREAMS)
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    return page


def events_of(calls: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [call for call in calls if call["event"] == event]


def test_vite_app_connects_keeps_the_minted_session_and_hangs_up(
    browser: Browser, voice_stack: Stack, vite_app: str
) -> None:
    page = open_app(browser, vite_app)
    page.click("#start")
    page.wait_for_selector("#state:text-is('connected')")
    # The emulator mints server_vad; the SDK's own session.update would make it semantic_vad.
    page.wait_for_selector("#turn-detection[data-event='session.updated']")
    assert page.inner_text("#turn-detection") == "server_vad"
    assert page.evaluate(LIVE_TRACKS) == 1
    page.click("#mute")
    assert page.inner_text("#mute") == "Unmute"
    page.click("#stop")
    page.wait_for_selector("#state:text-is('disconnected (closed)')")
    assert page.evaluate(LIVE_TRACKS) == 0
    calls = voice_stack.wait_for_call(lambda log: bool(events_of(log, "closed")))
    assert len(events_of(calls, "connected")) == len(events_of(calls, "closed")) == 1


def test_vite_app_reads_the_date_header_cross_origin(
    browser: Browser, voice_stack: Stack, vite_app: str
) -> None:
    # Issue 15, bug 7: the client corrects a wrong device clock from Date; cross-origin the page
    # sees only the exposed headers.
    page = open_app(browser, vite_app)
    assert vite_app != voice_stack.url
    date = page.evaluate(
        "(url) => fetch(url, { method: 'POST' }).then((r) => r.headers.get('date'))",
        f"{voice_stack.url}/api/client-secret",
    )
    assert date and date.endswith("GMT"), date


def test_react_hook_under_strict_mode_connects_once_and_cleans_up(
    browser: Browser, voice_stack: Stack, react_app: str
) -> None:
    page = open_app(browser, react_app)
    page.click("#toggle")
    page.wait_for_selector("#state:text-is('connected')")
    # StrictMode ran the effect twice: two sessions, the first closed by the cleanup at once.
    assert page.evaluate("window.ekmintSessions") == 2
    assert page.query_selector("#error") is None
    assert page.inner_text("#voice") == "marin"
    # StrictMode's first mount was cleaned up: one key, one call, one live microphone.
    assert len(voice_stack.mint_requests()) == 1
    assert len(events_of(voice_stack.calls(), "connected")) == 1
    assert page.evaluate(LIVE_TRACKS) == 1
    page.click("#toggle")
    page.wait_for_selector("#state:text-is('idle')")
    assert page.evaluate(LIVE_TRACKS) == 0
    calls = voice_stack.wait_for_call(lambda log: bool(events_of(log, "closed")))
    assert len(events_of(calls, "closed")) == 1
