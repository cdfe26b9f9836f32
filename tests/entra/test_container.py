"""The Docker image's settings with Entra ID sign-in: the ENV lines of the Dockerfile, plus the sign-in
settings a deployment adds, serve users on the public URL's host name (no Docker daemon needed: the
image runs exactly this command with exactly these variables)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from batch_mcp.server.entra import EntraConfigError, check_entra_settings
from tests.entra.batch_gate import BatchGate
from tests.entra.conftest import entra_env, entra_process, entra_settings, free_port
from tests.entra.provider import ALICE, IdentityProvider
from tests.entra.tls import LoopbackTls

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def image_env() -> dict[str, str]:
    """The BATCH_MCP_* variables the Dockerfile's ENV lines set."""
    values: dict[str, str] = {}
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("ENV "):
            for word in shlex.split(line[4:]):
                name, _, value = word.partition("=")
                if name.startswith("BATCH_MCP_"):
                    values[name] = value
    return values


def test_the_image_settings_serve_entra_sign_in_on_the_public_host_name(
    idp: IdentityProvider, batch: tuple[str, BatchGate], tls: LoopbackTls, tmp_path: Path
) -> None:
    image = image_env()
    assert image["BATCH_MCP_HOST"] == "0.0.0.0" and image["BATCH_MCP_TRANSPORT"] == "http"
    port = free_port()  # the container's 8000, mapped to a free port here
    env = (
        entra_env(idp, batch[0], tls, tmp_path, port)
        | image
        | {
            "BATCH_MCP_PORT": str(port),
            "BATCH_MCP_PUBLIC_URL": "https://batch-mcp.contoso.test",
        }
    )
    with entra_process(env, tmp_path) as served:
        metadata = httpx2.get(served.base + "/.well-known/oauth-protected-resource/mcp", timeout=10)
        bearer = {"Authorization": f"Bearer {idp.token(ALICE)}"}
        public = httpx2.post(served.url, json=INIT, headers={**HEADERS, **bearer, "Host": "batch-mcp.contoso.test"})
        foreign = httpx2.post(served.url, json=INIT, headers={**HEADERS, **bearer, "Host": "evil.example"})
    assert metadata.json()["resource"] == "https://batch-mcp.contoso.test/mcp"
    assert public.status_code == 200
    assert foreign.status_code in (403, 421)


def test_without_a_public_url_the_image_refuses_to_start_and_says_why(
    idp: IdentityProvider, batch: tuple[str, BatchGate], tls: LoopbackTls, tmp_path: Path
) -> None:
    env = entra_env(idp, batch[0], tls, tmp_path, free_port()) | image_env()
    env.pop("BATCH_MCP_PUBLIC_URL", None)
    done = subprocess.run([sys.executable, "-m", "batch_mcp"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--public-url" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"entra_client_secret": None}, "BATCH_MCP_ENTRA_CLIENT_SECRET"),
        ({"entra_tenant_id": "contoso.onmicrosoft.com"}, "tenant"),
        ({"entra_client_id": None}, "--entra-client-id"),
        ({"access_key": "c2VjcmV0LWtleS0wMTIzNDU2Nzg5"}, "Shared Key"),
        ({"endpoint": None}, "AZURE_BATCH_ENDPOINT"),
        ({"public_url": "http://batch-mcp.contoso.test"}, "https"),
        ({"entra_authority": "http://login.example"}, "https"),
        ({"entra_scope": "api://x/user_impersonation"}, "short name"),
        ({"transport": "stdio"}, "--transport http"),
    ],
)
def test_a_misconfigured_entra_setup_is_refused_naming_the_setting(
    idp: IdentityProvider, tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    values = {"endpoint": "https://acct.westeurope.batch.azure.com", **change}
    with pytest.raises(EntraConfigError, match=re.escape(expected)) as refused:
        check_entra_settings(entra_settings(idp, tmp_path, **values))
    assert idp.client_secret not in str(refused.value)
