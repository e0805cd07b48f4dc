"""The CORS headers a browser page sees: the handler's and the HTTP API's must agree.

The browser client corrects a slow or fast device clock from the answer's `Date` (a key would
otherwise look fresh after it expired); cross-origin, a page reads only the headers listed in
Access-Control-Expose-Headers, so `Date` must be among them (issue 15, bug 7).
"""

from __future__ import annotations

from template_tools import load_template

from ekmint.cors import cors_headers, preflight_headers

ORIGIN = "https://app.example.com"
READ_BY_THE_BROWSER_CLIENT = {"date", "retry-after", "x-request-id"}


def _names(header: str) -> set[str]:
    return {name.strip().lower() for name in header.split(",") if name.strip()}


def test_the_handler_exposes_what_the_browser_client_reads() -> None:
    headers = cors_headers(ORIGIN, [ORIGIN])
    assert _names(headers["Access-Control-Expose-Headers"]) >= READ_BY_THE_BROWSER_CLIENT


def test_the_http_api_exposes_what_the_browser_client_reads() -> None:
    # With a CorsConfiguration, API Gateway sets the CORS headers itself (the local gateway
    # reads the same configuration), so the handler's list alone would not reach the page.
    cors = load_template()["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    assert {name.lower() for name in cors["ExposeHeaders"]} >= READ_BY_THE_BROWSER_CLIENT


def test_no_cors_headers_for_an_origin_not_allowed() -> None:
    assert cors_headers("https://evil.example", [ORIGIN]) == {}


# What @openai/agents-realtime's WebRTC transport sends with the offer it posts to
# POST /api/realtime/calls (openaiRealtimeWebRtc.mjs: Content-Type application/sdp,
# Authorization, X-OpenAI-Agents-SDK): a preflight must allow all three, or the browser
# never sends the offer.
SENT_WITH_THE_OFFER = {"content-type", "authorization", "x-openai-agents-sdk"}


def test_the_handler_and_the_http_api_allow_what_the_sdk_sends_with_an_offer() -> None:
    headers = preflight_headers(ORIGIN, [ORIGIN])
    assert _names(headers["Access-Control-Allow-Headers"]) >= SENT_WITH_THE_OFFER
    cors = load_template()["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    assert {name.lower() for name in cors["AllowHeaders"]} >= SENT_WITH_THE_OFFER
