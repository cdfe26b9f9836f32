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
        health = subprocess.run([sys.executable, "-m", "batch_mcp.healthcheck"], env=env, timeout=30)
    assert metadata.json()["resource"] == "https://batch-mcp.contoso.test/mcp"
    assert public.status_code == 200
    assert foreign.status_code in (403, 421)
    assert health.returncode == 0  # the image's HEALTHCHECK finds the server up in this mode too


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


def test_the_banner_says_how_users_sign_in_and_that_stdio_ignores_it(idp: IdentityProvider, tmp_path: Path) -> None:
    from batch_mcp.server import assemble
    from batch_mcp.server.banner import banner
    from batch_mcp.server.transports import plan_http

    settings = entra_settings(idp, tmp_path, endpoint="https://acct.westeurope.batch.azure.com")
    plan = plan_http("127.0.0.1", 8000, None, [], static_token=False)
    served = banner(assemble(settings), no_confirm=False, http_plan=plan)
    assert f"sign-in:    Microsoft Entra ID, tenant {idp.tenant_id}, app {idp.client_id}" in served
    assert "on behalf of each signed-in user" in served and "Bearer <token>" not in served
    assert idp.client_secret not in served
    over_stdio = banner(assemble(settings.model_copy(update={"transport": "stdio"})), no_confirm=False)
    assert "--http-auth entra is for HTTP" in over_stdio


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batch_mcp", "doctor"], env=env, capture_output=True, text=True, timeout=120
    )


def test_doctor_checks_what_can_be_checked_without_a_user(
    idp: IdentityProvider, batch: tuple[str, BatchGate], tls: LoopbackTls, tmp_path: Path
) -> None:
    done = doctor(entra_env(idp, batch[0], tls, tmp_path, free_port()))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = {line.split(":")[0].strip() for line in done.stdout.splitlines() if line.startswith("  ")}
    assert {"ok    sign-in settings", "ok    tenant signing keys", "ok    app credential"} <= lines, done.stdout
    assert "skip  authenticated read: made as each signed-in user" in done.stdout
    assert idp.client_secret not in done.stdout + done.stderr


def test_doctor_names_a_wrong_client_secret(
    idp: IdentityProvider, batch: tuple[str, BatchGate], tls: LoopbackTls, tmp_path: Path
) -> None:
    env = entra_env(idp, batch[0], tls, tmp_path, free_port()) | {"BATCH_MCP_ENTRA_CLIENT_SECRET": "an-old-secret-0000"}
    done = doctor(env)
    assert done.returncode == 1
    failed = [line for line in done.stdout.splitlines() if "FAIL  app credential" in line]
    assert failed and "AADSTS7000215" in failed[0] and "BATCH_MCP_ENTRA_CLIENT_SECRET" in failed[0]
    assert "an-old-secret-0000" not in done.stdout + done.stderr


def test_the_server_starts_in_entra_mode_without_a_start_up_warning(
    idp: IdentityProvider, batch: tuple[str, BatchGate], tls: LoopbackTls, tmp_path: Path
) -> None:
    """The start-up check cannot read Batch without a user: it checks the sign-in instead, and finds
    nothing to warn about."""
    import time

    checked = idp.count("client_credentials")
    with entra_process(entra_env(idp, batch[0], tls, tmp_path, free_port()), tmp_path) as served:
        deadline = time.monotonic() + 30
        while idp.count("client_credentials") == checked and time.monotonic() < deadline:
            time.sleep(0.05)
        assert idp.count("client_credentials") > checked  # the start-up check ran, with the app's credential
        time.sleep(0.5)  # its one line, if any, is printed right after
        log = served.log.read_text(encoding="utf-8")
    assert "sign-in:" in log and "warning" not in log
