"""The demo page in real Chromium against the real local stack (`ekmint dev`), voice included:
the stack's OpenAI emulator answers the SDK's WebRTC offer (devtools/ekmint_dev/realtime_peer.py).

What a frontend developer sees on `make dev`, and what happens when keys expire, connections
drop, OpenAI refuses, the key service is busy, or the microphone is off limits.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_fixtures import (  # the fixtures these tests take, imported to be found
    Browser,
    Stack,
    browser,
    live_stack,
    playwright_driver,
    screenshot,
    stack,
    voice_stack,
)

from ekmint.settings import DEFAULT_INSTRUCTIONS

pytestmark = pytest.mark.e2e
__all__ = ["browser", "live_stack", "playwright_driver", "stack", "voice_stack"]

UI_TIMEOUT_MS = 15_000
# The page shows a key as "ek_…" and its last four characters, never the whole value.
MASKED_KEY = re.compile(r"^ek_…[A-Za-z0-9_-]{4}$")


def open_page(browser: Browser, stack: Stack, query: str = "", **options: Any) -> Any:
    context = browser.context(**options)
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{stack.url}/{query}")
    page.wait_for_selector("body[data-ready=true]")
    return page


def wait_for_state(page: Any, state: str, timeout_ms: int = UI_TIMEOUT_MS) -> None:
    page.wait_for_selector(f"#status[data-state={state}]", timeout=timeout_ms)


def error_code(page: Any) -> str:
    page.wait_for_selector("#error:not([hidden])")
    return str(page.inner_text("#error-code"))


def events_of(calls: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [call for call in calls if call["event"] == event]


def test_page_gets_a_key_and_counts_down_its_expiry(browser: Browser, live_stack: Stack) -> None:
    page = open_page(browser, live_stack)
    page.click("#get-key")
    page.wait_for_function("document.querySelector('#key-expiry').textContent.startsWith('in ')")
    first = page.inner_text("#key-expiry")
    assert MASKED_KEY.match(page.inner_text("#key-value"))
    assert re.match(r"^in [45]:\d\d \(", first), first  # the service's default TTL is 300 s
    page.wait_for_function(
        "(first) => document.querySelector('#key-expiry').textContent !== first", arg=first
    )
    assert page.inner_text("#key-session") == "realtime · gpt-realtime · marin"
    screenshot(page, "key-shown")


def test_voice_connects_and_shows_the_emulators_session(
    browser: Browser, voice_stack: Stack
) -> None:
    page = open_page(browser, voice_stack)
    page.click("#start-voice")
    wait_for_state(page, "connected")
    assert page.inner_text("#session-model") == "gpt-realtime"
    assert page.inner_text("#session-voice") == "marin"
    # The SDK's session.update must not wipe what the service minted (and may have locked).
    page.wait_for_selector("#events li:has-text('session.updated')")
    assert page.inner_text("#session-instructions") == DEFAULT_INSTRUCTIONS
    # The emulator's tone arrives on a live remote audio track.
    tracks = page.evaluate(
        "document.querySelector('#remote-audio').srcObject?.getAudioTracks()"
        ".map((t) => t.readyState)"
    )
    assert tracks == ["live"]
    calls = voice_stack.calls()
    assert len(events_of(calls, "answered")) == len(events_of(calls, "connected")) == 1
    assert events_of(calls, "session.update")
    # The page's agent has a tool, made with the `tool` its SDK bundle exports.
    sdk_tool = page.evaluate("import('@openai/agents-realtime').then((sdk) => typeof sdk.tool)")
    assert sdk_tool == "function"
    screenshot(page, "voice-connected")


def test_stop_hangs_up_and_start_connects_again(browser: Browser, voice_stack: Stack) -> None:
    page = open_page(browser, voice_stack)
    page.click("#start-voice")
    wait_for_state(page, "connected")
    page.click("#stop-voice")
    wait_for_state(page, "disconnected")
    assert page.inner_text("#status") == "Not connected."
    voice_stack.wait_for_call(lambda log: bool(events_of(log, "closed")))
    page.click("#start-voice")
    wait_for_state(page, "connected")
    calls = voice_stack.calls()
    assert len(events_of(calls, "connected")) == 2
    assert len(events_of(calls, "closed")) == 1


def test_an_expired_key_is_replaced_without_a_reload(browser: Browser, voice_stack: Stack) -> None:
    voice_stack.set_call_faults([{"kind": "expire_key"}])
    page = open_page(browser, voice_stack)
    page.evaluate("window.sameDocument = true")
    page.click("#start-voice")
    wait_for_state(page, "connected")
    calls = voice_stack.calls()
    (refused,) = events_of(calls, "refused")
    (answered,) = events_of(calls, "answered")
    assert (refused["status"], refused["fault"]) == (401, "expire_key")
    assert answered["key"] != refused["key"] and answered["at"] > refused["at"]
    assert page.evaluate("window.sameDocument") is True
    assert page.locator("#events li:has-text('ephemeral_key_expired')").count() >= 1


def test_a_dropped_connection_recovers_with_new_keys_after_1_2_4_seconds(
    browser: Browser, voice_stack: Stack
) -> None:
    voice_stack.set_call_faults(
        [{"kind": "drop", "after_s": 1}, {"kind": "refuse"}, {"kind": "refuse"}]
    )
    page = open_page(browser, voice_stack)
    page.click("#start-voice")
    calls = voice_stack.wait_for_call(lambda log: len(events_of(log, "answered")) == 2)
    wait_for_state(page, "connected")
    (dropped,) = events_of(calls, "dropped")
    first_retry, second_retry = events_of(calls, "refused")
    recovered = events_of(calls, "answered")[1]
    gaps = [
        first_retry["at"] - dropped["at"],
        second_retry["at"] - first_retry["at"],
        recovered["at"] - second_retry["at"],
    ]
    # The schedule, plus a mint and an offer (tens of ms) per attempt.
    for gap, expected in zip(gaps, (1.0, 2.0, 4.0), strict=True):
        assert expected - 0.05 <= gap <= expected + 0.75, gaps
    keys = [call["key"] for call in (*events_of(calls, "answered"), first_retry, second_retry)]
    assert len(set(keys)) == 4, "every attempt should use a new key"


def test_an_emulator_that_refuses_every_offer_ends_as_webrtc_connection_failed(
    browser: Browser, voice_stack: Stack
) -> None:
    voice_stack.set_call_faults([{"kind": "refuse", "status": 503, "sticky": True}])
    page = open_page(browser, voice_stack)
    page.click("#start-voice")
    wait_for_state(page, "failed", timeout_ms=20_000)
    assert error_code(page) == "webrtc_connection_failed"
    assert page.inner_text("#error-message") == (
        "The voice connection could not be set up, or it was lost."
    )
    assert page.inner_text("#error-action").endswith("then try again.")
    assert len(events_of(voice_stack.calls(), "refused")) == 4  # the first try and 3 retries
    screenshot(page, "error-shown")


def test_503s_from_the_key_service_show_the_retry_then_the_error(
    browser: Browser, live_stack: Stack
) -> None:
    # OpenAI keeps answering 503, so ekmint answers 503 openai_api_unavailable (Retry-After: 1).
    live_stack.set_mint_faults(
        [{"kind": "status", "status": 503, "sticky": True, "retry_after_ms": 10}]
    )
    page = open_page(browser, live_stack, "?retry_budget_s=3")
    page.click("#get-key")
    page.wait_for_selector("#status:has-text('retrying')")
    assert "openai_api_unavailable" in page.inner_text("#status")
    assert error_code(page) == "openai_api_unavailable"
    assert "giving up" in page.inner_text("#error-message")
    assert page.inner_text("#key-value") == "none yet"
    assert page.locator("#events li:has-text('retrying in')").count() >= 2
    screenshot(page, "mint-error-shown")


def test_a_denied_microphone_shows_microphone_access_denied(
    browser: Browser, live_stack: Stack
) -> None:
    page = open_page(browser, live_stack, microphone_prompt="deny")
    cdp = page.context.new_cdp_session(page)
    cdp.send(
        "Browser.setPermission",
        {"permission": {"name": "microphone"}, "setting": "denied", "origin": live_stack.url},
    )
    page.click("#start-voice")
    wait_for_state(page, "failed")
    assert error_code(page) == "microphone_access_denied"
    assert "Allow microphone access" in page.inner_text("#error-action")
    assert live_stack.mint_requests() == []  # no key was spent on a call nobody can hear
    screenshot(page, "microphone-denied")
