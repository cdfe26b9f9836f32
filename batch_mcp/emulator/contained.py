"""File operations that stay inside one folder, whatever a task has made of it.

A task can create anything in its node's folder: links to `/` or to someone's keys, a FIFO that
blocks its reader, a folder swapped for a link between two requests. Every operation here walks
a path one name at a time from an open handle on the containing folder, `openat`-style, with
`O_NOFOLLOW` at every step:

- A link is followed only while its target stays inside the folder (relative or absolute, at
  most 40 links); one that leads out, or loops, reads as "not found". With `follow=False` (the
  emulator's own paths) a link anywhere on the way is refused.
- The object used is the one checked: reads and properties come from the opened handle; a delete
  removes a name from its opened parent (a folder through `shutil.rmtree`'s handle-based walk,
  which never follows links); a write replaces whatever name it finds with a new regular file.
- Only regular files are read; they are opened non-blocking, so a FIFO cannot hang a reader.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from batch_mcp.emulator import errors

MAX_LINKS = 40
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Unreachable(Exception):
    """The path does not name anything inside the folder (missing, or a link leading out)."""


def split(file_path: str) -> list[str]:
    """An API file path as names; either slash separates, and `..` or NUL are client errors."""
    if "\x00" in file_path:
        raise errors.bad_request("InvalidUri", "The file path holds a NUL character.", {"filePath": file_path[:200]})
    parts = [p for p in file_path.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise errors.bad_request("InvalidUri", "The file path may not leave its folder.", {"filePath": file_path[:200]})
    return parts


class Walk:
    """The open folders from the root down to the parent of `name` (all closed on exit)."""

    def __init__(self, root_fd: int) -> None:
        self.fds = [os.dup(root_fd)]
        self.name: str | None = None  # None: the path names the root folder itself
        self.lstat: os.stat_result | None = None  # None: `name` does not exist (yet)

    @property
    def parent(self) -> int:
        return self.fds[-1]

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


class Folder:
    """An open handle on a folder; every path given to it resolves without leaving it."""

    def __init__(self, root: Path, *, follow: bool = True) -> None:
        self.root = root
        self.follow = follow
        self.real = os.path.realpath(root)
        try:
            self.fd = os.open(root, DIR_FLAGS)
        except OSError as exc:
            raise Unreachable(str(root)) from exc

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- resolution -----------------------------------------------------------------------------

    def _beneath(self, target: str) -> list[str]:
        """An absolute link target as names below the root, if it points inside it."""
        for base in (self.real, str(self.root)):
            if target == base or target.startswith(base.rstrip("/") + "/"):
                return target[len(base) :].split("/")
        raise Unreachable(target)

    @contextlib.contextmanager
    def walk(self, parts: list[str], *, follow_last: bool = True, create: bool = False) -> Iterator[Walk]:
        """Open the folders down to the last name (creating them with `create`), following links
        that stay inside (only with `follow`); yields the walk, closes every handle after."""
        walk = Walk(self.fd)
        try:
            self._resolve(walk, parts, follow_last, create)
            yield walk
        finally:
            walk.close()

    def _resolve(self, walk: Walk, parts: list[str], follow_last: bool, create: bool) -> None:
        pending = list(reversed(parts))
        links = 0
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if len(walk.fds) == 1:
                    raise Unreachable(name)
                os.close(walk.fds.pop())
                continue
            last = not pending
            try:
                st = os.stat(name, dir_fd=walk.parent, follow_symlinks=False)
            except FileNotFoundError:
                if last:
                    walk.name, walk.lstat = name, None
                    return
                if not create:
                    raise Unreachable(name) from None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=walk.parent)
                st = os.stat(name, dir_fd=walk.parent, follow_symlinks=False)
            except OSError as exc:  # ENOTDIR, ENAMETOOLONG, EACCES, ...
                raise Unreachable(name) from exc
            if stat.S_ISLNK(st.st_mode) and (follow_last or not last):
                links += 1
                if not self.follow or links > MAX_LINKS:
                    raise Unreachable(name)
                target = os.readlink(name, dir_fd=walk.parent)
                if target.startswith("/"):
                    below = self._beneath(target)
                    for fd in walk.fds[1:]:
                        os.close(fd)
                    del walk.fds[1:]
                    pending.extend(reversed(below))
                else:
                    pending.extend(reversed(target.split("/")))
                continue
            if last:
                walk.name, walk.lstat = name, st
                return
            if not stat.S_ISDIR(st.st_mode):
                raise Unreachable(name)
            try:
                walk.fds.append(os.open(name, DIR_FLAGS, dir_fd=walk.parent))
            except OSError as exc:  # swapped for a link or a file since the stat: refuse
                raise Unreachable(name) from exc
        walk.name, walk.lstat = None, None

    # -- operations ---------------------------------------------------------------------------

    def stat(self, parts: list[str]) -> os.stat_result:
        """What the path names, after links inside (Unreachable if nothing)."""
        with self.walk(parts) as walk:
            if walk.name is None:
                return os.fstat(walk.parent)
            if walk.lstat is None:
                raise Unreachable(walk.name)
            return walk.lstat

    def open_read(self, parts: list[str]) -> tuple[int, os.stat_result]:
        """An open handle on a regular file and its properties; the caller closes it."""
        with self.walk(parts) as walk:
            if walk.name is None or walk.lstat is None:
                raise Unreachable(walk.name or ".")
            try:
                fd = os.open(walk.name, READ_FLAGS, dir_fd=walk.parent)
            except OSError as exc:
                if exc.errno == errno.EISDIR:
                    raise IsADirectoryError(walk.name) from None
                raise Unreachable(walk.name) from exc
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            os.close(fd)
            raise IsADirectoryError(walk.name)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise Unreachable(walk.name)  # a FIFO, socket or device is not a file to serve
        return fd, st

    def open_dir(self, parts: list[str]) -> int:
        with self.walk(parts) as walk:
            if walk.name is None:
                return os.dup(walk.parent)
            if walk.lstat is None or not stat.S_ISDIR(walk.lstat.st_mode):
                raise Unreachable(walk.name)
            try:
                return os.open(walk.name, DIR_FLAGS, dir_fd=walk.parent)
            except OSError as exc:
                raise Unreachable(walk.name) from exc

    def entries(self, parts: list[str], recursive: bool) -> Iterator[tuple[str, os.stat_result, bool]]:
        """(name relative to the path, properties, is_link) for what lies below the path: folders
        depth-first as os.walk lists them (a folder's entries, then each sub-folder's). A link is
        described by what it names when that stays inside, else by itself; links are never
        descended into, so nothing is listed twice or from outside."""
        top = self.open_dir(parts)
        pending: list[tuple[int, str]] = [(top, "")]
        try:
            while pending:
                fd, prefix = pending.pop()
                try:
                    found = []
                    with os.scandir(fd) as listing:
                        for entry in listing:
                            found.append(entry.name)
                    found.sort()
                    described = [(name, *self._describe(fd, parts, prefix, name)) for name in found]
                    if recursive:
                        order = [d for d in described if stat.S_ISDIR(d[1].st_mode)]
                        order += [d for d in described if not stat.S_ISDIR(d[1].st_mode)]
                    else:
                        order = described
                    subfolders = []
                    for name, st, is_link in order:
                        yield prefix + name, st, is_link
                        if recursive and stat.S_ISDIR(st.st_mode) and not is_link:
                            with contextlib.suppress(OSError):
                                subfolders.append((os.open(name, DIR_FLAGS, dir_fd=fd), f"{prefix}{name}/"))
                    pending.extend(reversed(subfolders))
                finally:
                    os.close(fd)
        finally:
            for fd, _ in pending:
                os.close(fd)

    def _describe(self, fd: int, parts: list[str], prefix: str, name: str) -> tuple[os.stat_result, bool]:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            return st, False
        try:
            return self.stat([*parts, *prefix.split("/"), name]), True
        except Unreachable:
            return st, True

    def delete(self, parts: list[str], recursive: bool) -> None:
        """Remove the name the path ends in (a link itself, never what it names)."""
        with self.walk(parts, follow_last=False) as walk:
            if walk.name is None:
                raise IsADirectoryError("the folder itself")
            if walk.lstat is None:
                raise Unreachable(walk.name)
            if not stat.S_ISDIR(walk.lstat.st_mode):
                os.unlink(walk.name, dir_fd=walk.parent)
                return
            if not recursive:
                try:
                    os.rmdir(walk.name, dir_fd=walk.parent)
                except OSError as exc:
                    if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                        raise DirectoryNotEmpty(walk.name) from None
                    raise
                return
            shutil.rmtree(walk.name, dir_fd=walk.parent)

    def open_write(self, parts: list[str], mode: int = 0o644) -> int:
        """A new, empty regular file at the path (folders on the way created), replacing whatever
        was there: a link is removed, never written through. The caller closes the handle."""
        with self.walk(parts, follow_last=False, create=True) as walk:
            if walk.name is None:
                raise IsADirectoryError("the folder itself")
            if walk.lstat is not None:
                if stat.S_ISDIR(walk.lstat.st_mode):
                    raise IsADirectoryError(walk.name)
                os.unlink(walk.name, dir_fd=walk.parent)
            return os.open(walk.name, WRITE_FLAGS, mode, dir_fd=walk.parent)

    def make_dirs(self, parts: list[str]) -> None:
        with self.walk([*parts, "."], create=True):
            pass

    def remove_tree(self, parts: list[str]) -> None:
        """Remove a folder and everything in it; nothing when it is missing or leads out."""
        with contextlib.suppress(Unreachable, FileNotFoundError):
            self.delete(parts, recursive=True)


class DirectoryNotEmpty(OSError):
    """A folder delete without `recursive` found something inside."""


def relative_parts(root: Path, path: Path) -> list[str]:
    """The names of `path` below `root` (both as the emulator built them)."""
    return list(path.relative_to(root).parts)
