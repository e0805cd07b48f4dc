"""`python -m bench.relay_hop --url http://127.0.0.1:3917`: what relaying the WebRTC offer
through ekmint costs in connection set-up, against a running local stack (`make dev`, with a
quota that allows the rounds, e.g. QUOTA_PER_MINUTE=10000).

Each round times what a page does before its call can start, both ways, with the same offer:
- minted: POST /api/client-secret, then the offer to the emulator's /v1/realtime/calls with the
  `ek_` value (two requests from the page);
- relayed: POST /api/realtime/calls with the offer (one request from the page; ekmint makes the
  second, to the emulator, with the real key).
The extra hop is the relayed request minus the direct offer. With `--browser`, it also times
the demo page in headless Chromium (Playwright, fake microphone) from "Start voice" to
`connected`, minted and relayed: the whole set-up a user waits for (the SDK, getUserMedia, ICE,
DTLS, the events channel). Local figures: loopback network, moto for DynamoDB, the emulator for
OpenAI; docs/frontend.md says how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

import httpx
from playwright.sync_api import sync_playwright

from ekmint_dev.realtime_peer import browser_like_offer

LOCAL_CONFIG_PATH = "/_ekmint/local-config.json"
CHROMIUM = "/usr/bin/chromium"
# As tests/browser/browser_fixtures.py: a fake microphone, granted without a prompt.
CHROMIUM_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 "--no-sandbox", "--disable-gpu", "--no-first-run"]  # fmt: skip
# Click "Start voice", resolve with the milliseconds until the page's status says connected.
CLICK_TO_CONNECTED_JS = """() => new Promise((resolve) => {
  const status = document.querySelector('#status');
  const started = performance.now();
  new MutationObserver(() => {
    if (status.dataset.state === 'connected') resolve(performance.now() - started);
  }).observe(status, { attributes: true });
  document.querySelector('#start-voice').click();
})"""


def _timed(client: httpx.Client, url: str, **kwargs: object) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.post(url, **kwargs)  # type: ignore[arg-type]
    return (time.perf_counter() - started) * 1000, response


def _summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"{name:<34} median {statistics.median(values):7.1f} ms   p90 {p90:7.1f} ms"


def browser_rounds(url: str, rounds: int, warm_up: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"mint": [], "relay": []}
    with sync_playwright() as driver, tempfile.TemporaryDirectory() as profile:
        context = driver.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = context.new_page()
        for round_number in range(warm_up + rounds):
            for via, values in figures.items():
                page.goto(f"{url}/?via={via}")  # a fresh page: no cached key, SDK loaded anew
                page.wait_for_selector("body[data-ready=true]")
                elapsed_ms = float(page.evaluate(CLICK_TO_CONNECTED_JS))
                page.click("#stop-voice")
                if round_number >= warm_up:
                    values.append(elapsed_ms)
        context.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:3917")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warm-up", type=int, default=5)
    parser.add_argument("--browser", type=int, default=0, help="rounds in Chromium (0: none)")
    args = parser.parse_args()
    origin = {"origin": args.url}
    offer = asyncio.run(browser_like_offer()).encode()
    figures: dict[str, list[float]] = {"key": [], "direct": [], "minted": [], "relayed": []}
    with httpx.Client(timeout=30) as client:
        realtime_url = client.get(args.url + LOCAL_CONFIG_PATH).json()["realtime_url"]
        for round_number in range(args.warm_up + args.rounds):
            key_ms, key = _timed(client, args.url + "/api/client-secret", headers=origin)
            key.raise_for_status()
            sdp = {"content-type": "application/sdp"}
            bearer = {"authorization": f"Bearer {key.json()['value']}"}
            direct_ms, direct = _timed(
                client, realtime_url, content=offer, headers=origin | sdp | bearer
            )
            relay_ms, relayed = _timed(
                client, args.url + "/api/realtime/calls", content=offer, headers=origin | sdp
            )
            if direct.status_code != 201 or relayed.status_code != 201:
                raise SystemExit(
                    f"round {round_number}: {direct.status_code} {relayed.status_code}"
                )
            if round_number >= args.warm_up:
                figures["key"].append(key_ms)
                figures["direct"].append(direct_ms)
                figures["minted"].append(key_ms + direct_ms)
                figures["relayed"].append(relay_ms)
    hop = [r - d for r, d in zip(figures["relayed"], figures["direct"], strict=True)]
    print(f"{args.rounds} rounds after {args.warm_up} warm-up, {args.url}")
    print(_summary("key request (minted)", figures["key"]))
    print(_summary("offer to the emulator (minted)", figures["direct"]))
    print(_summary("minted set-up: key + offer", figures["minted"]))
    print(_summary("relayed set-up: offer via ekmint", figures["relayed"]))
    print(_summary("extra hop: relayed - direct offer", hop))
    if args.browser:
        clicks = browser_rounds(args.url, args.browser, warm_up=2)
        print(_summary("Chromium: start -> connected, minted", clicks["mint"]))
        print(_summary("Chromium: start -> connected, relayed", clicks["relay"]))


if __name__ == "__main__":
    main()
