"""The one-screen start-up banner, on stderr (stdout belongs to JSON-RPC on stdio)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batch_mcp import __version__
from batch_mcp.server.execution import describe as describe_execution

if TYPE_CHECKING:
    from batch_mcp.server import Assembly
    from batch_mcp.server.transports import HttpPlan


def banner(parts: Assembly, *, no_confirm: bool, http_plan: HttpPlan | None = None) -> str:
    s = parts.settings
    entra = http_plan is not None and http_plan.token is None  # each user signs in with Entra ID
    backend = (
        f"local emulator (state in {s.emulator_data_dir})"
        if s.uses_emulator
        else f"{s.endpoint} (Microsoft Entra ID on behalf of each signed-in user)"
        if entra
        else f"{s.endpoint} ({'Shared Key' if s.access_key else 'Microsoft Entra ID'} auth)"
    )
    listed, enabled = len(parts.selection.listed), len(parts.selection.enabled)
    lines = [
        f"batch-mcp {__version__} · Azure Batch api-version {parts.catalog.api_version}",
        f"backend:    {backend}",
        f"tools:      {listed} listed, {enabled} enabled "
        + (f"(tools: {','.join(s.tools)})" if s.tools else f"(toolsets: {','.join(s.toolsets)})")
        + (f", excluding {','.join(s.exclude_tools)}" if s.exclude_tools else "")
        + (" · READ-ONLY" if s.read_only else ""),
        f"guardrails: confirmation {'OFF (--no-confirm)' if no_confirm else 'on'} · max nodes "
        f"{s.max_nodes if s.max_nodes is not None else 'unlimited'} · audit log {s.audit_log or 'off'}",
        f"execution:  {describe_execution(s.emulator_exec, uses_emulator=s.uses_emulator)}",
    ]
    if http_plan is None:
        lines.append("transport:  stdio (point your MCP client's command at `batch-mcp`)")
        if s.http_auth == "entra":
            lines.append("sign-in:    --http-auth entra is for HTTP; over stdio Batch is called as configured above")
    else:
        if entra:
            from batch_mcp.server.entra.config import resource_url

            lines.append(f"transport:  http://{s.host}:{s.port}/mcp · public URL {resource_url(s)}")
            lines.append(
                f"sign-in:    Microsoft Entra ID, tenant {s.entra_tenant_id}, app {s.entra_client_id} "
                f"(scope {s.entra_scope})"
            )
        else:
            lines.append(f"transport:  http://{s.host}:{s.port}/mcp · header 'Authorization: Bearer <token>'")
        if http_plan.generated:
            lines.append(f"token:      {http_plan.token}   (generated for this run; shown once)")
    return "\n".join(lines)
