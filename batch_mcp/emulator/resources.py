"""Fetching a task's resource files before it runs.

The emulator fetches what it can reach without credentials and without leaving this machine:
`file://` URLs and http(s) URLs on a loopback address. A `storageContainerUrl` that is a
`file://` folder copies the folder's files (filtered by `blobPrefix`). Anything else fails the
task the way the service reports a download failure, with a message saying why.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

import anyio
import httpx2

from batch_mcp.emulator import errors
from batch_mcp.emulator.contained import Folder, Unreachable, split
from batch_mcp.emulator.runner import failure
from batch_mcp.redaction import redact_text


class ResourceFileError(Exception):
    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__(info["message"])
        self.info = info


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _parse_mode(file_mode: str | None, file_path: str) -> int | None:
    if not file_mode:
        return None
    try:
        return int(file_mode, 8) & 0o7777
    except ValueError:
        raise ResourceFileError(
            failure("ResourceFileWriteFailed", f"fileMode {file_mode!r} is not an octal mode.", FilePath=file_path)
        ) from None


class Target:
    """Where resource files land: the task's working folder, written without following any link a
    previous run left there (a link in the way is replaced by the new file)."""

    def __init__(self, wd: Path, file_mode: str | None) -> None:
        self.wd = wd
        self.file_mode = file_mode

    def open(self, rel: str) -> BinaryIO:
        mode = _parse_mode(self.file_mode, rel)
        try:
            parts = split(rel)
            with Folder(self.wd) as folder:
                fd = folder.open_write(parts)
        except (errors.BatchError, Unreachable, OSError):
            raise ResourceFileError(
                failure(
                    "ResourceFileWriteFailed",
                    "The file path cannot be written inside the task's working directory.",
                    FilePath=rel,
                )
            ) from None
        if mode is not None:
            os.fchmod(fd, mode)
        return os.fdopen(fd, "wb")


class Confinement(Protocol):
    """What a task sandbox allows (see sandbox.Sandbox): resource files fetched for a sandboxed
    task come only from where the task itself could read, and from the network only if it may."""

    network: bool

    def hides(self, path: Path) -> bool: ...


async def fetch_all(resource_files: list[dict[str, Any]], wd: Path, confinement: Confinement | None = None) -> None:
    """Download every resource file into `wd`; raise ResourceFileError on the first failure."""
    for item in resource_files or []:
        await fetch_one(item, wd, confinement)


def _check_source(path: Path, url: str, confinement: Confinement | None) -> None:
    if confinement is not None and confinement.hides(path):
        raise ResourceFileError(
            failure(
                "BlobAccessDenied",
                "The resource file lies in a folder the task sandbox hides (the home folder, /tmp, /run or the "
                "emulator's state); put it elsewhere or turn the sandbox off.",
                url=redact_text(url),
            )
        )


async def fetch_one(item: dict[str, Any], wd: Path, confinement: Confinement | None = None) -> None:
    if item.get("autoStorageContainerName"):
        raise ResourceFileError(
            failure(
                "BlobDownloadMiscError",
                "autoStorageContainerName needs an Azure Storage account; the local emulator fetches file:// and "
                "loopback http(s) URLs only.",
            )
        )
    url = item.get("httpUrl") or item.get("storageContainerUrl")
    if not url:
        raise ResourceFileError(failure("BlobDownloadMiscError", "The resource file names no URL."))
    parts = urlsplit(url)
    target_rel = item.get("filePath") or ""
    target = Target(wd, item.get("fileMode"))
    if item.get("httpUrl"):
        if not target_rel:
            target_rel = Path(unquote(parts.path)).name or "download"
        if parts.scheme == "file":
            source = Path(unquote(parts.path))
            _check_source(source, url, confinement)
            await anyio.to_thread.run_sync(_copy_file, source, target, target_rel, url)
        elif parts.scheme in ("http", "https") and _is_loopback(parts.hostname):
            if confinement is not None and not confinement.network:
                raise ResourceFileError(
                    failure(
                        "BlobDownloadMiscError",
                        "The task sandbox has no network, so the emulator does not download for it either.",
                        url=redact_text(url),
                    )
                )
            await _download(url, target, target_rel)
        else:
            raise ResourceFileError(_unreachable(url))
        return
    if parts.scheme != "file":
        raise ResourceFileError(_unreachable(url))
    source = Path(unquote(parts.path))
    _check_source(source, url, confinement)
    await anyio.to_thread.run_sync(
        _copy_folder, source, target, target_rel, item.get("blobPrefix") or "", url, confinement
    )


def _copy_folder(
    source: Path, target: Target, destination: str, prefix: str, url: str, confinement: Confinement | None
) -> None:
    """A file:// storage container: copy its files whose relative name starts with the prefix."""
    if not source.is_dir():
        raise ResourceFileError(
            failure("BlobNotFound", "The storage container folder does not exist.", url=redact_text(url))
        )
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source).as_posix()
        if path.is_file() and rel.startswith(prefix):
            _check_source(path, url, confinement)  # a link in the folder may lead into a hidden one
            _copy_file(path, target, f"{destination}/{rel}" if destination else rel, url)


def _unreachable(url: str) -> dict[str, Any]:
    scheme = urlsplit(url).scheme
    return failure(
        "BlobDownloadMiscError",
        f"The local emulator fetches only file:// and loopback http(s) URLs; this {scheme or 'relative'} URL "
        "is out of reach.",
    )


def _copy_file(source: Path, target: Target, rel: str, url: str) -> None:
    if not source.is_file():
        raise ResourceFileError(failure("BlobNotFound", "The resource file does not exist.", url=redact_text(url)))
    with source.open("rb") as src, target.open(rel) as out:
        shutil.copyfileobj(src, out)


async def _download(url: str, target: Target, rel: str) -> None:
    try:
        async with httpx2.AsyncClient(timeout=60, trust_env=False) as client, client.stream("GET", url) as response:
            if response.status_code == 404:
                raise ResourceFileError(
                    failure("BlobNotFound", "The resource file does not exist.", url=redact_text(url))
                )
            if response.status_code in (401, 403):
                raise ResourceFileError(
                    failure("BlobAccessDenied", "Access to the resource file was denied.", url=redact_text(url))
                )
            if response.status_code >= 400:
                raise ResourceFileError(
                    failure(
                        "BlobDownloadMiscError",
                        f"The download answered HTTP {response.status_code}.",
                        url=redact_text(url),
                    )
                )
            with target.open(rel) as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
    except httpx2.HTTPError as exc:
        raise ResourceFileError(
            failure("BlobDownloadMiscError", f"The download failed: {type(exc).__name__}.", url=redact_text(url))
        ) from None
