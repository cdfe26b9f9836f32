"""Where each node's files live on this machine, laid out like a Batch node's.

    <root>/<poolId>/<nodeId>/
        startup/{stdout.txt,stderr.txt,wd/}          the pool's start task
        shared/  applications/
        workitems/<jobId>/job-1/<taskId>/{stdout.txt,stderr.txt,wd/}

Task file APIs see the task folder; node file APIs see the node root. File paths from the API
may use either slash. Every operation stays inside the node's folder (`contained.Folder`): a
link a task made is followed only while it points inside that folder, and the emulator's own
paths (folders it creates and removes) follow no link at all.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from batch_mcp.emulator import errors
from batch_mcp.emulator.contained import DirectoryNotEmpty, Folder, Unreachable, split
from batch_mcp.emulator.timefmt import iso

NODE_DIRS = ("startup", "shared", "applications", "workitems")


def safe_name(text: str) -> str:
    """A folder name for an id (ids are case-insensitive: keep one spelling per id)."""
    return text.replace("/", "_").replace("\\", "_").replace("..", "__")


@dataclass(frozen=True)
class FileInfo:
    is_dir: bool
    size: int
    created: float
    modified: float
    mode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileInfo:
        created = getattr(st, "st_birthtime", None) or min(st.st_ctime, st.st_mtime)
        is_dir = stat.S_ISDIR(st.st_mode)
        return cls(is_dir, 0 if is_dir else st.st_size, created, st.st_mtime, st.st_mode)

    @property
    def mode_text(self) -> str:
        return oct(self.mode)


def _not_found(file_path: str) -> errors.BatchError:
    return errors.not_found("file", file_path)


@dataclass(frozen=True)
class Scope:
    """What one file API sees: a folder of a node (the task's folder, or the node root), with
    the node's folder as the boundary no path or link may cross."""

    node_root: Path
    prefix: tuple[str, ...] = ()  # names from the node root down to the folder the API sees

    def _folder(self) -> Folder:
        try:
            return Folder(self.node_root)
        except Unreachable:
            raise _not_found(".") from None

    def info(self, file_path: str) -> FileInfo:
        parts = [*self.prefix, *split(file_path)]
        with self._folder() as folder:
            try:
                return FileInfo.of(folder.stat(parts))
            except Unreachable:
                raise _not_found(file_path) from None

    def open(self, file_path: str) -> tuple[int, FileInfo]:
        """An open handle on a regular file (the caller closes it) and its properties."""
        parts = [*self.prefix, *split(file_path)]
        with self._folder() as folder:
            try:
                fd, st = folder.open_read(parts)
            except IsADirectoryError:
                raise errors.BatchError(
                    400, "FileIsDirectory", "The path names a directory; list it instead.", {}
                ) from None
            except Unreachable:
                raise _not_found(file_path) from None
        return fd, FileInfo.of(st)

    def walk(self, recursive: bool) -> Iterator[tuple[str, FileInfo]]:
        """(relative name with '/', info) for the entries under the scope's folder."""
        try:
            folder = self._folder()
        except errors.BatchError:
            return
        with folder:
            try:
                for name, st, _ in folder.entries(list(self.prefix), recursive):
                    yield name, FileInfo.of(st)
            except Unreachable:
                return

    def delete(self, file_path: str, recursive: bool) -> None:
        parts = split(file_path)
        if not parts:
            raise errors.bad_request("InvalidUri", "The folder itself cannot be deleted.", {"filePath": file_path})
        with self._folder() as folder:
            try:
                folder.delete([*self.prefix, *parts], recursive)
            except DirectoryNotEmpty:
                raise errors.conflict(
                    "DirectoryNotEmpty", "The directory is not empty; set recursive to delete it and its contents."
                ) from None
            except (Unreachable, FileNotFoundError):
                raise _not_found(file_path) from None


@dataclass(frozen=True)
class FileRef:
    """One file of a scope, named by an API file path."""

    scope: Scope
    file_path: str

    def info(self) -> FileInfo:
        return self.scope.info(self.file_path)

    def open(self) -> tuple[int, FileInfo]:
        return self.scope.open(self.file_path)


class NodeFiles:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()  # no link on the way to it: every path below is the emulator's own

    def _own(self) -> Folder:
        """The nodes root, where the emulator's own paths follow no link."""
        return Folder(self.root, follow=False)

    def _parts(self, path: Path) -> list[str]:
        return list(path.relative_to(self.root).parts)

    def node_root(self, pool_id: str, node_id: str) -> Path:
        return self.root / safe_name(pool_id.lower()) / safe_name(node_id)

    def prepare_node(self, pool_id: str, node_id: str) -> Path:
        root = self.node_root(pool_id, node_id)
        with self._own() as own:
            for name in NODE_DIRS:
                own.make_dirs(self._parts(root / name))
        return root

    def startup_dir(self, pool_id: str, node_id: str) -> Path:
        return self.node_root(pool_id, node_id) / "startup"

    def job_dir(self, pool_id: str, node_id: str, job_id: str) -> Path:
        return self.node_root(pool_id, node_id) / "workitems" / safe_name(job_id) / "job-1"

    def task_dir(self, pool_id: str, node_id: str, job_id: str, task_id: str) -> Path:
        return self.job_dir(pool_id, node_id, job_id) / safe_name(task_id)

    def task_relative(self, job_id: str, task_id: str) -> str:
        """The task folder relative to the node root, as the service reports it."""
        return f"workitems/{safe_name(job_id)}/job-1/{safe_name(task_id)}"

    def task_scope(self, pool_id: str, node_id: str, job_id: str, task_id: str) -> Scope:
        return Scope(self.node_root(pool_id, node_id), tuple(self.task_relative(job_id, task_id).split("/")))

    def node_scope(self, pool_id: str, node_id: str) -> Scope:
        return Scope(self.node_root(pool_id, node_id))

    def remove(self, path: Path) -> None:
        """Remove one of the emulator's folders (a node's, a job's, a task's) and all in it."""
        with self._own() as own:
            own.remove_tree(self._parts(path))

    def remove_node(self, pool_id: str, node_id: str) -> None:
        self.remove(self.node_root(pool_id, node_id))

    def remove_pool(self, pool_id: str) -> None:
        self.remove(self.root / safe_name(pool_id.lower()))

    def clean_node(self, pool_id: str, node_id: str) -> None:
        """A reimage: the node comes back with empty folders."""
        self.remove_node(pool_id, node_id)
        self.prepare_node(pool_id, node_id)


def node_file(name: str, url: str, fi: FileInfo) -> dict:
    """The NodeFile wire entity."""
    out: dict = {"name": name, "url": url, "isDirectory": fi.is_dir}
    if not fi.is_dir:
        out["properties"] = {
            "creationTime": iso(fi.created),
            "lastModified": iso(fi.modified),
            "contentLength": fi.size,
            "contentType": "application/octet-stream",
            "fileMode": fi.mode_text,
        }
    return out
