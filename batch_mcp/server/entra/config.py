"""What the server needs to know about its Microsoft Entra ID app registration, from settings.

One app registration plays both parts of the on-behalf-of flow: it is the resource MCP clients
get tokens for (its Application ID URI and the delegated scope it exposes), and the confidential
client that exchanges such a token for a Batch token in the user's name (its client secret or
certificate). Everything is checked at start-up, so a misconfiguration fails with the setting's
name instead of as a 401 on the first call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from batch_mcp.settings import Settings

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MCP_PATH = "/mcp"


class EntraConfigError(ValueError):
    """Entra ID sign-in is switched on but cannot work as configured; the message names the setting."""


@dataclass(frozen=True)
class EntraConfig:
    tenant_id: str
    client_id: str
    app_id_uri: str
    scope: str  # the short name the token's `scp` claim carries, e.g. user_impersonation
    authority: str  # https://login.microsoftonline.com, or a sovereign cloud's sign-in host
    resource_url: str  # this server's MCP endpoint as clients reach it: the OAuth resource identifier
    client_secret: str | None = field(default=None, repr=False)
    client_certificate: bytes | None = field(default=None, repr=False)

    @property
    def full_scope(self) -> str:
        """The scope a client asks Entra ID for (what `scopes_supported` and `WWW-Authenticate` name)."""
        return f"{self.app_id_uri.rstrip('/')}/{self.scope}"

    @property
    def issuer(self) -> str:
        """The tenant's v2.0 issuer: the authorization server named in the protected resource metadata."""
        return f"{self.authority}/{self.tenant_id}/v2.0"

    @property
    def discovery_urls(self) -> tuple[str, str]:
        """OpenID configuration of the v2.0 endpoint (keys, issuer) and of the v1 endpoint (its issuer:
        an app registration that has not asked for v2 access tokens gets v1 ones)."""
        return (
            f"{self.issuer}/.well-known/openid-configuration",
            f"{self.authority}/{self.tenant_id}/.well-known/openid-configuration",
        )

    @property
    def audiences(self) -> tuple[str, ...]:
        """A v1 access token names the Application ID URI as its audience, a v2 one the client id."""
        return tuple(dict.fromkeys((self.app_id_uri, self.app_id_uri.rstrip("/"), self.client_id)))

    @classmethod
    def from_settings(cls, settings: Settings) -> EntraConfig:
        missing = [
            flag
            for flag, value in (
                ("--entra-tenant-id (BATCH_MCP_ENTRA_TENANT_ID)", settings.entra_tenant_id),
                ("--entra-client-id (BATCH_MCP_ENTRA_CLIENT_ID)", settings.entra_client_id),
            )
            if not value
        ]
        if missing:
            raise EntraConfigError(f"--http-auth entra needs {' and '.join(missing)}")
        tenant, client = str(settings.entra_tenant_id).strip(), str(settings.entra_client_id).strip()
        if not GUID.match(tenant):
            raise EntraConfigError(
                f"--entra-tenant-id must be the directory (tenant) id, a GUID, not {tenant!r} "
                "(Entra admin center: Overview > Tenant ID); multi-tenant sign-in is not supported"
            )
        if not GUID.match(client):
            raise EntraConfigError(f"--entra-client-id must be the application (client) id, a GUID, not {client!r}")
        secret = settings.entra_client_secret.get_secret_value() if settings.entra_client_secret else None
        certificate = None
        if settings.entra_client_certificate is not None:
            try:
                certificate = settings.entra_client_certificate.read_bytes()
            except OSError as exc:
                raise EntraConfigError(f"--entra-client-certificate: cannot read it ({exc.strerror})") from None
        if bool(secret) == bool(certificate):
            raise EntraConfigError(
                "--http-auth entra needs exactly one of BATCH_MCP_ENTRA_CLIENT_SECRET or --entra-client-certificate: "
                "the server exchanges each user's token for a Batch token with it (on-behalf-of)"
            )
        authority = settings.entra_authority.strip().rstrip("/")
        if "://" not in authority:
            authority = "https://" + authority
        if urlsplit(authority).scheme != "https":
            raise EntraConfigError(f"--entra-authority must be an https URL, not {authority!r}")
        scope = settings.entra_scope.strip()
        if not scope or "/" in scope or " " in scope:
            raise EntraConfigError(f"--entra-scope is the scope's short name (e.g. user_impersonation), not {scope!r}")
        return cls(
            tenant_id=tenant.lower(),
            client_id=client.lower(),
            app_id_uri=(settings.entra_app_id_uri or f"api://{client.lower()}").strip(),
            scope=scope,
            authority=authority,
            resource_url=resource_url(settings),
            client_secret=secret,
            client_certificate=certificate,
        )


def resource_url(settings: Settings) -> str:
    """The MCP endpoint's public URL: `--public-url` (with /mcp added when it has no path), else the bind."""
    if not settings.public_url:
        host = settings.host if ":" not in settings.host else f"[{settings.host}]"
        return f"http://{host}:{settings.port}{MCP_PATH}"
    url = settings.public_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise EntraConfigError(f"--public-url must be an http(s) URL without query or fragment, not {url!r}")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise EntraConfigError(
            f"--public-url {url!r}: clients send their Entra ID tokens to it, so it must be https "
            "(terminate TLS at your ingress or reverse proxy)"
        )
    return url if parts.path else url + MCP_PATH


def public_host(settings: Settings) -> str | None:
    """The host name (with port, if any) clients use, for the Host/Origin checks."""
    if not settings.public_url:
        return None
    return urlsplit(resource_url(settings)).netloc
