"""Fetching a task's resource files before it runs.

The emulator fetches what it can reach without credentials and without leaving this machine:
`file://` URLs and http(s) URLs on a loopback address. A `storageContainerUrl` that is a
`file://` folder copies the folder's files (filtered by `blobPrefix`). Anything else fails the
task the way the service reports a download failure, with a message saying why.
"""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import httpx2

from batch_mcp.emulator.nodefs import resolve
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


def _mode(path: Path, file_mode: str | None) -> None:
    if file_mode:
        try:
            path.chmod(int(file_mode, 8))
        except (ValueError, OSError):
            raise ResourceFileError(
                failure("ResourceFileWriteFailed", f"fileMode {file_mode!r} is not an octal mode.", FilePath=path.name)
            ) from None


async def fetch_all(resource_files: list[dict[str, Any]], wd: Path) -> None:
    """Download every resource file into `wd`; raise ResourceFileError on the first failure."""
    for item in resource_files or []:
        await fetch_one(item, wd)


async def fetch_one(item: dict[str, Any], wd: Path) -> None:
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
    if item.get("httpUrl"):
        if not target_rel:
            target_rel = Path(unquote(parts.path)).name or "download"
        target = resolve(wd, target_rel)
        if parts.scheme == "file":
            await anyio.to_thread.run_sync(_copy_file, Path(unquote(parts.path)), target, url)
        elif parts.scheme in ("http", "https") and _is_loopback(parts.hostname):
            await _download(url, target)
        else:
            raise ResourceFileError(_unreachable(url))
        _mode(target, item.get("fileMode"))
        return
    if parts.scheme != "file":
        raise ResourceFileError(_unreachable(url))
    source = Path(unquote(parts.path))
    destination = resolve(wd, target_rel)
    await anyio.to_thread.run_sync(_copy_folder, source, destination, item.get("blobPrefix") or "", url)
    for path in destination.rglob("*") if item.get("fileMode") else ():
        _mode(path, item["fileMode"])


def _copy_folder(source: Path, destination: Path, prefix: str, url: str) -> None:
    """A file:// storage container: copy its files whose relative name starts with the prefix."""
    if not source.is_dir():
        raise ResourceFileError(
            failure("BlobNotFound", "The storage container folder does not exist.", url=redact_text(url))
        )
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source).as_posix()
        if path.is_file() and rel.startswith(prefix):
            _copy_file(path, destination / rel, url)


def _unreachable(url: str) -> dict[str, Any]:
    scheme = urlsplit(url).scheme
    return failure(
        "BlobDownloadMiscError",
        f"The local emulator fetches only file:// and loopback http(s) URLs; this {scheme or 'relative'} URL "
        "is out of reach.",
    )


def _copy_file(source: Path, target: Path, url: str) -> None:
    if not source.is_file():
        raise ResourceFileError(failure("BlobNotFound", "The resource file does not exist.", url=redact_text(url)))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


async def _download(url: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
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
            with target.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
    except httpx2.HTTPError as exc:
        raise ResourceFileError(
            failure("BlobDownloadMiscError", f"The download failed: {type(exc).__name__}.", url=redact_text(url))
        ) from None
