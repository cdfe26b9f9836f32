"""The command-line grammar: every option means the same before or after the command, each setting
has one flag derived from `Settings`, and an option a command does not use is an error.

The tables below are computed from `Settings`, so a field added there is tried here in both places
for every command that takes it, with no edit to this file."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Literal

import annotated_types
import pytest
from pydantic import SecretStr, ValidationError

from batch_mcp import cli
from batch_mcp.flags import SettingFlag, base_type, describe_validation_error, given_settings, setting_flags
from batch_mcp.settings import Settings
from tests.server.test_transports import server_env

SERVER_COMMANDS = ("serve", "tools", "call")
# the words after the options for each command (`call` needs its tool)
TAIL = {"serve": [], "tools": [], "call": ["pool_list"], "emulator": [], "doctor": []}
# values a plain string field needs to mean something (anything else gets a generic word)
MEANINGFUL = {"endpoint": "https://acct.westeurope.batch.azure.com", "api_version": "2018-08-01.7.0"}


def example(spec: SettingFlag) -> tuple[list[str], Any]:
    """Command-line words for a setting and the value `Settings` should then hold."""
    field = spec.field
    base = base_type(field.annotation)
    default = field.get_default(call_default_factory=True)
    if spec.is_switch:
        return [spec.flag], True
    if spec.choices:
        value = next(c for c in spec.choices if c != default)
        return [spec.flag, value], value
    if base in (int, float):
        low = next((m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)), 0)
        value = base(low) + 2 if default is None else base(default) + 1
        return [spec.flag, str(value)], value
    if base == list[str]:
        return [spec.flag, "alpha,beta"], ["alpha", "beta"]
    if base is Path:
        return [spec.flag, "/tmp/batch-mcp-grammar"], Path("/tmp/batch-mcp-grammar")
    if base is SecretStr:
        return [spec.flag, "not-a-real-secret"], "not-a-real-secret"
    value = MEANINGFUL.get(spec.name, "example-value")
    return [spec.flag, value], value


def held(settings: Settings, name: str) -> Any:
    value = getattr(settings, name)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def settings_for(argv: list[str]) -> Settings:
    args = cli.parse(argv)
    return Settings(**given_settings(args))


def command_words(command: str) -> list[str]:
    return [] if command == "serve" else [command]


CASES = [(command, spec) for command in SERVER_COMMANDS for spec in setting_flags() if command in spec.commands]
REFUSED = [(command, spec) for command in SERVER_COMMANDS for spec in setting_flags() if command not in spec.commands]


@pytest.mark.parametrize(("command", "spec"), CASES, ids=[f"{c}{s.flag}" for c, s in CASES])
def test_every_setting_flag_works_before_and_after_its_command(command: str, spec: SettingFlag) -> None:
    words, expected = example(spec)
    default = Settings.model_fields[spec.name].get_default(call_default_factory=True)
    assert expected != default  # the example would prove nothing otherwise
    before = settings_for([*words, *command_words(command), *TAIL[command]])
    after = settings_for([*command_words(command), *words, *TAIL[command]])
    assert held(before, spec.name) == expected
    assert held(after, spec.name) == expected


@pytest.mark.parametrize("position", ["before", "after"])
def test_serve_is_also_a_named_command(position: str) -> None:
    argv = ["--port", "9100", "serve"] if position == "before" else ["serve", "--port", "9100"]
    args = cli.parse(argv)
    assert args.command_path == ["serve"] and args.port == "9100"


@pytest.mark.parametrize(("command", "spec"), REFUSED, ids=[f"{c}{s.flag}" for c, s in REFUSED])
def test_a_setting_the_command_does_not_use_is_an_error_in_either_place(
    command: str, spec: SettingFlag, capsys: pytest.CaptureFixture[str]
) -> None:
    words, _ = example(spec)
    for argv in ([*words, *command_words(command), *TAIL[command]], [*command_words(command), *TAIL[command], *words]):
        with pytest.raises(SystemExit) as exit_info:
            cli.parse(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert f"{spec.flag} is not an option of this command" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["serve", "call"])
def test_no_confirm_works_in_both_places_and_never_comes_from_the_environment(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCH_MCP_NO_CONFIRM", "1")
    assert "no_confirm" not in Settings.model_fields
    assert cli.parse([*command_words(command), *TAIL[command]]).no_confirm is False
    assert cli.parse(["--no-confirm", *command_words(command), *TAIL[command]]).no_confirm is True
    assert cli.parse([*command_words(command), "--no-confirm", *TAIL[command]]).no_confirm is True


def test_no_confirm_is_refused_where_nothing_is_confirmed() -> None:
    for argv in (["--no-confirm", "tools"], ["tools", "--no-confirm"]):
        with pytest.raises(SystemExit):
            cli.parse(argv)


def emulator_options() -> list[tuple[list[str], str]]:
    """The emulator's own options with a non-default example value each."""
    return [
        (["--host", "127.0.0.2"], "host"),
        (["--port", "0"], "port"),
        (["--data-dir", ":memory:"], "data_dir"),
        (["--account-name", "acct"], "account_name"),
        (["--transition-delay", "0.5"], "transition_delay"),
        (["--runner", "instant"], "runner"),
        (["--no-seed-pool"], "no_seed_pool"),
        (["--max-nodes-per-pool", "3"], "max_nodes_per_pool"),
        (["--dev-account"], "dev_account"),
        (["--no-auth"], "no_auth"),
        (["--allowed-hosts", "emu.example"], "allowed_hosts"),
        (["--allowed-origins", "https://explorer.example"], "allowed_origins"),
        (["--sandbox", "on"], "sandbox"),
        (["--sandbox-network"], "sandbox_network"),
        (["--header-timeout", "2.5"], "header_timeout"),
    ]


