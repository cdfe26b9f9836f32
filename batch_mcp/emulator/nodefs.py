"""Where each node's files live on this machine, laid out like a Batch node's.

    <root>/<poolId>/<nodeId>/
        startup/{stdout.txt,stderr.txt,wd/}          the pool's start task
        shared/  applications/
        workitems/<jobId>/job-1/<taskId>/{stdout.txt,stderr.txt,wd/}

Task file APIs see the task folder; node file APIs see the node root. File paths from the API
may use either slash; none may leave the folder they are resolved against.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from batch_mcp.emulator import errors
from batch_mcp.emulator.timefmt import iso

NODE_DIRS = ("startup", "shared", "applications", "workitems")


def safe_name(text: str) -> str:
    """A folder name for an id (ids are case-insensitive: keep one spelling per id)."""
    return text.replace("/", "_").replace("\\", "_").replace("..", "__")


@dataclass(frozen=True)
class FileInfo:
    path: Path
    is_dir: bool
    size: int
    created: float
    modified: float
    mode: int

    @classmethod
    def of(cls, path: Path) -> FileInfo:
        st = path.stat()
        created = getattr(st, "st_birthtime", None) or min(st.st_ctime, st.st_mtime)
        return cls(
            path,
            stat.S_ISDIR(st.st_mode),
            0 if stat.S_ISDIR(st.st_mode) else st.st_size,
            created,
            st.st_mtime,
            st.st_mode,
        )

    @property
    def mode_text(self) -> str:
        return oct(self.mode)


class NodeFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def node_root(self, pool_id: str, node_id: str) -> Path:
        return self.root / safe_name(pool_id.lower()) / safe_name(node_id)

    def prepare_node(self, pool_id: str, node_id: str) -> Path:
        root = self.node_root(pool_id, node_id)
        for name in NODE_DIRS:
            (root / name).mkdir(parents=True, exist_ok=True)
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

    def remove_node(self, pool_id: str, node_id: str) -> None:
        shutil.rmtree(self.node_root(pool_id, node_id), ignore_errors=True)

    def remove_pool(self, pool_id: str) -> None:
        shutil.rmtree(self.root / safe_name(pool_id.lower()), ignore_errors=True)

    def clean_node(self, pool_id: str, node_id: str) -> None:
        """A reimage: the node comes back with empty folders."""
        self.remove_node(pool_id, node_id)
        self.prepare_node(pool_id, node_id)


def resolve(base: Path, file_path: str) -> Path:
    """The file under `base` named by an API file path; never outside `base`."""
    parts = [p for p in file_path.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise errors.bad_request("InvalidUri", "The file path may not leave its folder.", {"filePath": file_path})
    return base.joinpath(*parts) if parts else base


def info(path: Path) -> FileInfo:
    try:
        return FileInfo.of(path)
    except (FileNotFoundError, NotADirectoryError):
        raise errors.not_found("file", str(path)) from None


def walk(base: Path, recursive: bool) -> Iterator[tuple[str, FileInfo]]:
    """(relative name with '/', info) for the entries under base, sorted by name."""
    if not base.is_dir():
        return
    if not recursive:
        for entry in sorted(base.iterdir(), key=lambda p: p.name):
            try:
                yield entry.name, FileInfo.of(entry)
            except FileNotFoundError:
                continue
        return
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        rel_dir = Path(dirpath).relative_to(base)
        for name in sorted(dirnames) + sorted(filenames):
            full = Path(dirpath) / name
            try:
                yield (rel_dir / name).as_posix(), FileInfo.of(full)
            except FileNotFoundError:
                continue


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


def delete(path: Path, recursive: bool) -> None:
    fi = info(path)
    if fi.is_dir:
        if any(path.iterdir()) and not recursive:
            raise errors.conflict(
                "DirectoryNotEmpty", "The directory is not empty; set recursive to delete it and its contents."
            )
        shutil.rmtree(path)
    else:
        path.unlink()
