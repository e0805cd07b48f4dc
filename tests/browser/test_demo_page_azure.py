"""The demo page in real Chromium against `ekmint dev` in Azure mode (UPSTREAM_PROVIDER=azure, no
key): the key comes from the emulated Azure OpenAI resource, and the voice session connects
through the answer's `webrtc_url` to the emulator's WebRTC peer at Azure's calls path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_fixtures import (  # the fixtures these tests take, imported to be found
    REPO,
    Browser,
    Stack,
    _start_stack,
    _stop,
    browser,
    playwright_driver,
)

pytestmark = pytest.mark.e2e
__all__ = ["browser", "playwright_driver"]

UI_TIMEOUT_MS = 15_000
DEPLOYMENT = "realtime-eastus2"
AZURE_CALLS_PATH = "/openai/v1/realtime/calls"
# Nothing listens there: a page that used its own configured URL instead of webrtc_url fails.
DEAD_CALLS_URL = "http://127.0.0.1:9/v1/realtime/calls"


@pytest.fixture(scope="module")
def azure_stack() -> Iterator[Stack]:
    started = _start_stack(
        {"UPSTREAM_PROVIDER": "azure", "SESSION_POLICY": f'{{"models": ["{DEPLOYMENT}"]}}'},
        REPO / "artifacts" / "browser-stack-azure.log",
    )
    try:
        yield started
    finally:
        _stop(started.process)


def test_voice_connects_through_webrtc_url_to_the_azure_peer(
    browser: Browser, azure_stack: Stack
) -> None:
    context = browser.context()
    page: Any = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{azure_stack.url}/?realtime={DEAD_CALLS_URL}")
    page.wait_for_selector("body[data-ready=true]")
    page.click("#start-voice")
    page.wait_for_selector("#status[data-state=connected]")
    assert page.inner_text("#session-model") == DEPLOYMENT
    (minted,) = azure_stack.mint_requests()
    assert minted["path"] == "/openai/v1/realtime/client_secrets" and minted["status"] == 200
    calls = azure_stack.wait_for_call(lambda log: any(call["event"] == "connected" for call in log))
    (answered,) = [call for call in calls if call["event"] == "answered"]
    assert answered["path"] == AZURE_CALLS_PATH and answered["webrtcfilter"] is False
    tracks = page.evaluate(
        "document.querySelector('#remote-audio').srcObject?.getAudioTracks()"
        ".map((t) => t.readyState)"
    )
    assert tracks == ["live"]
