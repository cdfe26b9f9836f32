"""`batch-mcp doctor` and the server's start-up warning, against the embedded emulator, a standalone
emulator (a real HTTP endpoint with Shared Key) and endpoints that are wrong in each way."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from batch_mcp import cli
from batch_mcp.emulator.config import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME


@pytest.fixture(scope="module")
def standalone() -> Iterator[str]:
    """`batch-mcp emulator` checking Shared Key signatures of the published development account."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch_mcp", "emulator", "--port", "0", "--data-dir", ":memory:", "--dev-account"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, line
        url = line.split("listening on ", 1)[1].split()[0]
        port, deadline = int(url.rsplit(":", 1)[1]), time.monotonic() + 30
        while True:  # the line comes when the socket is bound; serving starts a moment later
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith(("BATCH_MCP_", "AZURE_BATCH_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("BATCH_MCP_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.setenv("BATCH_MCP_EMULATOR_DATA_DIR", ":memory:")
    return monkeypatch


def doctor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, str], str]:
    """Exit code, {check name: its line}, everything printed."""
    code = cli.main(["doctor", *argv])
    out, err = capsys.readouterr()
    checks = {}
    for line in out.split("\nchecks:\n", 1)[1].splitlines():
        if line.startswith("  ") and ": " in line:
            name = line[8:].split(": ", 1)[0]
            checks[name] = line.strip()
    return code, checks, out + err


def test_doctor_passes_on_the_embedded_emulator(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, checks, out = doctor(capsys)
    assert code == 0, out
    assert checks["embedded emulator"].startswith("ok")
    assert checks["authenticated read"].startswith("ok") and "'local'" in checks["authenticated read"]
    assert "all checks passed" in out


def test_doctor_passes_on_a_standalone_emulator_with_its_key(
    standalone: str, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("AZURE_BATCH_ACCOUNT", DEV_ACCOUNT_NAME)
    clean_env.setenv("AZURE_BATCH_ACCESS_KEY", DEV_ACCOUNT_KEY)
    code, checks, out = doctor(capsys, "--endpoint", standalone, "--api-version", "2018-08-01.7.0")
    assert code == 0, out
    assert [name for name in checks] == [
        "tools", "audit log", "endpoint URL", "DNS", "TCP", "authenticated read", "api version"
    ]  # fmt: skip
    assert "accepts 2018-08-01.7.0" in checks["api version"]
    # where each setting came from, and no secret
    assert any(line.split()[0:1] == ["endpoint"] and line.endswith("--endpoint") for line in out.splitlines())
    assert any(line.split()[0:1] == ["account"] and line.endswith("AZURE_BATCH_ACCOUNT") for line in out.splitlines())
    assert DEV_ACCOUNT_KEY not in out and "(set)" in out


def test_doctor_names_a_wrong_key(
    standalone: str, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("AZURE_BATCH_ACCOUNT", DEV_ACCOUNT_NAME)
    clean_env.setenv("AZURE_BATCH_ACCESS_KEY", "d3Jvbmcta2V5LXdyb25nLWtleQ==")
    code, checks, out = doctor(capsys, "--endpoint", standalone)
    assert code == 1
    assert checks["authentication"].startswith("FAIL") and "AZURE_BATCH_ACCESS_KEY" in checks["authentication"]
    assert "d3Jvbmcta2V5" not in out


def test_doctor_stops_at_a_closed_port(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, checks, _ = doctor(capsys, "--endpoint", f"http://127.0.0.1:{closed_port()}")
    assert code == 1
    assert checks["TCP"].startswith("FAIL") and "connection refused" in checks["TCP"] and "--endpoint" in checks["TCP"]
    assert checks["authenticated read"].startswith("skip")


def test_doctor_says_when_the_endpoint_is_plain_http(
    plain_http_port: int, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, checks, _ = doctor(capsys, "--endpoint", f"127.0.0.1:{plain_http_port}")  # https:// assumed
    assert code == 1
    assert checks["TLS"].startswith("FAIL") and "http://" in checks["TLS"]


def test_doctor_refuses_plain_http_to_azure(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, checks, _ = doctor(capsys, "--endpoint", "http://acct.westeurope.batch.azure.com")
    assert code == 1 and checks["endpoint URL"].startswith("FAIL") and "https://" in checks["endpoint URL"]


def test_doctor_checks_the_local_settings_too(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    clean_env.setenv("BATCH_MCP_AUDIT_LOG", str(blocker / "audit.jsonl"))
    code, checks, _ = doctor(capsys, "--transport", "http", "--host", "0.0.0.0")
    assert code == 1
    assert checks["audit log"].startswith("FAIL") and "BATCH_MCP_AUDIT_LOG" in checks["audit log"]
    assert checks["http"].startswith("FAIL") and "token" in checks["http"]


def test_the_server_warns_at_start_when_the_account_cannot_be_reached(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATCH_MCP_", "AZURE_BATCH_"))}
    env |= {"AZURE_BATCH_ENDPOINT": f"http://127.0.0.1:{closed_port()}", "BATCH_MCP_AUDIT_LOG": "off"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch_mcp"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    assert proc.stderr is not None
    warning, deadline = "", time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not warning:
            line = proc.stderr.readline()
            if not line:
                break
            if line.startswith("batch-mcp: warning:"):
                warning = line
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "TCP" in warning and "connection refused" in warning and "batch-mcp doctor" in warning


def test_doctor_checks_entra_sign_in_settings(
    plain_http_port: int, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, checks, _ = doctor(
        capsys,
        "--transport", "http", "--http-auth", "entra", "--endpoint", f"http://127.0.0.1:{plain_http_port}",
        "--entra-tenant-id", "00000000-0000-0000-0000-000000000000",
        "--entra-client-id", "11111111-1111-1111-1111-111111111111",
    )  # fmt: skip
    assert code == 1
    assert checks["sign-in settings"].startswith("FAIL") and "ENTRA_CLIENT_SECRET" in checks["sign-in settings"]


def test_doctor_says_where_emulator_tasks_run(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, checks, _ = doctor(capsys)
    assert checks["task isolation"].startswith("note") and "--emulator-exec" in checks["task isolation"]