def test_the_example_table_covers_every_emulator_option() -> None:
    parser = cli._subparsers(cli.build_parser())["emulator"]
    flags = {f for a in parser._actions for f in a.option_strings} - {"-h", "--help", "--version"}
    # --account-key is tried separately (it needs --account-name to mean anything)
    assert flags - {"--account-key"} == {words[0] for words, _ in emulator_options()}


@pytest.mark.parametrize(("words", "dest"), emulator_options(), ids=[w[0] for w, _ in emulator_options()])
def test_emulator_options_work_before_and_after_the_command(words: list[str], dest: str) -> None:
    default = getattr(cli.parse(["emulator"]), dest)
    before, after = cli.parse([*words, "emulator"]), cli.parse(["emulator", *words])
    assert getattr(before, dest) == getattr(after, dest) != default


def test_catalog_build_options_work_before_and_after_the_command() -> None:
    before = cli.parse(["--spec", "x.json", "catalog", "build"])
    between = cli.parse(["catalog", "--spec", "x.json", "build"])
    after = cli.parse(["catalog", "build", "--spec", "x.json"])
    assert before.spec == between.spec == after.spec == Path("x.json")


@pytest.mark.parametrize(
    "argv", [["--version"], ["tools", "--version"], ["--version", "call"], ["emulator", "--version"]]
)
def test_version_in_any_place(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.parse(argv)
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("batch-mcp 0.1.0 ")


def test_a_value_may_look_like_a_command() -> None:
    args = cli.parse(["--toolsets", "tools", "tools"])
    assert args.command_path == ["tools"] and args.toolsets == "tools"
    assert cli.parse(["--tools", "call"]).command_path == ["serve"]


def test_abbreviated_flags_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--tool", "pool_list", "tools"], ["tools", "--tool", "pool_list"], ["--read", "tools"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.parse(argv)
        assert exit_info.value.code == 2
    assert "--tool" in capsys.readouterr().err


def test_a_negative_number_is_a_value_not_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--max-nodes", "-1", "call", "pool_list"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "batch-mcp: --max-nodes (-1): Input should be greater than or equal to 0"


@pytest.mark.parametrize(
    ("env", "argv", "named"),
    [
        ({"BATCH_MCP_PAGE_SIZE": "0"}, ["call", "pool_list"], "BATCH_MCP_PAGE_SIZE"),
        ({}, ["--page-size", "0", "call", "pool_list"], "--page-size"),
        ({"BATCH_MCP_TRANSPORT": "sse"}, [], "BATCH_MCP_TRANSPORT"),
        ({"BATCH_MCP_TOKEN": ""}, ["--port", "70000"], "--port"),
    ],
)
def test_a_bad_setting_names_the_flag_or_variable_to_fix(
    env: dict[str, str],
    argv: list[str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"batch-mcp: {named} ") and len(err.splitlines()) == 1


def test_a_secret_setting_is_never_echoed_in_its_error() -> None:
    with pytest.raises(ValidationError) as exc_info:
        Settings(token=12345678)
    message = describe_validation_error(exc_info.value, {"token": 12345678})
    assert message.startswith("--token: ") and "12345678" not in message


def test_generic_environment_names_do_not_configure_the_account(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AZURE_BATCH_ENDPOINT", "BATCH_MCP_ENDPOINT", "AZURE_BATCH_ACCOUNT", "BATCH_MCP_ACCOUNT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ENDPOINT", "https://elsewhere.example")
    monkeypatch.setenv("ACCOUNT", "someone")
    monkeypatch.setenv("ACCESS_KEY", "a2V5")
    settings = Settings()
    assert settings.endpoint is None and settings.account is None and settings.access_key is None


def test_the_access_key_has_no_flag() -> None:
    assert "access_key" not in {spec.name for spec in setting_flags()}
    with pytest.raises(SystemExit):
        cli.parse(["--access-key", "a2V5", "call", "pool_list"])


def test_every_setting_is_documented_for_its_flag() -> None:
    for spec in setting_flags():
        assert spec.field.description, f"Settings.{spec.name} needs a description: it is the flag's help"
        assert set(spec.commands) <= {"serve", "call", "tools", "doctor"}, spec.name
        assert typing.get_origin(spec.field.annotation) is not Literal or spec.choices


# -- through the installed command -------------------------------------------------------------------


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batch_mcp", *args],
        env=server_env(tmp_path) | {"BATCH_MCP_EMULATOR_DATA_DIR": str(tmp_path / "emu")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_api_version_before_tools_picks_the_catalog(tmp_path: Path) -> None:
    done = run(tmp_path, "--api-version", "2018-08-01.7.0", "tools")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("api-version 2018-08-01.7.0")


def test_read_only_before_call_holds_even_with_no_confirm(tmp_path: Path) -> None:
    job = json.dumps({"id": "keep", "poolInfo": {"poolId": "local"}})
    assert run(tmp_path, "call", "job_add", "--args", job).returncode == 0
    done = run(tmp_path, "--read-only", "call", "--no-confirm", "job_delete", "--args", '{"job_id": "keep"}')
    assert done.returncode == 1 and "read-only" in done.stdout
    assert run(tmp_path, "call", "job_get", "--args", '{"job_id": "keep"}').returncode == 0


def test_audit_log_off_as_a_flag_writes_no_file(tmp_path: Path) -> None:
    job = json.dumps({"id": "j", "poolInfo": {"poolId": "local"}})
    done = run(tmp_path, "--audit-log", "off", "call", "job_add", "--args", job)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "off").exists() and not (tmp_path / "audit.jsonl").exists()
