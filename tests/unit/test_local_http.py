"""The local guard's rules, one by one (tests/e2e/test_local_guard.py probes a running stack)."""

from __future__ import annotations

import pytest

from ekmint_dev.local_http import host_is_local, origin_is_own, refusal, without_cors

PORT = 4566


@pytest.mark.parametrize(
    "host",
    [
        *("127.0.0.1", "127.0.0.1:4566", "localhost:3000", "LOCALHOST", "[::1]:4566", "[::1]"),
        "host.docker.internal:4566",
    ],
)
def test_loopback_names_are_local(host: str) -> None:
    assert host_is_local(host)


@pytest.mark.parametrize(
    "host",
    [
        *(None, "", "evil.example", "evil.example:4566", "127.0.0.1.nip.io:4566", "localhost.evil"),
        *("127.0.0.2:4566", "0.0.0.0:4566", "[::2]:4566", "localhost:45a", "127.0.0.1:4566@evil"),
    ],
)
def test_other_names_are_not(host: str | None) -> None:
    assert not host_is_local(host)


def test_own_origin_is_http_on_a_local_name_and_this_port() -> None:
    assert origin_is_own("http://127.0.0.1:4566", PORT)
    assert origin_is_own("http://localhost:4566", PORT)
    assert not origin_is_own("http://127.0.0.1:3000", PORT)
    assert not origin_is_own("https://127.0.0.1:4566", PORT)
    assert not origin_is_own("null", PORT)
    assert not origin_is_own("http://evil.example:4566", PORT)


def headers(**extra: str) -> dict[str, str]:
    return {"Host": f"127.0.0.1:{PORT}", **{k.replace("_", "-"): v for k, v in extra.items()}}


def test_a_foreign_origin_may_read_but_not_change_state() -> None:
    assert refusal("GET", headers(Origin="http://evil.example"), PORT) is None
    assert refusal("POST", headers(Origin="http://evil.example"), PORT) is not None
    assert refusal("DELETE", headers(Origin="null"), PORT) is not None
    assert refusal("POST", headers(), PORT) is None  # curl, SDKs: no Origin
    assert refusal("POST", headers(Origin=f"http://localhost:{PORT}"), PORT) is None


def test_allowed_origins_and_the_api_routes_own_check() -> None:
    page = "http://localhost:5173"
    assert refusal("POST", headers(Origin=page), PORT, allowed_origins=[page]) is None
    assert refusal("POST", headers(Origin=page), PORT, check_origin=False) is None
    assert refusal("POST", {"Host": "evil.example", "Origin": page}, PORT, check_origin=False)


def test_cross_site_fetch_metadata_is_refused_where_asked() -> None:
    cross = headers(sec_fetch_site="cross-site")
    assert refusal("GET", cross, PORT) is None
    assert refusal("GET", cross, PORT, refuse_cross_site=True) is not None
    same = headers(sec_fetch_site="same-origin")
    assert refusal("GET", same, PORT, refuse_cross_site=True) is None


def test_cors_headers_are_removed_and_nothing_else() -> None:
    kept = without_cors([("Access-Control-Allow-Origin", "*"), ("Content-Type", "text/plain")])
    assert kept == [("Content-Type", "text/plain")]
