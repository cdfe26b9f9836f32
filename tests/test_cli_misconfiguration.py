"""No traceback for a misconfiguration: every bad setting in the table below ends the command with
one line on stderr that says what to fix, and exit code 2, before anything is served or sent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from batch_mcp import cli

AZURE = "https://acct.westeurope.batch.azure.com"
A_FILE = "/etc/hostname" if Path("/etc/hostname").is_file() else __file__  # a path under it cannot be a folder


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def plain_http_port() -> Iterator[int]:
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


# (name, environment, command line, what the line must say); {plain}, {closed}, {busy}, {file} are filled in
TABLE: list[tuple[str, dict[str, str], list[str], str]] = [
    ("unknown api version", {}, ["tools", "--api-version", "1999-01-01"], "--api-version: no catalog"),
    ("unknown toolset", {"BATCH_MCP_TOOLSETS": "nope"}, ["tools"], "BATCH_MCP_TOOLSETS: unknown toolset"),
    ("unknown tool", {}, ["tools", "--tools", "nope"], "--tools: unknown tool"),
    ("unknown excluded tool", {}, ["--exclude-tools", "nope", "call", "pool_list"], "--exclude-tools: unknown tool"),
    ("spec missing", {}, ["catalog", "build", "--spec", "BatchService.json"], "cannot read the spec"),
    ("spec not a spec", {}, ["catalog", "build", "--spec", "{file}"], "not a Swagger 2.0 JSON spec"),
    (
        "key not base64",
        {"AZURE_BATCH_ENDPOINT": AZURE, "AZURE_BATCH_ACCOUNT": "acct", "AZURE_BATCH_ACCESS_KEY": "!!!"},
        ["call", "pool_list"],
        "not valid base64",
    ),
    (
        "key without account",
        {"AZURE_BATCH_ENDPOINT": "http://127.0.0.1:{closed}", "AZURE_BATCH_ACCESS_KEY": "a2V5"},
        ["call", "pool_list"],
        "no account name",
    ),
    ("shared key without key", {}, ["call", "pool_list", "--endpoint", AZURE, "--auth", "shared_key"], "no access key"),
    ("endpoint not http", {}, ["call", "pool_list", "--endpoint", "ftp://acct"], "--endpoint: the endpoint must"),
    (
        "endpoint with a password",
        {"AZURE_BATCH_ENDPOINT": "https://user:hunter2@acct.example"},
        ["call", "pool_list"],
        "AZURE_BATCH_ENDPOINT: the endpoint is a base URL",
    ),
    ("port refused", {}, ["call", "pool_list", "--endpoint", "http://127.0.0.1:{closed}"], "connection refused"),
    ("http endpoint as https", {}, ["--endpoint", "127.0.0.1:{plain}", "call", "pool_list"], "does not speak TLS"),
    ("audit log under a file", {}, ["call", "pool_list", "--audit-log", "{file}/x/audit.jsonl"], "--audit-log:"),
    ("data folder under a file", {"BATCH_MCP_EMULATOR_DATA_DIR": "{file}/x"}, ["call", "pool_list"], "DATA_DIR:"),
    ("bad number", {"BATCH_MCP_PAGE_SIZE": "many"}, ["call", "pool_list"], "BATCH_MCP_PAGE_SIZE (many):"),
    ("negative cap", {}, ["--max-nodes", "-1"], "--max-nodes (-1):"),
    ("bad arguments", {}, ["call", "pool_list", "--args", "nope"], "--args must be a JSON object"),
    ("no such tool", {}, ["call", "nope"], "no tool 'nope'"),
    ("public bind without token", {}, ["--transport", "http", "--host", "0.0.0.0"], "without a token"),
    ("port in use", {}, ["--transport", "http", "--port", "{busy}", "--token", "x" * 32], "address is in use"),
    ("emulator port in use", {}, ["emulator", "--port", "{busy}"], "address is in use"),
    ("emulator folder under a file", {}, ["emulator", "--data-dir", "{file}/x"], "--data-dir:"),
    ("emulator key not base64", {}, ["emulator", "--account-name", "a", "--account-key", "!!!"], "--account-key"),
    (
        "entra without a sign-in",
        {"PATH": "/nonexistent"},
        ["call", "pool_list", "--endpoint", AZURE, "--credential", "cli"],
        "Entra ID",
    ),
    ("misplaced option", {}, ["--port", "1", "tools"], "--port is not an option of this command"),
    ("abbreviated option", {}, ["tools", "--tool", "x"], "unrecognized option --tool"),
]


@pytest.mark.parametrize(("name", "env", "argv", "says"), TABLE, ids=[row[0] for row in TABLE])
def test_a_bad_setting_is_one_line_and_exit_code_2(
    name: str,
    env: dict[str, str],
    argv: list[str],
    says: str,
    plain_http_port: int,
    busy_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    values = {"plain": plain_http_port, "closed": closed_port(), "busy": busy_port, "file": A_FILE}
    for key in list(os.environ):
        if key.startswith(("BATCH_MCP_", "AZURE_BATCH_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("BATCH_MCP_AUDIT_LOG", "off")
    monkeypatch.setenv("BATCH_MCP_EMULATOR_DATA_DIR", ":memory:")
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(**values))
    for name in ("XDG_DATA_HOME", "XDG_STATE_HOME"):  # default folders of this test's own (no one else's emulator)
        monkeypatch.setenv(name, str(tmp_path / name))
    monkeypatch.chdir(tmp_path)
    try:
        code = cli.main([word.format(**values) for word in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], err
    assert "Traceback" not in err and "hunter2" not in err and out == ""


def test_the_installed_command_shows_no_traceback_either(tmp_path: Path) -> None:
    """The same through a real process (logging configured, the interpreter's own exit path)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATCH_MCP_", "AZURE_BATCH_"))}
    env["AZURE_BATCH_ENDPOINT"] = "ftp://acct"
    done = subprocess.run(
        [sys.executable, "-m", "batch_mcp", "call", "pool_list"],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "AZURE_BATCH_ENDPOINT" in done.stderr


def test_a_sandbox_required_where_none_works_is_one_line_and_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from batch_mcp.emulator import sandbox

    monkeypatch.setattr(sandbox, "detect", lambda: sandbox.Isolation(kind="none", detail="none in this test"))
    for key in list(os.environ):
        if key.startswith(("BATCH_MCP_", "AZURE_BATCH_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("BATCH_MCP_AUDIT_LOG", "off")
    monkeypatch.setenv("BATCH_MCP_EMULATOR_DATA_DIR", ":memory:")
    assert cli.main(["call", "pool_list", "--emulator-exec", "sandbox"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--emulator-exec sandbox: no sandbox works" in lines[0]
