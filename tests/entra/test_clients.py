"""Third-party clients against `batch-mcp --http-auth entra`: the MCP conformance suite and the MCP
Inspector, with tokens from the test identity provider.

The 0.2.0-alpha.12 suite has no server-side authorization scenario (its auth/* scenarios test
clients, two more test authorization servers), so what applies is every server scenario run through
Entra ID sign-in, with the same expected failures as the static-token run. The Inspector cannot
sign a person in without a browser; here it runs twice: with a bearer header (its CLI's way for
scripts), and through its own OAuth flow, discovering the tenant from the server's 401 and metadata,
with the browser step played by a script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.served import AUTH_PROXY
from tests.conformance.suite import judge, read_baseline, run_suite
from tests.conformance.test_conformance import BASELINES, ERAS, Era
from tests.conformance.toolchain import Toolchain, ToolchainError, cache_dir, provision
from tests.entra.batch_gate import BatchGate
from tests.entra.conftest import EntraServer, entra_env, entra_process, free_port, run_process
from tests.entra.provider import ALICE, IdentityProvider
from tests.entra.tls import LoopbackTls

pytestmark = pytest.mark.slow

INSPECTOR_TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    try:
        return provision()
    except ToolchainError as exc:
        pytest.fail(f"cannot install the MCP test tools from npm into {cache_dir()}: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def suite_url(
    entra_server: EntraServer, idp: IdentityProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The conformance suite cannot send a header: it talks through the proxy, which adds Alice's token."""
    port = free_port()
    env = {**os.environ, "BATCH_MCP_TOKEN": idp.token(ALICE, lifetime=3600)}
    url = f"http://127.0.0.1:{port}/mcp"
    command = [sys.executable, str(AUTH_PROXY), "--port", str(port), "--upstream", entra_server.base]
    with run_process(command, env, tmp_path_factory.mktemp("proxy") / "proxy.log", url):
        yield url


@pytest.mark.parametrize("era", ERAS, ids=lambda era: era.name)
def test_the_conformance_suite_passes_through_entra_sign_in(
    era: Era, toolchain: Toolchain, suite_url: str, batch: tuple[str, BatchGate], tmp_path: Path
) -> None:
    baseline_file = BASELINES / era.baseline
    run = run_suite(
        toolchain.node, getattr(toolchain, era.suite), suite_url, baseline_file, tmp_path / "out", *era.args
    )
    verdict = judge(run, read_baseline(baseline_file))
    print(f"\nconformance suite through Entra ID sign-in, {era.name} era:\n{verdict.table}")
    assert run.scenarios, run.output[-2000:]
    assert not verdict.unexpected, verdict.unexpected
    assert not verdict.stale, verdict.stale
    failing = [name for name in era.must_pass if name not in run.scenarios or run.scenarios[name].failing]
    assert not failing, failing
    assert batch[1].by(ALICE.oid), "the suite's calls reached Batch as the signed-in user"


def inspector(
    toolchain: Toolchain, home: Path, url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "HOME": str(home),
        "MCP_CATALOG_PATH": str(home / "mcp.json"),
        "MCP_CLIENT_CONFIG_PATH": str(home / "client.json"),
        **(env or {}),
    }
    command = [str(toolchain.node), str(toolchain.inspector), "--cli", url, "--transport", "http", *args]
    return subprocess.run(
        command, capture_output=True, text=True, encoding="utf-8", env=environment, timeout=INSPECTOR_TIMEOUT_SECONDS
    )


def test_the_inspector_lists_and_calls_tools_with_a_token_from_the_provider(
    toolchain: Toolchain, entra_server: EntraServer, idp: IdentityProvider, batch: tuple[str, BatchGate], tmp_path: Path
) -> None:
    header = f"Authorization: Bearer {idp.token(ALICE)}"
    listed = inspector(
        toolchain,
        tmp_path,
        entra_server.url,
        "--header",
        header,
        "--method",
        "tools/list",
        "--strict",
        "--format",
        "json",
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert len(json.loads(listed.stdout)["result"]["tools"]) > 40  # the server runs with --toolsets all
    before = len(batch[1].by(ALICE.oid))
    called = inspector(
        toolchain,
        tmp_path,
        entra_server.url,
        "--header",
        header,
        "--protocol-era",
        "modern",
        "--method",
        "tools/call",
        "--tool-name",
        "pool_get",
        "--tool-args-json",
        '{"pool_id": "local"}',
        "--format",
        "json",
    )
    assert called.returncode == 0, called.stderr[-2000:]
    assert json.loads(called.stdout)["result"]["structuredContent"]["id"] == "local"
    assert len(batch[1].by(ALICE.oid)) > before  # made as Alice
    refused = inspector(
        toolchain,
        tmp_path,
        entra_server.url,
        "--header",
        "Authorization: Bearer not-a-token",
        "--stored-auth-only",
        "--method",
        "tools/list",
    )
    assert refused.returncode != 0


def test_the_inspector_signs_in_on_its_own_from_the_servers_metadata(
    toolchain: Toolchain,
    idp: IdentityProvider,
    batch: tuple[str, BatchGate],
    tls: LoopbackTls,
    tmp_path: Path,
) -> None:
    """401 → protected resource metadata → the tenant's OpenID configuration → authorization code with
    PKCE (the browser scripted) → a token for this server → tools called as the signed-in user."""
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    idp.app_id_uri = resource  # the Application ID URI is the server's URL, so Entra ID accepts `resource`
    callback = f"http://127.0.0.1:{free_port()}/oauth/callback"
    log = tmp_path / "browser.log"
    env = entra_env(idp, batch[0], tls, tmp_path / "server", port) | {"BATCH_MCP_ENTRA_APP_ID_URI": resource}
    try:
        with entra_process(env, tmp_path / "server"):
            before = len(batch[1].by(ALICE.oid))
            done = inspector(
                toolchain,
                tmp_path,
                resource,
                "--client-id",
                idp.client_id,
                "--callback-url",
                callback,
                "--protocol-era",
                "modern",
                "--method",
                "tools/call",
                "--tool-name",
                "pool_list",
                "--format",
                "json",
                env={
                    "MCP_AUTO_OPEN_ENABLED": "true",
                    "BROWSER": f"{sys.executable} {Path(__file__).with_name('browser.py')}",
                    "NODE_EXTRA_CA_CERTS": str(tls.ca_file),
                    "BATCH_MCP_TEST_CA": str(tls.ca_file),
                    "BATCH_MCP_TEST_BROWSER_LOG": str(log),
                    "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                },
            )
    finally:
        idp.app_id_uri = f"api://{idp.client_id}"
    trail = log.read_text(encoding="utf-8") if log.exists() else "(the browser was never opened)"
    assert done.returncode == 0, f"{done.stderr[-3000:]}\nbrowser: {trail}"
    assert json.loads(done.stdout)["result"]["structuredContent"]["items"], done.stdout
    assert "callback 200" in trail
    assert idp.count("authorize") >= 1 and idp.count("code") >= 1
    assert len(batch[1].by(ALICE.oid)) > before  # the signed-in user's calls, on their behalf
