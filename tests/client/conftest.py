"""A gateway in a thread for the CLI tests, and ``run`` to invoke ``ejoin`` against it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ejoin.cli import main

from ..threaded import ServerThread


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ServerThread(str(tmp_path_factory.mktemp("cli")), sim=[{"port": "4.02", "empty": True}]).start()
    yield s
    s.stop()


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    for name in ("EJOIN_URL", "EJOIN_USERNAME", "EJOIN_PASSWORD", "EJOIN_PROFILE", "FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EJOIN_PROFILES", str(tmp_path / "profiles.toml"))
    monkeypatch.setenv("COLUMNS", "200")  # tables for people: wide enough not to wrap here
    return monkeypatch


@pytest.fixture
def run(server, cli_env):
    cli_env.setenv("EJOIN_URL", server.url)

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke
