"""Checks of a configuration against the machine and the Batch account, for `batch-mcp doctor`
and the server's start-up warning.

Each step is bounded in time and says what works or what to fix, naming the setting. For a Batch
account, in order: the endpoint URL, DNS, a TCP connection, the TLS handshake, then one cheap
authenticated read (`pool_list` of one id) that proves the credential, the account and that it
accepts the catalog's API version. For the embedded emulator: its folder, then starting it and
the same read. A step that depends on a failed one is skipped.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import anyio
from anyio.streams.tls import TLSAttribute

from batch_mcp.server.execution import NoSandbox, require_sandbox
from batch_mcp.settings import Settings, source_of

if TYPE_CHECKING:
    from batch_mcp.catalog import Catalog
    from batch_mcp.server.backend import Backend

Status = Literal["ok", "fail", "skip", "note"]

DNS_SECONDS = 3.0
CONNECT_SECONDS = 3.0
TLS_SECONDS = 5.0
READ_SECONDS = 20.0  # an Entra ID sign-in (token from the CLI, a managed identity) can take seconds
ENDPOINT = "--endpoint / AZURE_BATCH_ENDPOINT"


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    seconds: float = 0.0


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.status == "fail"]

    def add(self, name: str, status: Status, detail: str, started: float | None = None) -> Check:
        detail = " ".join(detail.split())  # one line each, whatever the service's message holds
        check = Check(name, status, detail, time.perf_counter() - started if started is not None else 0.0)
        self.checks.append(check)
        return check


# -- local checks ------------------------------------------------------------------------------------


def folder_problem(path: Path | str) -> str | None:
    """Why `path` cannot serve as a folder this process creates and writes, or None. Creates nothing:
    the nearest part of the path that exists must be a folder this user may write in."""
    if str(path) == ":memory:":
        return None
    current = Path(path).expanduser()
    while not current.exists():
        if current.is_symlink():
            return f"{current} is a dangling symbolic link"
        if current.parent == current:
            break
        current = current.parent
    if not current.is_dir():
        return f"{current} is not a folder"
    if not os.access(current, os.W_OK | os.X_OK):
        return f"{current} is not writable by this user"
    return None


def local_problems(settings: Settings, given: Mapping[str, object] = {}) -> list[str]:
    """What in the settings cannot work on this machine, before anything starts: the audit log's and
    the embedded emulator's folders. Each line names the setting to change."""
    problems = []
    if settings.audit_log is not None and (problem := folder_problem(settings.audit_log.parent)):
        problems.append(f"{source_of('audit_log', given)}: {problem} (or turn the audit log off: --audit-log off)")
    if settings.uses_emulator and (problem := folder_problem(settings.emulator_data_dir)):
        problems.append(f"{source_of('emulator_data_dir', given)}: {problem}")
    try:
        require_sandbox(settings.emulator_exec, uses_emulator=settings.uses_emulator)
    except NoSandbox as exc:
        problems.append(str(exc))
    return problems


# -- the Batch account -------------------------------------------------------------------------------

Opener = Callable[[Settings, "Catalog"], AbstractAsyncContextManager["Backend"]]


async def check_account(settings: Settings, catalog: Catalog, report: Report, opener: Opener | None = None) -> None:
    """The network path to a Batch account, then the authenticated read; or the embedded emulator."""
    if settings.uses_emulator:
        problem = folder_problem(settings.emulator_data_dir)
        if problem:
            report.add("emulator folder", "fail", f"{problem} (--emulator-data-dir)")
            return
        report.add("emulator folder", "ok", str(settings.emulator_data_dir))
        await check_read(settings, catalog, report, opener, what="embedded emulator")
        return
    endpoint = str(settings.endpoint)
    parts = urlsplit(endpoint)
    host, scheme = parts.hostname or "", parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    if scheme == "http" and host.endswith(".batch.azure.com"):
        report.add("endpoint URL", "fail", f"{endpoint}: Azure Batch is served over https:// only ({ENDPOINT})")
        return
    report.add("endpoint URL", "ok", endpoint + ("" if scheme == "https" else " (plain HTTP: a local emulator?)"))
    if not await _dns(host, port, report) or not await _tcp(host, port, report):
        report.add("authenticated read", "skip", "the endpoint cannot be reached")
        return
    if scheme == "https" and not await _tls(host, port, report):
        report.add("authenticated read", "skip", "no TLS connection")
        return
    if settings.http_auth == "entra" and settings.transport == "http":
        from batch_mcp.server.entra.checks import check_sign_in  # Batch is read as each user, not here

        await check_sign_in(settings, report)
        return
    await check_read(settings, catalog, report, opener, what="account")


async def _dns(host: str, port: int, report: Report) -> bool:
    started = time.perf_counter()
    try:
        with anyio.fail_after(DNS_SECONDS):
            found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        report.add("DNS", "fail", f"no answer for {host} within {DNS_SECONDS:g} s", started)
        return False
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            why = f"no DNS answer for {host} now ({exc.strerror}): is this machine online?"
        else:
            why = f"{host} does not resolve ({exc.strerror}): check the account name and region in {ENDPOINT}"
        report.add("DNS", "fail", why, started)
        return False
    addresses = sorted({str(info[4][0]) for info in found})
    report.add("DNS", "ok", f"{host} → {', '.join(addresses[:3])}", started)
    return True


async def _tcp(host: str, port: int, report: Report) -> bool:
    started = time.perf_counter()
    try:
        with anyio.fail_after(CONNECT_SECONDS):
            stream = await anyio.connect_tcp(host, port)
        await stream.aclose()
    except TimeoutError:
        report.add("TCP", "fail", f"{host}:{port} did not answer within {CONNECT_SECONDS:g} s (a firewall?)", started)
        return False
    except OSError as exc:
        refused = any(isinstance(e, ConnectionRefusedError) for e in _leaves(exc))
        why = "connection refused: nothing listens on that port" if refused else str(exc)
        report.add("TCP", "fail", f"{host}:{port}: {why} ({ENDPOINT})", started)
        return False
    report.add("TCP", "ok", f"connected to {host}:{port}", started)
    return True


async def _tls(host: str, port: int, report: Report) -> bool:
    started = time.perf_counter()
    try:
        with anyio.fail_after(TLS_SECONDS):
            stream = await anyio.connect_tcp(host, port, tls=True, ssl_context=ssl.create_default_context())
        certificate = stream.extra(TLSAttribute.peer_certificate) or {}
        await stream.aclose()
    except TimeoutError:
        report.add("TLS", "fail", f"no TLS handshake with {host}:{port} within {TLS_SECONDS:g} s", started)
        return False
    except (ssl.SSLError, OSError) as exc:
        found = [e for e in _leaves(exc) if isinstance(e, ssl.SSLError)]
        cause = found[0] if found else exc
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = f"the certificate is not trusted ({cause.verify_message})"
        elif isinstance(cause, ssl.SSLError) and cause.reason == "WRONG_VERSION_NUMBER":
            why = "it does not speak TLS: for a plain-HTTP server (a local emulator) write http://"
        else:
            why = f"the handshake failed ({cause})"
        report.add("TLS", "fail", f"{host}:{port}: {why} ({ENDPOINT})", started)
        return False
    expires = certificate.get("notAfter", "")
    report.add("TLS", "ok", f"certificate valid for {host}" + (f" until {expires}" if expires else ""), started)
    return True


def _leaves(error: BaseException) -> list[BaseException]:
    found, pending = [], [error]
    while pending and len(found) < 32:
        current = pending.pop()
        found.append(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None and e not in found)
    return found


async def check_read(
    settings: Settings, catalog: Catalog, report: Report, opener: Opener | None = None, *, what: str
) -> None:
    """Open the backend as the server would, then list one pool id: credential, account, API version."""
    from batch_mcp.batch.errors import BatchAuthError, BatchError, BatchServiceError
    from batch_mcp.server.backend import open_client

    started = time.perf_counter()
    try:
        with anyio.fail_after(READ_SECONDS):
            async with (opener or open_client)(settings, catalog) as backend:
                opened = time.perf_counter()
                if backend.kind == "emulator":
                    report.add("embedded emulator", "ok", f"started ({settings.emulator_data_dir})", started)
                    isolation = backend.isolation() or "none"
                    ran = "on this computer as this user" if isolation == "none" else f"in a {isolation} sandbox"
                    report.add("task isolation", "note", f"tasks run {ran} (--emulator-exec {settings.emulator_exec})")
                page = await backend.client.list("pool_list", {"select": "id"}, max_items=1)
    except TimeoutError:
        report.add("authenticated read", "fail", f"no answer from the {what} within {READ_SECONDS:g} s", started)
        return
    except BatchAuthError as exc:
        name = "credential" if exc.status is None else "authentication"
        report.add(name, "fail", str(exc), started)
        return
    except BatchServiceError as exc:
        if exc.status == 400 and "api-version" in f"{exc.message} {exc.values}".lower():
            report.add(
                "api version",
                "fail",
                f"the {what} does not accept api-version {catalog.api_version}: {exc.message} "
                "(--api-version / BATCH_MCP_API_VERSION)",
                started,
            )
        else:
            report.add("authenticated read", "fail", f"pool_list: {exc}", started)
        return
    except BatchError as exc:
        report.add("authenticated read", "fail", str(exc), started)
        return
    except OSError as exc:  # the embedded emulator could not start
        report.add(what, "fail", f"{exc} (--emulator-data-dir)", started)
        return
    seen = (
        "no pools yet"
        if not page.items
        else f"pool {page.items[0].get('id')!r}" + (" and more" if page.continuation else "")
    )
    report.add("authenticated read", "ok", f"pool_list answered: {seen}", opened)
    report.add("api version", "ok", f"the {what} accepts {catalog.api_version}")


# -- start-up ------------------------------------------------------------------------------------------


async def startup_warning(settings: Settings, catalog: Catalog) -> str | None:
    """The first failing check for a Batch account, as one line for the start-up log, or None."""
    if settings.uses_emulator:
        return None  # the emulator's folder is checked before start; it then runs in this process
    report = Report()
    await check_account(settings, catalog, report)
    failed = report.failures
    if not failed:
        return None
    return f"{failed[0].name}: {failed[0].detail} (run `batch-mcp doctor` for details)"
