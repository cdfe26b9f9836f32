"""`batch-mcp emulator` owns its state folder like an MCP server's emulator: batch-mcp processes on
the same folder attach to it, and a second standalone service refuses to start beside it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from batch_mcp.emulator import EmulatorConfig
from batch_mcp.emulator.cli import UsageError, config_from, describe_auth
from batch_mcp.emulator.config import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME
from tests.emulator.test_hosting import process
from tests.security.test_standalone_emulator import standalone

pytestmark = pytest.mark.anyio


async def test_batch_mcp_processes_attach_to_a_standalone_emulator_on_their_folder(tmp_path: Path) -> None:
    with standalone(tmp_path / "emu"):
        async with process(EmulatorConfig(data_dir=tmp_path / "emu")) as (host, api):
            assert host.role == "attached"
            assert (await api.get("/pools")).status_code == 200


def test_a_second_standalone_emulator_on_the_same_folder_refuses_to_start(tmp_path: Path) -> None:
    with standalone(tmp_path / "emu"):
        result = subprocess.run(
            [sys.executable, "-m", "batch_mcp.emulator", "--port", "0", "--data-dir", str(tmp_path / "emu")],
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert "served by another batch-mcp process" in result.stderr


def parse(*argv: str, environ: dict[str, str] | None = None) -> EmulatorConfig:
    import argparse

    from batch_mcp.emulator.cli import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from(parser.parse_args(list(argv)), environ or {})


def test_without_a_key_the_published_development_account_is_required() -> None:
    config = parse()
    assert (config.account_name, config.account_key) == (DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY)
    assert config.allowed_hosts == []


def test_a_key_comes_from_the_environment_so_it_stays_out_of_the_process_list() -> None:
    config = parse(environ={"BATCH_MCP_EMULATOR_ACCOUNT_NAME": "mine", "BATCH_MCP_EMULATOR_ACCOUNT_KEY": "a2V5"})
    assert (config.account_name, config.account_key) == ("mine", "a2V5")


@pytest.mark.parametrize(
    "argv",
    [
        ["--account-name", "mine"],  # a name without a key would silently mean the dev account
        ["--no-auth", "--dev-account"],
        ["--host", "192.0.2.10", "--no-auth", "--allowed-hosts", "emu.example"],
        ["--host", "0.0.0.0"],
    ],
)
def test_settings_that_cannot_be_served_safely_are_refused(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        parse(*argv)


def test_a_loopback_bind_may_opt_out_of_authentication() -> None:
    config = parse("--no-auth")
    assert not config.verifies_shared_key


def test_the_start_up_line_names_the_account_but_never_its_key() -> None:
    config = parse(environ={"BATCH_MCP_EMULATOR_ACCOUNT_NAME": "mine", "BATCH_MCP_EMULATOR_ACCOUNT_KEY": "c2VjcmV0"})
    line = describe_auth(config)
    assert "mine" in line and "c2VjcmV0" not in line
    assert "NO AUTHENTICATION" in describe_auth(parse("--no-auth"))
