"""What `batch-mcp doctor` (and the start-up check) can verify of Entra ID sign-in without a user.

Batch is read as each signed-in user, so there is no read to try here. What can be checked: the
settings, the tenant's published signing keys (the server needs them for every token), and the app
registration's own credential (its secret or certificate gets it a token from the tenant). Whether
the tenant consented to the app's Batch permission shows at a user's first call.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

import httpx2

from batch_mcp.server.entra.config import EntraConfig, EntraConfigError
from batch_mcp.server.entra.keys import KeysUnavailable, SigningKeys

if TYPE_CHECKING:
    from batch_mcp.settings import Settings


class Report(Protocol):
    """Where a check's outcome goes (`server.checks.Report`, which calls these checks)."""

    def add(self, name: str, status: Any, detail: str, started: float | None = None) -> Any: ...

CREDENTIAL_SECONDS = 20.0


async def check_sign_in(settings: Settings, report: Report, http: httpx2.AsyncClient | None = None) -> None:
    import anyio

    from batch_mcp.server.entra import check_entra_settings

    started = time.perf_counter()
    try:
        config = check_entra_settings(settings)
    except EntraConfigError as exc:
        report.add("sign-in settings", "fail", str(exc), started)
        return
    report.add(
        "sign-in settings",
        "ok",
        f"Microsoft Entra ID tenant {config.tenant_id}, app {config.client_id}, scope {config.full_scope}, "
        f"resource {config.resource_url}",
        started,
    )
    started = time.perf_counter()
    keys = SigningKeys(config, http, min_refresh_interval=0)
    try:
        with anyio.fail_after(CREDENTIAL_SECONDS):
            issuers = await keys.issuers()
        report.add(
            "tenant signing keys", "ok", f"{len(keys._keys)} key(s); issuers {', '.join(sorted(issuers))}", started
        )
    except (KeysUnavailable, TimeoutError) as exc:
        detail = str(exc) or f"no answer within {CREDENTIAL_SECONDS:g} s"
        report.add("tenant signing keys", "fail", f"{detail} (--entra-authority, --entra-tenant-id)", started)
        return
    finally:
        if http is None:
            await keys.aclose()
    await _check_app_credential(config, report)
    report.add("authenticated read", "skip", "made as each signed-in user (--http-auth entra), not by the server")


async def _check_app_credential(config: EntraConfig, report: Report) -> None:
    """The app's secret or certificate, by asking the tenant for an app token for Batch."""
    import anyio
    from azure.identity.aio import CertificateCredential, ClientSecretCredential

    from batch_mcp.batch.auth import BATCH_SCOPE, _explain, _identity_transport

    started = time.perf_counter()
    options = {"authority": config.authority, **_identity_transport()}
    if config.client_certificate is not None:
        credential = CertificateCredential(
            config.tenant_id, config.client_id, certificate_data=config.client_certificate, **options
        )
        what, setting = "certificate", "--entra-client-certificate"
    else:
        credential = ClientSecretCredential(config.tenant_id, config.client_id, config.client_secret or "", **options)
        what, setting = "client secret", "BATCH_MCP_ENTRA_CLIENT_SECRET"
    try:
        with anyio.fail_after(CREDENTIAL_SECONDS):
            await credential.get_token(BATCH_SCOPE)
        report.add("app credential", "ok", f"the app registration's {what} is accepted by the tenant", started)
    except Exception as exc:  # azure-identity raises several unrelated types
        report.add("app credential", "fail", f"{_explain(exc)} ({setting})", started)
    finally:
        await credential.close()
