"""Uploading a node's Batch service logs, for real, to a local folder that stands for the storage
container.

The service copies its agent logs from the node to the Azure Blob container named in
`containerUrl`, under a new virtual directory `<poolId>/<nodeId>/<guid>/`. The emulator has no
storage account, so the container is a folder in its state folder:

    <state folder>/storage/<host of containerUrl>/<container path>/<poolId>/<nodeId>/<guid>/
        batch-node.log           the node's life here: allocation, boots, start task, recent tasks
        startup/stdout.txt       the start task's output, when it was written within the time range
        startup/stderr.txt

An account URL with no container path stands for the account's root container (`$root`).

The answer counts exactly the files written. The URL's query (a SAS token) is never stored.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from batch_mcp.emulator import errors
from batch_mcp.emulator.backend.base import BackendBase
from batch_mcp.emulator.nodefs import safe_name
from batch_mcp.emulator.store import Entity
from batch_mcp.emulator.timefmt import iso, parse_iso

ROOT_CONTAINER = "$root"


class ServiceLogOps(BackendBase):
    @property
    def storage_root(self) -> Path:
        return self.files.root.parent / "storage"

    def container_folder(self, container_url: str) -> Path:
        """The local folder standing for a blob container URL (scheme and query dropped)."""
        parts = urlsplit(container_url)
        # An account URL with no container names the account's root container, as Blob storage reads it.
        segments = [unquote(s) for s in parts.path.split("/") if s and s not in (".", "..")] or [ROOT_CONTAINER]
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise errors.invalid_property(
                "containerUrl",
                "(hidden)",
                "Give the URL of a blob container, such as https://account.blob.core.windows.net/container?<SAS>.",
            )
        return self.storage_root.joinpath(safe_name(parts.hostname.lower()), *(safe_name(s) for s in segments))

    def upload_batch_service_logs_node(self, pool_id: str, node_id: str, params: dict[str, Any]) -> dict[str, Any]:
        node = self.usable_node(pool_id, node_id)
        container = self.container_folder(params["containerUrl"])
        start = parse_iso(params["startTime"]).timestamp()
        end = parse_iso(params["endTime"]).timestamp() if params.get("endTime") else self.now()
        virtual = f"{pool_id}/{node.id}/{uuid.uuid4()}/"
        target = container.joinpath(*(safe_name(p) for p in virtual.strip("/").split("/")))
        target.mkdir(parents=True, exist_ok=True)
        written = 1
        (target / "batch-node.log").write_text(self.node_log(node, start, end), encoding="utf-8")
        startup = self.files.startup_dir(pool_id, node.id)
        for name in ("stdout.txt", "stderr.txt"):
            source = startup / name
            if source.is_file() and not source.is_symlink() and start <= source.stat().st_mtime <= max(end, start):
                (target / "startup").mkdir(exist_ok=True)
                (target / "startup" / name).write_bytes(source.read_bytes())
                written += 1
        return {"virtualDirectoryName": virtual, "numberOfFilesUploaded": written}

    @staticmethod
    def node_log(node: Entity, start: float, end: float) -> str:
        body = node.body
        lines = [
            f"node {body['id']} of pool {node.parent}: log requested for {iso(start)} .. {iso(end)}",
            f"allocated {body.get('allocationTime')}, last boot {body.get('lastBootTime')}",
            f"state {body.get('state')} since {body.get('stateTransitionTime')}",
            f"scheduling {body.get('schedulingState')}",
            f"tasks run {body.get('totalTasksRun', 0)}, succeeded {body.get('totalTasksSucceeded', 0)}",
        ]
        if body.get("startTaskInfo"):
            lines.append("start task " + json.dumps(body["startTaskInfo"], sort_keys=True))
        for error in body.get("errors") or []:
            lines.append("error " + json.dumps(error, sort_keys=True))
        for task in body.get("recentTasks") or []:
            lines.append("recent task " + json.dumps(task, sort_keys=True))
        return "\n".join(lines) + "\n"
