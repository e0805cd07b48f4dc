from __future__ import annotations

import pytest

from ekmint.settings import SettingsError, load_settings

REQUIRED = {
    "OPENAI_SECRET_ID": "ekmint/openai-api-key",
    "AUDIT_TABLE_NAME": "ekmint-audit",
    "QUOTA_TABLE_NAME": "ekmint-quota",
}


def test_defaults_are_safe() -> None:
    settings = load_settings(REQUIRED)
    assert settings.auth_mode == "none"
    assert settings.allowed_origins == ()
    assert settings.session_policy.max_ttl_s == 600
    assert settings.session_policy.caller_instructions is False
    assert settings.openai_base_url == "https://api.openai.com/v1"


def test_anonymous_mode_has_a_tighter_default_quota_than_jwt() -> None:
    anonymous = load_settings(REQUIRED)
    signed_in = load_settings(REQUIRED | {"AUTH_MODE": "jwt"})
    assert anonymous.quota_per_minute < signed_in.quota_per_minute
    assert anonymous.quota_per_day < signed_in.quota_per_day


def test_origins_are_a_comma_list() -> None:
    settings = load_settings(
        REQUIRED | {"ALLOWED_ORIGINS": " https://a.example , http://localhost:3000,"}
    )
    assert settings.allowed_origins == ("https://a.example", "http://localhost:3000")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AUTH_MODE": "open"}, "AUTH_MODE"),
        ({"QUOTA_PER_MINUTE": "ten"}, "QUOTA_PER_MINUTE"),
        ({"ALLOWED_ORIGINS": "https://a.example/path"}, "ALLOWED_ORIGINS"),
        ({"SESSION_POLICY": "{not json"}, "SESSION_POLICY"),
        ({"SESSION_POLICY": '{"max_ttl_s": 9000}'}, "SESSION_POLICY (max_ttl_s)"),
        ({"SESSION_POLICY": '{"voices": []}'}, "SESSION_POLICY (voices)"),
        ({"SESSION_POLICY": '{"default_voice": "robot"}'}, "SESSION_POLICY"),
        ({"SESSION_POLICY": '{"caller_fields": ["secrets"]}'}, "SESSION_POLICY (caller_fields)"),
        ({"SESSION_POLICY": '{"unknown": 1}'}, "SESSION_POLICY (unknown)"),
        ({"OPENAI_BASE_URL": "ftp://x"}, "OPENAI_BASE_URL"),
        ({"UPSTREAM_PROVIDER": "bedrock"}, "UPSTREAM_PROVIDER"),
        ({"AZURE_WEBRTC_FILTER": "true"}, "AZURE_WEBRTC_FILTER"),
        # Azure with the template's default (OpenAI's) base URL: the key would go to OpenAI.
        ({"UPSTREAM_PROVIDER": "azure"}, "OPENAI_BASE_URL"),
        (
            {
                "UPSTREAM_PROVIDER": "azure",
                "OPENAI_BASE_URL": "http://r.openai.azure.com/openai/v1",
            },
            "OPENAI_BASE_URL",
        ),
        (
            {"UPSTREAM_PROVIDER": "azure", "OPENAI_BASE_URL": "https://r.openai.azure.com"},
            "OPENAI_BASE_URL",
        ),
        (
            {"UPSTREAM_PROVIDER": "azure", "OPENAI_BASE_URL": "https://evil.example/openai/v1"},
            "OPENAI_BASE_URL",
        ),
        (
            {
                "UPSTREAM_PROVIDER": "azure",
                "OPENAI_BASE_URL": "https://r.openai.azure.com.evil.example/openai/v1",
            },
            "OPENAI_BASE_URL",
        ),
    ],
)
def test_a_bad_setting_is_named_in_the_error(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(REQUIRED | env)
    assert str(caught.value).startswith(named)


def test_missing_required_settings_are_named() -> None:
    with pytest.raises(SettingsError, match=r"^OPENAI_SECRET_ID"):
        load_settings({})


@pytest.mark.parametrize(
    "base_url",
    [
        "https://my-res.openai.azure.com/openai/v1",
        "https://my-res.cognitiveservices.azure.com/openai/v1/",
        "https://my-proj.services.ai.azure.com/openai/v1",
        # Loopback (the local emulator) may use http.
        "http://127.0.0.1:8089/openai/v1",
        "http://localhost:8089/openai/v1",
    ],
)
def test_azure_takes_the_resources_v1_base(base_url: str) -> None:
    settings = load_settings(REQUIRED | {"UPSTREAM_PROVIDER": "azure", "OPENAI_BASE_URL": base_url})
    assert settings.upstream_provider == "azure"
    assert settings.webrtc_url == base_url.rstrip("/") + "/realtime/calls"


def test_webrtc_url_is_openais_calls_url_by_default() -> None:
    assert load_settings(REQUIRED).webrtc_url == "https://api.openai.com/v1/realtime/calls"


def test_the_azure_webrtc_filter_adds_its_query() -> None:
    settings = load_settings(
        REQUIRED
        | {
            "UPSTREAM_PROVIDER": "azure",
            "OPENAI_BASE_URL": "https://r.openai.azure.com/openai/v1",
            "AZURE_WEBRTC_FILTER": "true",
        }
    )
    assert (
        settings.webrtc_url == "https://r.openai.azure.com/openai/v1/realtime/calls?webrtcfilter=on"
    )
