"""The Streamable HTTP application from settings: the shared static token, or Entra ID sign-in.

`batch-mcp --transport http` serves what this builds, and tests build the same thing in-process.
"""

from __future__ import annotations

from typing import Any

from mcp.server import Server

from batch_mcp.redaction import register_secret
from batch_mcp.server.resources import file_routes
from batch_mcp.server.transports import HttpPlan, http_app, plan_http
from batch_mcp.settings import Settings


def http_application(settings: Settings, server: Server[Any], runtime_ref: Any) -> tuple[Any, HttpPlan]:
    """The ASGI app and its plan. Raises TransportConfigError or EntraConfigError (both ValueErrors)
    with the setting to change."""
    entra = None
    public_host = None
    if settings.http_auth == "entra":
        from batch_mcp.server.entra import EntraAuthorization, check_entra_settings
        from batch_mcp.server.entra.config import public_host as host_of

        entra = EntraAuthorization.create(check_entra_settings(settings))
        public_host = host_of(settings)
    plan = plan_http(
        settings.host,
        settings.port,
        settings.token.get_secret_value() if settings.token else None,
        settings.allowed_hosts,
        static_token=entra is None,
        public_host=public_host,
    )
    register_secret(plan.token)  # masked in every log line, error and result from here on
    if entra is None:
        routes = file_routes(runtime_ref, plan.security)
    else:
        routes = file_routes(
            runtime_ref,
            plan.security,
            required_scopes=entra.required_scopes,
            resource_metadata_url=entra.resource_metadata_url,
        )
    app = http_app(
        server,
        settings.host,
        settings.port,
        plan,
        extra_routes=routes,
        entra=entra,
        max_sessions=settings.http_max_sessions,
    )
    return app, plan
