"""`batch-mcp doctor`: the settings in force and where each came from, then every check from the
tool selection to an authenticated read, each with what works or what to fix. Exit code 0 only when
every check passes."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from batch_mcp import __version__
from batch_mcp.server.checks import Opener, Report, check_account, local_problems
from batch_mcp.settings import Settings, source_of

MARKS = {"ok": "ok  ", "fail": "FAIL", "skip": "skip", "note": "note"}


def settings_lines(settings: Settings, given: dict[str, Any]) -> list[str]:
    """Each setting, its value (secrets shown only as set or not) and where it came from."""
    rows = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if hasattr(value, "get_secret_value"):
            shown = "(set)" if value.get_secret_value() else "(empty)"
        elif value is None or value == []:
            shown = "-"
        elif isinstance(value, list):
            shown = ",".join(value)
        elif isinstance(value, Path):
            home = str(Path.home())
            shown = "~" + str(value)[len(home) :] if str(value).startswith(home + "/") else str(value)
        else:
            shown = str(value)
        if name == "audit_log" and value is None:
            shown = "off"
        rows.append((name.replace("_", "-"), shown, source_of(name, given)))
    width = max(len(r[0]) for r in rows)
    value_width = min(60, max(len(r[1]) for r in rows))
    return [f"  {n:<{width}}  {v:<{value_width}}  {s}" for n, v, s in rows]


async def diagnose(settings: Settings, given: dict[str, Any], opener: Opener | None = None) -> Report:
    from batch_mcp.server import assemble
    from batch_mcp.server.selection import SelectionError
    from batch_mcp.server.transports import TransportConfigError, plan_http

    report = Report()
    started = time.perf_counter()
    try:
        parts = assemble(settings)
    except SelectionError as exc:
        report.add("tools", "fail", f"{source_of(exc.setting, given)}: {exc}", started)
        return report
    selection = parts.selection
    report.add(
        "tools",
        "ok",
        f"{len(selection.listed)} listed, {len(selection.enabled)} enabled, api-version {parts.catalog.api_version}"
        + (" (read-only)" if settings.read_only else ""),
        started,
    )
    problems = local_problems(settings, given)
    audit = [p for p in problems if "audit" in p]
    report.add("audit log", "fail" if audit else "ok", audit[0] if audit else str(settings.audit_log or "off"))
    if settings.transport == "http":
        try:
            token = settings.token.get_secret_value() if settings.token else None
            entra = settings.http_auth == "entra"
            public_host = _public_host(settings) if entra else None
            plan_http(
                settings.host,
                settings.port,
                token,
                settings.allowed_hosts,
                static_token=not entra,
                public_host=public_host,
            )
            report.add("http", "ok", f"http://{settings.host}:{settings.port}/mcp")
        except (TransportConfigError, ValueError) as exc:  # ValueError: a bad --public-url
            report.add("http", "fail", str(exc))
    await check_account(settings, parts.catalog, report, opener)
    return report


def _public_host(settings: Settings) -> str | None:
    from batch_mcp.server.entra.config import public_host

    return public_host(settings)


def run_doctor(args: argparse.Namespace) -> int:
    import anyio

    settings: Settings = args.settings
    backend = "the embedded emulator" if settings.uses_emulator else str(settings.endpoint)
    print(f"batch-mcp {__version__} doctor: checking {backend}\n\nsettings (value, from):")
    print("\n".join(settings_lines(settings, args.given)))
    print("\nchecks:")
    started = time.perf_counter()
    report = anyio.run(diagnose, settings, args.given)
    for check in report.checks:
        timing = f" ({check.seconds * 1000:.0f} ms)" if check.seconds >= 0.001 else ""
        print(f"  {MARKS[check.status]}  {check.name}: {check.detail}{timing}")
    total = time.perf_counter() - started
    if report.ok:
        print(f"\nall checks passed in {total:.1f} s")
        return 0
    failed = len(report.failures)
    what = "1 check failed" if failed == 1 else f"{failed} checks failed"
    print(f"\n{what} in {total:.1f} s: fix the first one first", file=sys.stderr)
    return 1
