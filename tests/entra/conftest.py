"""Fixtures for Entra ID sign-in: the test identity provider and a Batch endpoint that checks users'
roles, both over TLS on loopback, and settings for a server that uses them."""

from __future__ import annotations

from collections.abc import Iterator
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
    }
    values.update(overrides)
    return Settings(**values)


def authorization(idp: IdentityProvider, tls: LoopbackTls, tmp_path: Path, **options: Any) -> EntraAuthorization:
    """The server's Entra ID checks, trusting the test CA."""
    config = EntraConfig.from_settings(entra_settings(idp, tmp_path))
    return EntraAuthorization.create(config, httpx2.AsyncClient(verify=tls.client_context(), timeout=10), **options)
