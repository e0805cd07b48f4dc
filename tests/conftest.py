"""Fixtures for the real parts (moto server, the OpenAI emulator).

The run-wide secret scan (every channel a test prints to) is the plugin in secret_scan.py.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from support import OPENAI_KEY, HandlerFactory, base_env

from ekmint_dev.local_aws import LocalNames, MotoServer, provision


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    from ekmint_dev.emulator import Emulator

    emu = Emulator(api_keys=[OPENAI_KEY]).start()
    yield emu
    emu.stop()


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> LocalNames:
    """A clean local AWS for each test: tables from template.yaml and the secret."""
    moto_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return provision(moto_server.url, OPENAI_KEY)


@pytest.fixture
def emu(emulator: Any) -> Any:
    emulator.clear_faults()
    emulator.clear_requests()
    if emulator.realtime is not None:
        # The session's emulator is shared: each test sees only its own calls.
        emulator.realtime.clear_calls()
    emulator.set_api_keys([OPENAI_KEY])
    return emulator


@pytest.fixture
def make_handler(aws: LocalNames, emu: Any, monkeypatch: pytest.MonkeyPatch) -> HandlerFactory:
    """Import the real handler module, fresh (a cold start), with these settings."""

    def _make(**overrides: str) -> ModuleType:
        env = base_env(aws, emu.url) | overrides
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        if "ekmint.handler" in sys.modules:
            return importlib.reload(sys.modules["ekmint.handler"])
        return importlib.import_module("ekmint.handler")

    return _make
