"""`ekmint sam-env`: the --env-vars file that points a `sam local invoke` container at the
running local stack."""

from __future__ import annotations

import pytest

from ekmint_dev.sam_env import env_file, load_settings_file, reachable_from
from ekmint_dev.stack_info import StackInfo

STACK = StackInfo(
    gateway_url="http://127.0.0.1:3000",
    aws_endpoint="http://127.0.0.1:4566",
    upstream="emulator",
    openai_base_url="http://127.0.0.1:41234/v1",
    emulator_admin_url="http://127.0.0.1:41234/_emulator",
    audit_table="ekmint-audit",
    quota_table="ekmint-quota",
    secret_id="ekmint/openai-api-key",
    auth_mode="none",
    jwt_issuer=None,
    jwt_audience=None,
    pid=1,
)


@pytest.mark.parametrize(
    ("url", "host", "expected"),
    [
        ("http://127.0.0.1:4566", "host.docker.internal", "http://host.docker.internal:4566"),
        (
            "http://localhost:41234/v1",
            "host.docker.internal",
            "http://host.docker.internal:41234/v1",
        ),
        ("http://127.0.0.1:4566", "127.0.0.1", "http://127.0.0.1:4566"),
        ("https://api.openai.com/v1", "host.docker.internal", "https://api.openai.com/v1"),
    ],
)
def test_only_loopback_urls_are_rewritten_for_the_container(
    url: str, host: str, expected: str
) -> None:
    assert reachable_from(url, host) == expected


def test_env_file_points_the_function_at_the_stack_and_keeps_the_event_settings() -> None:
    settings = load_settings_file()
    document = env_file(STACK, settings)
    assert document["Parameters"] == settings
    assert document["MintFunction"] == {
        "AWS_ENDPOINT_URL": "http://host.docker.internal:4566",
        "OPENAI_BASE_URL": "http://host.docker.internal:41234/v1",
        # The stack's provider: its upstream speaks that dialect.
        "UPSTREAM_PROVIDER": "openai",
        "OPENAI_SECRET_ID": "ekmint/openai-api-key",
        "AUDIT_TABLE_NAME": "ekmint-audit",
        "QUOTA_TABLE_NAME": "ekmint-quota",
    }
