"""Application packages on nodes: the pool's and the task's references, unpacked into the node's
`applications/` folder before the command runs and announced in `AZ_BATCH_APP_PACKAGE_*`.

The packages themselves come from the account's applications (applications.py). A reference the
account cannot satisfy (the application or version is gone) fails the run as the service fails it,
with failure code ApplicationPackageError.
"""

from __future__ import annotations

import zipfile
from typing import Any

import anyio.to_thread

from batch_mcp.emulator.applications import Applications
from batch_mcp.emulator.backend.base import BackendBase
from batch_mcp.emulator.runner import failure


class PackageError(Exception):
    """A package could not be put on the node; `info` is the TaskFailureInformation."""

    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__(info["message"])
        self.info = info


class PackageOps(BackendBase):
    async def package_env(self, pool_id: str, node_id: str, refs: list[dict[str, Any]] | None = None) -> dict[str, str]:
        """Put the pool's packages and `refs` on the node; their environment variables."""
        pool = self.find("pool", "", pool_id)
        wanted = [*((pool.body.get("applicationPackageReferences") or []) if pool else []), *(refs or [])]
        env: dict[str, str] = {}
        if not wanted:
            return env
        folder = self.files.node_root(pool_id, node_id) / "applications"
        for ref in wanted:
            try:
                package = self.applications.resolve(ref)
                target = await anyio.to_thread.run_sync(Applications.deploy, package, folder)
            except (ValueError, OSError, zipfile.BadZipFile) as exc:
                version = ref.get("version") or "(default)"
                raise PackageError(
                    failure(
                        "ApplicationPackageError",
                        f"Application package {ref.get('applicationId')}:{version} could not be deployed: {exc}.",
                        ApplicationId=str(ref.get("applicationId")),
                        Version=version,
                    )
                ) from exc
            env[package.env_name] = str(target)
        return env
