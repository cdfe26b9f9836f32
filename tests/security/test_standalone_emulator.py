"""Attacks on `batch-mcp emulator`, the standalone service on a TCP port of a developer's laptop:
from web pages (simple cross-origin POSTs, DNS rebinding, preflights), from local processes
without the key, with replayed requests and with hostile bodies. Every refused request must
also change nothing, so each attack that targets a create checks afterwards that nothing exists."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from batch_mcp.emulator import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME
from tests.security.rawhttp import API, signed_headers, tcp_request

JOB = json.dumps({"id": "evil", "poolInfo": {"poolId": "p1"}}).encode()
POST_JOBS = f"/jobs?{API}"
EVIL = "http://evil.example"


@contextmanager
def standalone(data_dir: Path, *extra: str) -> Iterator[int]:
    """`batch-mcp emulator` on a free port; yields the port."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batch_mcp.emulator",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--no-seed-pool",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, line + (proc.stderr.read() if proc.stderr else "")
        yield int(line.split("listening on ", 1)[1].split()[0].rsplit(":", 1)[1].rstrip("/"))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with standalone(tmp_path_factory.mktemp("standalone") / "emu") as port:
        yield port


@pytest.fixture(scope="module")
def open_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The explicit opt-out of authentication, for trusted setups (loopback only)."""
    with standalone(tmp_path_factory.mktemp("standalone-open") / "emu", "--no-auth") as port:
        yield port


def dev(method: str, target: str, body: bytes = b"", **extra: str) -> dict[str, str]:
    return signed_headers(method, target, DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY, body, **extra)


def job_exists(port: int) -> bool:
    target = f"/jobs/evil?{API}"
    status, _, _ = tcp_request(port, "GET", target, dev("GET", target))
    return status == 200


def no_cors(headers: dict[str, str]) -> bool:
    return not any(name.startswith("access-control-allow") for name in headers)


# -- who may call ---------------------------------------------------------------------------


def test_a_request_without_a_signature_is_refused_and_changes_nothing(port: int) -> None:
    status, _, body = tcp_request(port, "POST", POST_JOBS, {"Content-Type": "application/json"}, JOB)
    assert status == 403, body
    assert json.loads(body)["code"] == "AuthenticationFailed"
    assert not job_exists(port)
    assert tcp_request(port, "GET", f"/pools?{API}")[0] == 403


def test_a_request_signed_with_another_key_is_refused(port: int) -> None:
    guessed = base64.b64encode(os.urandom(32)).decode()
    headers = signed_headers("POST", POST_JOBS, DEV_ACCOUNT_NAME, guessed, JOB)
    assert tcp_request(port, "POST", POST_JOBS, headers, JOB)[0] == 403
    assert not job_exists(port)


def test_a_captured_request_replayed_later_is_refused(port: int) -> None:
    captured = dev("POST", POST_JOBS, JOB, age=16 * 60)
    assert tcp_request(port, "POST", POST_JOBS, captured, JOB)[0] == 403
    assert not job_exists(port)
    ahead = dev("POST", POST_JOBS, JOB, age=-16 * 60)  # a date in the future is no better
    assert tcp_request(port, "POST", POST_JOBS, ahead, JOB)[0] == 403
    assert not job_exists(port)


def test_the_development_account_signs_requests_that_pass(port: int) -> None:
    target = f"/pools?{API}"
    status, _, body = tcp_request(port, "GET", target, dev("GET", target))
    assert status == 200, body


# -- web pages ------------------------------------------------------------------------------


def test_a_simple_cross_origin_post_from_a_web_page_is_refused_and_changes_nothing(port: int, open_port: int) -> None:
    """What a page can send without a preflight: text/plain, no custom headers, its Origin."""
    for target_port in (port, open_port):
        headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": EVIL}
        status, response_headers, body = tcp_request(target_port, "POST", POST_JOBS, headers, JOB)
        assert status in (400, 403), body
        assert no_cors(response_headers)
        assert not job_exists(target_port)


def test_a_text_plain_body_is_refused_even_without_an_origin(open_port: int) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        status, _, body = tcp_request(open_port, "POST", POST_JOBS, {"Content-Type": content_type}, JOB)
        assert status == 400, body
        assert json.loads(body)["code"] == "InvalidHeaderValue"
        assert not job_exists(open_port)
    status, _, body = tcp_request(open_port, "POST", POST_JOBS, {}, JOB)  # a body with no type at all
    assert status == 400, body
    assert not job_exists(open_port)


def test_a_request_carrying_a_browser_origin_is_refused_even_when_signed(port: int) -> None:
    """A DNS-rebound page is same-origin to the browser and may sign with the public dev key."""
    headers = dev("POST", POST_JOBS, JOB, Origin=EVIL)
    status, response_headers, body = tcp_request(port, "POST", POST_JOBS, headers, JOB)
    assert status == 403, body
    assert no_cors(response_headers)
    assert not job_exists(port)


def test_a_dns_rebinding_host_is_refused_even_when_signed(port: int, open_port: int) -> None:
    for target_port in (port, open_port):
        headers = dev("POST", POST_JOBS, JOB, Host=f"evil.example:{target_port}")
        status, _, body = tcp_request(target_port, "POST", POST_JOBS, headers, JOB)
        assert status == 421, body
        assert not job_exists(target_port)


def test_cors_preflights_get_no_permission(port: int, open_port: int) -> None:
    for target_port in (port, open_port):
        headers = {
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,ocp-date",
        }
        status, response_headers, _ = tcp_request(target_port, "OPTIONS", POST_JOBS, headers)
        assert status >= 400
        assert no_cors(response_headers)


def test_names_of_this_machine_are_served(port: int) -> None:
    target = f"/pools?{API}"
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"devbatchaccount1.localhost:{port}"):
        status, _, body = tcp_request(port, "GET", target, dev("GET", target, Host=host))
        assert status == 200, (host, body)


# -- opting out -----------------------------------------------------------------------------


def test_the_opt_out_of_authentication_is_refused_on_a_non_loopback_bind(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "batch_mcp.emulator", "--host", "0.0.0.0", "--port", "0", "--no-auth"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
        env={**os.environ, "XDG_DATA_HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr


def test_a_non_loopback_bind_needs_the_host_names_clients_use(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "batch_mcp.emulator", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
        env={**os.environ, "XDG_DATA_HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "--allowed-hosts" in result.stderr


# -- hostile bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("50k-deep array", b"[" * 50_000 + b"]" * 50_000),
        ("50k-deep object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        (
            "200-deep inside a valid job",
            json.dumps(
                {"id": "evil", "poolInfo": {"poolId": "p1"}, "metadata": [{"name": "x", "value": "y"}], "x": [[[[0]]]]}
            )
            .encode()
            .replace(b"[[[[0]]]]", b"[" * 200 + b"0" + b"]" * 200),
        ),
        ("not UTF-8", b'{"id": "\xff\xfe evil", "poolInfo": {"poolId": "p1"}}'),
        ("NaN", b'{"id": "evil", "poolInfo": {"poolId": "p1"}, "priority": NaN}'),
        ("huge number", b'{"id": "evil", "poolInfo": {"poolId": "p1"}, "priority": ' + b"9" * 5000 + b"}"),
        ("truncated", JOB[:-3]),
    ],
)
def test_a_hostile_body_is_a_client_error_and_changes_nothing(open_port: int, name: str, body: bytes) -> None:
    status, _, reply = tcp_request(open_port, "POST", POST_JOBS, {"Content-Type": "application/json"}, body)
    assert 400 <= status < 500, (name, status, reply[:300])
    assert not job_exists(open_port)


def test_a_body_over_the_limit_is_refused_before_it_is_read(open_port: int) -> None:
    """Only the headers are sent: the answer must come from the declared length alone."""
    headers = {"Content-Type": "application/json", "Content-Length": str(64 * 1024 * 1024)}
    status, _, reply = tcp_request(open_port, "POST", POST_JOBS, headers)
    assert status == 413, reply[:300]
    assert not job_exists(open_port)


@pytest.mark.parametrize("target", ["/jobs/a%00b", "/pools/p1/nodes/n1/files/a%00b", "/jobs/a%01b/tasks"])
def test_control_characters_in_a_path_are_a_client_error(open_port: int, target: str) -> None:
    status, _, reply = tcp_request(open_port, "GET", f"{target}?{API}", {})
    assert status == 400, reply[:300]


def closed_while_trickling_headers(port: int, patience: float) -> bool:
    """Open a request's headers and add one header line every 50 ms; True once the emulator closes
    the connection (each byte resets a per-read timeout, so only a deadline over all the headers ends it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"GET /jobs?{API} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        conn.settimeout(0.05)
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            try:
                conn.sendall(b"X-Drip: 1\r\n")
                if conn.recv(1024) == b"":
                    return True
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True
    return False


def test_a_client_that_trickles_its_headers_is_dropped(tmp_path: Path) -> None:
    """A slowloris client must not hold one of the emulator's connections open forever."""
    with standalone(tmp_path / "emu", "--header-timeout", "0.5") as port:
        assert closed_while_trickling_headers(port, patience=8)
        # a client that sends its request promptly is served as ever
        status, _, _ = tcp_request(port, "GET", f"/jobs?{API}", dev("GET", f"/jobs?{API}"))
        assert status == 200
