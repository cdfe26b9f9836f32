"""Fixtures for Entra ID sign-in: the test identity provider and a Batch endpoint that checks users'
roles, both over TLS on loopback, and settings for a server that uses them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from batch_mcp.emulator import EmulatorConfig, create_app
from batch_mcp.server.entra import EntraAuthorization, EntraConfig
from batch_mcp.settings import Settings
from tests.entra.batch_gate import BatchGate
from tests.entra.provider import ALICE, BOB, DAVE, IdentityProvider
from tests.entra.serving import serve_tls
from tests.entra.tls import LoopbackTls, make_loopback_tls

ROLES = {ALICE.oid: "contributor", BOB.oid: "contributor", DAVE.oid: "contributor"}  # CAROL: no role at all


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> LoopbackTls:
    return make_loopback_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def idp(tls: LoopbackTls) -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    with serve_tls(provider.app, tls) as url:
        provider.url = url
        yield provider


@pytest.fixture(scope="module")
def batch(idp: IdentityProvider, tls: LoopbackTls) -> Iterator[tuple[str, BatchGate]]:
    """A Batch endpoint (the emulator behind the role gate) at https://127.0.0.1:PORT."""
    emulator = create_app(EmulatorConfig(data_dir=":memory:", seed_pool=True, transition_delay=0.05))
    gate = BatchGate(idp, emulator, dict(ROLES))
    with serve_tls(gate, tls, lifespan="on") as url:
        yield url, gate


def entra_settings(idp: IdentityProvider, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "transport": "http",
        "http_auth": "entra",
        "entra_tenant_id": idp.tenant_id,
        "entra_client_id": idp.client_id,
        "entra_client_secret": idp.client_secret,
        "entra_authority": idp.url,
        "audit_log": tmp_path / "audit.jsonl",
        "toolsets": ["all"],
        # The Batch behind the test gate is the local emulator, and says so: these tests are about
        # sign-in, not the execution policy (tests/security covers it), so tasks run without asking.
        "emulator_exec": "unrestricted",
    }
    values.update(overrides)
    return Settings(**values)


def authorization(idp: IdentityProvider, tls: LoopbackTls, tmp_path: Path, **options: Any) -> EntraAuthorization:
    """The server's Entra ID checks, trusting the test CA."""
    config = EntraConfig.from_settings(entra_settings(idp, tmp_path))
    return EntraAuthorization.create(config, httpx2.AsyncClient(verify=tls.client_context(), timeout=10), **options)


@dataclass(frozen=True)
class EntraServer:
    base: str  # http://127.0.0.1:PORT
    audit: Path
    log: Path

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"


def entra_env(idp: IdentityProvider, batch_url: str, tls: LoopbackTls, workdir: Path, port: int) -> dict[str, str]:
    """The environment of `batch-mcp --http-auth entra` against the test provider and Batch endpoint (the
    test CA trusted the way an operator would trust a corporate one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "BATCH_MCP_"))}
    return env | {
        "BATCH_MCP_TRANSPORT": "http",
        "BATCH_MCP_PORT": str(port),
        "BATCH_MCP_HTTP_AUTH": "entra",
        "BATCH_MCP_ENTRA_TENANT_ID": idp.tenant_id,
        "BATCH_MCP_ENTRA_CLIENT_ID": idp.client_id,
        "BATCH_MCP_ENTRA_CLIENT_SECRET": idp.client_secret,
        "BATCH_MCP_ENTRA_AUTHORITY": idp.url,
        "AZURE_BATCH_ENDPOINT": batch_url,
        "BATCH_MCP_AUDIT_LOG": str(workdir / "audit.jsonl"),
        "BATCH_MCP_TOOLSETS": "all",
        "BATCH_MCP_WATCH_MAX_INTERVAL": "1",
        "BATCH_MCP_EMULATOR_EXEC": "unrestricted",  # the emulator behind the gate says it is one (see above)
        "SSL_CERT_FILE": str(tls.ca_file),
        "REQUESTS_CA_BUNDLE": str(tls.ca_file),
    }


@contextmanager
def run_process(command: list[str], env: dict[str, str], log: Path, url: str) -> Iterator[None]:
    """A subprocess that serves `url`, until the block ends (stopped with SIGINT, then killed)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{command[:3]} exited with {process.returncode}:\n{log.read_text()}")
                try:
                    httpx2.get(url, timeout=2)
                    break
                except httpx2.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{command[:3]} did not answer on {url}:\n{log.read_text()}") from None
                    time.sleep(0.1)
            yield
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextmanager
def entra_process(env: dict[str, str], workdir: Path, *args: str) -> Iterator[EntraServer]:
    base = f"http://127.0.0.1:{env['BATCH_MCP_PORT']}"
    with run_process([sys.executable, "-m", "batch_mcp", *args], env, workdir / "server.log", base + "/mcp"):
        yield EntraServer(base, workdir / "audit.jsonl", workdir / "server.log")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def entra_server(
    idp: IdentityProvider, batch: tuple[str, BatchGate], tls: LoopbackTls, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EntraServer]:
    """`batch-mcp --transport http --http-auth entra` as a subprocess, signing users in with the test
    provider and calling the test Batch endpoint on their behalf."""
    workdir = tmp_path_factory.mktemp("entra-server")
    with entra_process(entra_env(idp, batch[0], tls, workdir, free_port()), workdir) as served:
        yield served
