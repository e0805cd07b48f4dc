"""The demo page in real Chromium through the relay (`?via=relay`, the page's switch): the SDK
posts its WebRTC offer to the local stack's `POST /api/realtime/calls`, the real handler relays
it to the emulator's unified `/v1/realtime/calls`, and the emulator's peer answers. No key is
asked for and no `ek_` value reaches the page."""

from __future__ import annotations

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

from ekmint.settings import DEFAULT_INSTRUCTIONS

pytestmark = pytest.mark.e2e
__all__ = ["browser", "live_stack", "playwright_driver", "stack", "voice_stack"]

UI_TIMEOUT_MS = 15_000


def open_relay_page(browser: Browser, stack: Stack) -> Any:
    context = browser.context()
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(f"{request.method} {request.url}"))
    page.goto(f"{stack.url}/?via=relay")
    page.wait_for_selector("body[data-ready=true]")
    page.requests = requests
    return page


def events_of(calls: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [call for call in calls if call["event"] == event]


def test_voice_connects_through_the_relay_with_no_key_in_the_page(
    browser: Browser, voice_stack: Stack
) -> None:
    page = open_relay_page(browser, voice_stack)
    assert page.is_checked("#via-relay")
    page.click("#start-voice")
    page.wait_for_selector("#status[data-state=connected]")
    # The session the server chose, as the emulator's peer started the call with it.
    assert page.inner_text("#session-model") == "gpt-realtime"
    assert page.inner_text("#session-voice") == "marin"
    assert page.inner_text("#session-instructions") == DEFAULT_INSTRUCTIONS
    tracks = page.evaluate(
        "document.querySelector('#remote-audio').srcObject?.getAudioTracks()"
        ".map((t) => t.readyState)"
    )
    assert tracks == ["live"]
    # The offer went to ekmint, and only there: no key request, nothing sent to the emulator.
    posts = [r for r in page.requests if r.startswith("POST ")]
    assert posts == [f"POST {voice_stack.url}/api/realtime/calls"]
    upstream = [r["path"] for r in voice_stack.mint_requests()]
    assert upstream == ["/v1/realtime/calls"]
    calls = voice_stack.calls()
    assert len(events_of(calls, "answered")) == len(events_of(calls, "connected")) == 1
    assert page.inner_text("#key-value") == "none yet"
    assert "ek_" not in page.content()
    assert page.locator("#events li:has-text('relayed through ekmint')").count() == 1


def test_a_relayed_call_that_openai_refuses_shows_the_services_code(
    browser: Browser, voice_stack: Stack
) -> None:
    # The unified calls route takes the emulator's API fault script: OpenAI overloaded.
    voice_stack.set_mint_faults([{"kind": "status", "status": 503, "sticky": True}])
    page = open_relay_page(browser, voice_stack)
    page.click("#start-voice")
    page.wait_for_selector("#status[data-state=failed]")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error-code") == "openai_api_unavailable"
    assert voice_stack.calls() == []  # no call was created, and none repeated (not idempotent)
    assert [r["path"] for r in voice_stack.mint_requests()] == ["/v1/realtime/calls"]
