"""Sign-in with Microsoft Entra ID for the Streamable HTTP transport (`--http-auth entra`).

The server is an OAuth 2.0 protected resource (RFC 9728) whose authorization server is the
tenant's Entra ID: MCP clients find it in the metadata, sign the user in, and send an access
token for this server's app registration on every request; `tokens.py` checks it, the SDK's
bearer middleware enforces it, and `challenge.py` words the `WWW-Authenticate` answers the way
the MCP authorization spec asks. Batch is then called on behalf of that user (`batch.obo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2
from mcp.server.auth.handlers.metadata import ProtectedResourceMetadataHandler
from mcp.server.auth.routes import build_resource_metadata_url, cors_middleware
from mcp.server.auth.settings import AuthSettings
from mcp.shared.auth import ProtectedResourceMetadata
from pydantic import AnyHttpUrl
from starlette.routing import Route

from batch_mcp.batch.obo import OnBehalfOfAuth, obo_credential_factory
from batch_mcp.redaction import register_secret
from batch_mcp.server.entra.challenge import BearerChallenge
from batch_mcp.server.entra.config import EntraConfig, EntraConfigError
from batch_mcp.server.entra.keys import SigningKeys
from batch_mcp.server.entra.tokens import EntraTokenVerifier
from batch_mcp.server.users import current_assertion
from batch_mcp.settings import Settings

__all__ = ["EntraAuthorization", "EntraConfig", "EntraConfigError", "check_entra_settings", "on_behalf_of_auth"]

ROOT_METADATA_PATH = "/.well-known/oauth-protected-resource"


@dataclass
class EntraAuthorization:
    config: EntraConfig
    keys: SigningKeys
    verifier: EntraTokenVerifier

    @classmethod
    def create(
        cls, config: EntraConfig, http: httpx2.AsyncClient | None = None, **verifier_options: Any
    ) -> EntraAuthorization:
        keys = SigningKeys(config, http)
        return cls(config, keys, EntraTokenVerifier(config, keys, **verifier_options))

    @property
    def required_scopes(self) -> list[str]:
        return [self.config.full_scope]

    @property
    def resource_metadata_url(self) -> AnyHttpUrl:
        return build_resource_metadata_url(AnyHttpUrl(self.config.resource_url))

    def auth_settings(self) -> AuthSettings:
        """The SDK's resource-server settings: the metadata route and the bearer checks on /mcp."""
        return AuthSettings(
            issuer_url=AnyHttpUrl(self.config.issuer),
            resource_server_url=AnyHttpUrl(self.config.resource_url),
            required_scopes=self.required_scopes,
            validate_token_resource=False,  # the verifier checks the audience (Entra ID's `aud`, not RFC 8707)
        )

    def routes(self) -> list[Route]:
        """The same metadata also at the root well-known path, for clients that look only there."""
        metadata = ProtectedResourceMetadata(
            resource=AnyHttpUrl(self.config.resource_url),
            authorization_servers=[AnyHttpUrl(self.config.issuer)],
            scopes_supported=self.required_scopes,
        )
        if str(self.resource_metadata_url).endswith(ROOT_METADATA_PATH):
            return []
        handler = ProtectedResourceMetadataHandler(metadata)
        return [
            Route(
                ROOT_METADATA_PATH,
                endpoint=cors_middleware(handler.handle, ["GET", "OPTIONS"]),
                methods=["GET", "OPTIONS"],
            )
        ]

    def wrap(self, app: Any) -> BearerChallenge:
        return BearerChallenge(app, resource_metadata=str(self.resource_metadata_url), scope=self.config.full_scope)


def check_entra_settings(settings: Settings) -> EntraConfig:
    """The config for `--http-auth entra`, or EntraConfigError saying which setting to change."""
    if settings.transport != "http":
        raise EntraConfigError("--http-auth entra signs users in over HTTP: use it with --transport http")
    if settings.uses_emulator:
        raise EntraConfigError(
            "--http-auth entra calls Batch as each signed-in user, which needs a Batch account: set "
            "AZURE_BATCH_ENDPOINT (the local emulator has no users or roles)"
        )
    if settings.access_key is not None or settings.auth in ("shared_key", "none"):
        raise EntraConfigError(
            "--http-auth entra calls Batch with each user's own Entra ID identity; a Shared Key would give "
            "every user the account's full rights: unset AZURE_BATCH_ACCESS_KEY and --auth"
        )
    return EntraConfig.from_settings(settings)


def on_behalf_of_auth(settings: Settings, **credential_options: Any) -> OnBehalfOfAuth:
    """Batch auth that calls as the request's signed-in user (see `batch.obo`)."""
    config = EntraConfig.from_settings(settings)
    register_secret(config.client_secret)
    factory = obo_credential_factory(
        tenant_id=config.tenant_id,
        client_id=config.client_id,
        client_secret=config.client_secret,
        client_certificate=config.client_certificate,
        authority=config.authority,
        **credential_options,
    )
    return OnBehalfOfAuth(factory, current_assertion)
