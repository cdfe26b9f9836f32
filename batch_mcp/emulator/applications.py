"""The account's applications and their packages, kept as a folder of files.

    <applications folder>/
        <applicationId>/
            <version>.zip            a package: unpacked on a node when a pool or task refers to it
            <version>/               ... or a folder, copied as it is
            application.json         optional: {"displayName": "...", "defaultVersion": "..."}

The folder defaults to `applications/` in the emulator's state folder: drop a zip file there (or
use `batch-mcp emulator app add`) and the application APIs list it, pools and tasks can refer to
it, and tasks find it through `AZ_BATCH_APP_PACKAGE_<id>_<version>` as on a Linux node (`.`, `-`
and `#` become `_`; `AZ_BATCH_APP_PACKAGE_<id>` when the reference names no version and the
default version is used). Applications given in `EmulatorConfig.applications` are listed too;
they have no package content (their folder on a node is empty).

A pool that refers to an application or version the account does not have is refused as the
service refuses it: 409 InvalidApplicationPackageReferences. A task that does fails when it runs,
with failure code ApplicationPackageError.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_mcp.emulator import errors

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
METADATA = "application.json"
READY_MARK = ".batch-mcp-package-ready"


@dataclass(frozen=True)
class Package:
    application_id: str
    version: str
    source: Path | None  # a zip file or a folder; None for a package without content
    default: bool  # the reference named no version: the application's default was used

    @property
    def env_name(self) -> str:
        name = self.application_id if self.default else f"{self.application_id}_{self.version}"
        return "AZ_BATCH_APP_PACKAGE_" + re.sub(r"[.\-#]", "_", name)

    @property
    def folder_name(self) -> str:
        return f"{self.application_id}_{self.version}".lower()


def invalid_references(refs: list[dict[str, Any]], reason: str) -> errors.BatchError:
    shown = ", ".join(f"{r.get('applicationId')}:{r.get('version') or '(default)'}" for r in refs)
    return errors.conflict(
        "InvalidApplicationPackageReferences",
        "One or more of the specified application package references are invalid.",
        {"ApplicationPackageReferences": shown, "Reason": reason},
    )


class Applications:
    """What the account has: the folder's applications plus any given in the emulator's config."""

    def __init__(self, folder: Path | None, configured: list[dict[str, Any]] | None = None) -> None:
        self.folder = folder
        self.configured = list(configured or [])

    # -- reading the folder -------------------------------------------------------------------

    def _scan(self) -> dict[str, dict[str, Any]]:
        """{id lower: {"id", "displayName", "versions": {version: source}, "defaultVersion"}}"""
        apps: dict[str, dict[str, Any]] = {}
        for entry in self.configured:
            versions = {str(v): None for v in entry.get("versions") or []}
            apps[entry["id"].lower()] = {
                "id": entry["id"],
                "displayName": entry.get("displayName") or entry["id"],
                "versions": versions,
                "defaultVersion": entry.get("defaultVersion"),
            }
        if self.folder is None or not self.folder.is_dir():
            return apps
        for app_dir in sorted(self.folder.iterdir()):
            if not app_dir.is_dir() or not ID_PATTERN.match(app_dir.name):
                continue
            meta = _read_metadata(app_dir / METADATA)
            versions: dict[str, Path | None] = {}
            for item in sorted(app_dir.iterdir(), key=lambda p: _natural(p.name)):
                version = item.name[:-4] if item.is_file() and item.suffix.lower() == ".zip" else item.name
                if item.name == METADATA or not VERSION_PATTERN.match(version):
                    continue
                if item.is_dir() or item.suffix.lower() == ".zip":
                    versions[version] = item
            if versions:
                apps[app_dir.name.lower()] = {
                    "id": app_dir.name,
                    "displayName": meta.get("displayName") or app_dir.name,
                    "versions": versions,
                    "defaultVersion": meta.get("defaultVersion"),
                }
        return apps

    # -- the application APIs -----------------------------------------------------------------

    @staticmethod
    def summary(app: dict[str, Any]) -> dict[str, Any]:
        """As ApplicationSummary."""
        return {"id": app["id"], "displayName": app["displayName"], "versions": list(app["versions"])}

    def list(self) -> list[dict[str, Any]]:
        return [self.summary(app) for app in self._scan().values()]

    def get(self, application_id: str) -> dict[str, Any]:
        app = self._scan().get(application_id.lower())
        if app is None:
            raise errors.not_found("application", application_id)
        return self.summary(app)

    # -- references -----------------------------------------------------------------------------

    def resolve(self, ref: dict[str, Any]) -> Package:
        """The package a reference names; ValueError with the reason when the account has none."""
        app = self._scan().get(str(ref.get("applicationId", "")).lower())
        if app is None:
            raise ValueError(f"the account has no application {ref.get('applicationId')!r}")
        version = ref.get("version")
        default = not version
        if default:
            version = app.get("defaultVersion")
            if not version:
                raise ValueError(f"application {app['id']!r} has no default version; name a version")
        match = next((v for v in app["versions"] if v.lower() == str(version).lower()), None)
        if match is None:
            raise ValueError(f"application {app['id']!r} has no version {version!r}")
        return Package(app["id"], match, app["versions"][match], default)

    def check(self, refs: list[dict[str, Any]] | None) -> None:
        """409 InvalidApplicationPackageReferences unless every reference names a package."""
        problems = []
        for ref in refs or []:
            try:
                self.resolve(ref)
            except ValueError as exc:
                problems.append((ref, str(exc)))
        if problems:
            raise invalid_references([r for r, _ in problems], "; ".join(reason for _, reason in problems))

    # -- deployment -----------------------------------------------------------------------------

    @staticmethod
    def deploy(package: Package, applications_dir: Path) -> Path:
        """Unpack (or copy) a package into a node's applications folder, once; returns its folder."""
        target = applications_dir / package.folder_name
        if (target / READY_MARK).exists():
            return target
        staging = applications_dir / f".{package.folder_name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if package.source is not None and package.source.is_dir():
            shutil.copytree(package.source, staging, symlinks=True, dirs_exist_ok=True)
        elif package.source is not None:
            with zipfile.ZipFile(package.source) as archive:
                archive.extractall(staging)  # zipfile drops absolute paths and '..' from member names
        (staging / READY_MARK).touch()
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        return target


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _natural(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def add_package(
    folder: Path,
    application_id: str,
    version: str,
    source: Path,
    *,
    display_name: str | None = None,
    make_default: bool = False,
) -> Path:
    """Register a package: copy a zip file or a folder into the applications folder."""
    if not ID_PATTERN.match(application_id):
        raise ValueError("an application id uses letters, digits, hyphens and underscores, up to 64 characters")
    if not VERSION_PATTERN.match(version):
        raise ValueError("a version uses letters, digits, hyphens, underscores and periods, up to 64 characters")
    app_dir = folder / application_id
    app_dir.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        target = app_dir / version
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, symlinks=True)
    elif zipfile.is_zipfile(source):
        target = app_dir / f"{version}.zip"
        shutil.copyfile(source, target)
    else:
        raise ValueError(f"{source} is neither a folder nor a zip file")
    meta = _read_metadata(app_dir / METADATA)
    if display_name:
        meta["displayName"] = display_name
    if make_default:
        meta["defaultVersion"] = version
    if meta:
        (app_dir / METADATA).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return target
