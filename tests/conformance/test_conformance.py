"""The official MCP conformance suite and the MCP Inspector CLI against batch-mcp's Streamable HTTP
server, run as a subprocess with the embedded emulator.

Node 22 and the npm packages install on first use into a cache folder outside the repo
(tests/conformance/toolchain.py); that first run needs the npm registry. The suite cannot send a
bearer token, so it talks through conformance/auth_proxy.py, which adds one. The expected-failures
files in conformance/ list only the scenarios that need the suite's own fixture server; `pytest -s`
prints a scenario-by-scenario summary.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conformance.served import ROOT, Served, serve
from tests.conformance.suite import judge, read_baseline, run_suite
from tests.conformance.toolchain import Toolchain, ToolchainError, cache_dir, provision

pytestmark = pytest.mark.slow

BASELINES = ROOT / "conformance"
INSPECTOR_TIMEOUT_SECONDS = 120
INSPECTOR_SCHEMA_UNPORTABLE = 6  # the Inspector's exit code when --strict finds an error


@dataclass(frozen=True)
class Era:
    name: str
    suite: str  # the Toolchain field of the suite version that covers this era
    baseline: str
    args: tuple[str, ...]
    # Protocol scenarios that must run and pass outright, so a run that silently tested little
    # (or only reached the proxy) cannot look green.
    must_pass: tuple[str, ...]


ERAS = [
    Era(
        name="2025-11-25",
        suite="conformance_handshake",
        baseline="expected-failures-2025.yml",
        args=(),  # the active suite: every stable scenario of the handshake era
        must_pass=(
            "server-initialize",
            "ping",
            "tools-list",
            "server-sse-multiple-streams",
            "dns-rebinding-protection",
        ),
    ),
    Era(
        name="2026-07-28",
        suite="conformance_stateless",
        baseline="expected-failures-2026.yml",
        args=("--suite", "all", "--spec-version", "2026-07-28"),  # `active` would leave out the 2026 scenarios
        must_pass=(
            "tools-list",
            "server-sse-multiple-streams",
            "dns-rebinding-protection",
            "http-header-validation",
            "input-required-result-unsupported-methods",
            "input-required-result-validate-input",
        ),
    ),
]

TOOL_SETS = {
    "default": (),
    "all": ("--toolsets", "all"),
    "2018-all": ("--api-version", "2018-08-01.7.0", "--toolsets", "all"),
}


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    started = time.monotonic()
    try:
        tools = provision()
    except ToolchainError as exc:
        pytest.fail(f"cannot install the MCP test tools from npm into {cache_dir()}: {exc}", pytrace=False)
    print(f"\nNode toolchain ready in {time.monotonic() - started:.1f}s ({cache_dir()})")
    return tools


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("batch-mcp-http")) as target:
        yield target


@pytest.mark.parametrize("era", ERAS, ids=lambda era: era.name)
def test_conformance_suite_fails_only_fixture_scenarios(
    era: Era, toolchain: Toolchain, served: Served, tmp_path: Path
) -> None:
    """Every scenario the suite runs for this protocol era passes, except those needing its fixture
    server; a listed scenario that starts passing fails too, so the lists stay honest."""
    baseline_file = BASELINES / era.baseline
    baseline = read_baseline(baseline_file)
    started = time.monotonic()
    run = run_suite(
        toolchain.node, getattr(toolchain, era.suite), served.suite_url, baseline_file, tmp_path / "results", *era.args
    )
    verdict = judge(run, baseline)
    print(
        f"\nconformance suite, {era.name} era: {len(run.scenarios)} scenarios in {time.monotonic() - started:.1f}s, "
        f"suite exit code {run.exit_code}\n{verdict.table}"
    )
    problems = []
    if not run.scenarios:
        problems.append(f"the suite wrote no results:\n{_tail(run.output)}")
    if verdict.unexpected:
        problems.append("failures that are not fixture-specific (bugs):\n  " + "\n  ".join(verdict.unexpected))
    if verdict.stale:
        problems.append("expected failures that did not fail (remove them):\n  " + "\n  ".join(verdict.stale))
    if not_passing := [name for name in era.must_pass if name not in run.scenarios or run.scenarios[name].failing]:
        problems.append(f"protocol scenarios missing or failing: {', '.join(not_passing)}")
    if run.exit_code != 0 and not problems:
        problems.append(f"the suite's own baseline check failed (exit {run.exit_code}):\n{_tail(run.output)}")
    if problems:
        pytest.fail(f"conformance {era.name}: " + "\n".join(problems), pytrace=False)


@pytest.fixture(params=list(TOOL_SETS))
def tool_set_server(request: pytest.FixtureRequest, served: Served, tmp_path: Path) -> Iterator[tuple[str, Served]]:
    """A server for each tool set; the default one is the module's server."""
    args = TOOL_SETS[request.param]
    with nullcontext(served) if not args else serve(tmp_path / "server", *args) as target:
        yield request.param, target


