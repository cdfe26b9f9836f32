"""Task and node files: which folder an API path names, listings and deletes.

Reading file content is left to the protocol layer, which streams from the path found here.
"""

from __future__ import annotations

from typing import Any

from batch_mcp.emulator import errors, nodefs
from batch_mcp.emulator.backend.base import BackendBase
from batch_mcp.emulator.store import Entity


class FileOps(BackendBase):
    def task_folder(self, job_id: str, task_id: str) -> tuple[Entity, nodefs.Scope]:
        self.get("job", "", job_id)
        task = self.get("task", job_id, task_id)
        where = task.internal.get("last_node")
        if not where:
            raise errors.conflict("TaskNotStarted", "The task has not run on a node yet, so it has no files.")
        if self.find("node", where["pool"], where["node"]) is None:
            raise errors.conflict(
                "TaskFilesUnavailable", "The node the task ran on has left its pool; its files are gone."
            )
        return task, self.files.task_scope(where["pool"], where["node"], job_id, task.id)

    def node_folder(self, pool_id: str, node_id: str) -> tuple[Entity, nodefs.Scope]:
        self.get("pool", "", pool_id)
        node = self.get("node", pool_id, node_id)
        return node, self.files.node_scope(pool_id, node.id)

    def task_file(self, job_id: str, task_id: str, file_path: str) -> tuple[nodefs.FileRef, str]:
        task, scope = self.task_folder(job_id, task_id)
        return nodefs.FileRef(scope, file_path), self.url(f"/jobs/{job_id}/tasks/{task.id}/files/{file_path}")

    def node_file(self, pool_id: str, node_id: str, file_path: str) -> tuple[nodefs.FileRef, str]:
        node, scope = self.node_folder(pool_id, node_id)
        return nodefs.FileRef(scope, file_path), self.url(f"/pools/{pool_id}/nodes/{node.id}/files/{file_path}")

    def list_from_task_file(self, job_id: str, task_id: str, recursive: bool) -> list[dict[str, Any]]:
        task, scope = self.task_folder(job_id, task_id)
        prefix = f"/jobs/{job_id}/tasks/{task.id}/files/"
        return [nodefs.node_file(name, self.url(prefix + name), fi) for name, fi in scope.walk(recursive)]

    def list_from_compute_node_file(self, pool_id: str, node_id: str, recursive: bool) -> list[dict[str, Any]]:
        node, scope = self.node_folder(pool_id, node_id)
        prefix = f"/pools/{pool_id}/nodes/{node.id}/files/"
        return [nodefs.node_file(name, self.url(prefix + name), fi) for name, fi in scope.walk(recursive)]

    def delete_from_task_file(self, job_id: str, task_id: str, file_path: str, recursive: bool) -> None:
        _, scope = self.task_folder(job_id, task_id)
        scope.delete(file_path, recursive)

    def delete_from_compute_node_file(self, pool_id: str, node_id: str, file_path: str, recursive: bool) -> None:
        _, scope = self.node_folder(pool_id, node_id)
        scope.delete(file_path, recursive)