def test_inspector_strict_report_finds_no_schema_errors(
    tool_set_server: tuple[str, Served], toolchain: Toolchain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Inspector's tool-schema portability report (--strict) has no errors for our tools/list,
    and the Inspector sees exactly the tools this configuration lists."""
    name, target = tool_set_server
    done = _inspector(toolchain, target, tmp_path, "--method", "tools/list", "--strict", "--format", "json")
    assert done.returncode != INSPECTOR_SCHEMA_UNPORTABLE, f"schema portability errors:\n{_tail(done.stderr, 80)}"
    assert done.returncode == 0, f"inspector exit {done.returncode}:\n{_tail(done.stderr)}"
    envelope = json.loads(done.stdout)
    findings = envelope.get("schemaFindings", [])
    warnings = sum(len(tool["findings"]) for tool in findings)
    listed = [tool["name"] for tool in envelope["result"]["tools"]]
    print(f"\nInspector --strict, tool set {name}: {len(listed)} tools, 0 errors, {warnings} warnings")
    assert sorted(listed) == sorted(_expected_listing(TOOL_SETS[name], monkeypatch))


def test_inspector_calls_a_read_only_tool_in_the_stateless_era(
    toolchain: Toolchain, served: Served, tmp_path: Path
) -> None:
    """A third-party client runs a real tool end to end (emulator backend) on 2026-07-28."""
    done = _inspector(
        toolchain,
        served,
        tmp_path,
        "--protocol-era",
        "modern",
        "--method",
        "tools/call",
        "--tool-name",
        "pool_list",
        "--format",
        "json",
    )
    assert done.returncode == 0, f"inspector exit {done.returncode}:\n{_tail(done.stderr)}\n{_tail(done.stdout)}"
    result = json.loads(done.stdout)["result"]
    assert not result.get("isError"), result
    assert isinstance(result["structuredContent"]["items"], list), result


def _inspector(tools: Toolchain, target: Served, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the Inspector CLI through the token-adding proxy, with its state kept out of ~."""
    env = {
        **os.environ,
        "HOME": str(home),
        "MCP_CATALOG_PATH": str(home / "mcp.json"),
        "MCP_CLIENT_CONFIG_PATH": str(home / "client.json"),
    }
    command = [str(tools.node), str(tools.inspector), "--cli", target.suite_url, "--transport", "http", *args]
    return subprocess.run(
        command, capture_output=True, text=True, encoding="utf-8", env=env, timeout=INSPECTOR_TIMEOUT_SECONDS
    )


def _expected_listing(args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tool names batch-mcp lists with these flags, computed in-process from the catalog."""
    from batch_mcp.server import assemble
    from batch_mcp.settings import Settings

    for key in list(os.environ):
        if key.startswith(("AZURE_BATCH_", "BATCH_MCP_")):
            monkeypatch.delenv(key)
    flags = dict(zip(args[::2], args[1::2], strict=True))
    settings = Settings(
        toolsets=flags.get("--toolsets", "default"), api_version=flags.get("--api-version", Settings().api_version)
    )
    return list(assemble(settings).selection.listed)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
