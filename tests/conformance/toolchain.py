"""Node 22 and the MCP test tools from npm, installed once into a cache folder outside the repo.

The conformance suite and the Inspector need Node >= 22; CI machines have Node 20 and npm, and reach
the npm registry only, so Node itself comes from npm's `node` package (which pulls the platform
binary from the registry too). Each package gets its own folder because the two conformance
versions conflict in one node_modules. A folder counts as installed once its marker file names
the exact package spec; a lock keeps two concurrent test runs from installing over each other.

Cache location: $BATCH_MCP_TEST_CACHE, else $XDG_CACHE_HOME/batch-mcp-tests, else
~/.cache/batch-mcp-tests.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NODE_SPEC = "node@22"
CONFORMANCE_HANDSHAKE_SPEC = "@modelcontextprotocol/conformance@0.1.16"
CONFORMANCE_STATELESS_SPEC = "@modelcontextprotocol/conformance@0.2.0-alpha.12"
INSPECTOR_SPEC = "@modelcontextprotocol/inspector@2.12.0"
MIN_NODE_MAJOR = 22
NPM_TIMEOUT_SECONDS = 300  # per package; a cold install of all four takes about 30 s
MARKER = ".batch-mcp-installed"


class ToolchainError(RuntimeError):
    """The Node tools could not be installed; the message says what to do."""


@dataclass(frozen=True)
class Toolchain:
    node: Path
    conformance_handshake: Path  # dist/index.js of conformance 0.1.16 (2025-11-25 era)
    conformance_stateless: Path  # dist/index.js of conformance 0.2.0-alpha.12 (2026-07-28 era)
    inspector: Path  # the mcp-inspector launcher script


def cache_dir() -> Path:
    if explicit := os.environ.get("BATCH_MCP_TEST_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "batch-mcp-tests"


def provision() -> Toolchain:
    """Install what is missing (quietly, time-bounded) and return the paths to run."""
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError("npm is not on PATH: the conformance tests need Node.js (>= 20) with npm")
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / ".lock"):
        node = _system_node() or _ensure(npm, root, NODE_SPEC) / "node_modules" / ".bin" / "node"
        handshake = _ensure(npm, root, CONFORMANCE_HANDSHAKE_SPEC)
        stateless = _ensure(npm, root, CONFORMANCE_STATELESS_SPEC)
        inspector = _ensure(npm, root, INSPECTOR_SPEC)
    tools = Toolchain(
        node=node,
        conformance_handshake=_package_dir(handshake, CONFORMANCE_HANDSHAKE_SPEC) / "dist" / "index.js",
        conformance_stateless=_package_dir(stateless, CONFORMANCE_STATELESS_SPEC) / "dist" / "index.js",
        inspector=_bin_script(_package_dir(inspector, INSPECTOR_SPEC), "mcp-inspector"),
    )
    missing = [str(path) for path in vars(tools).values() if not path.is_file()]
    if missing:
        raise ToolchainError(f"installed, but missing: {', '.join(missing)} (delete {root} to reinstall)")
    if _node_major(tools.node) < MIN_NODE_MAJOR:
        raise ToolchainError(f"{tools.node} is older than Node {MIN_NODE_MAJOR} (delete {root} to reinstall)")
    return tools


def _system_node() -> Path | None:
    """The Node on PATH when it is new enough, which saves installing one."""
    found = shutil.which("node")
    return Path(found) if found and _node_major(Path(found)) >= MIN_NODE_MAJOR else None


def _node_major(node: Path) -> int:
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    match = re.match(r"v(\d+)\.", version.strip())
    return int(match.group(1)) if match else 0


def _folder_name(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9.@-]+", "_", spec.lstrip("@"))


def _package_name(spec: str) -> str:
    return spec.rsplit("@", 1)[0]


def _package_dir(folder: Path, spec: str) -> Path:
    return folder / "node_modules" / _package_name(spec)


def _bin_script(package: Path, name: str) -> Path:
    bins = json.loads((package / "package.json").read_text(encoding="utf-8"))["bin"]
    return package / (bins if isinstance(bins, str) else bins[name])


def _ensure(npm: str, root: Path, spec: str) -> Path:
    folder = root / _folder_name(spec)
    marker = folder / MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8") == spec:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    # An own package.json stops npm from walking up and installing into a parent folder.
    (folder / "package.json").write_text('{"private": true}\n', encoding="utf-8")
    quiet = ["--no-audit", "--no-fund", "--no-progress", "--loglevel=error"]
    bounded = ["--fetch-timeout=60000", "--fetch-retries=2"]  # an unreachable registry fails in minutes
    command = [npm, "install", *quiet, *bounded, "--save-exact", spec]
    env = {**os.environ, "npm_config_update_notifier": "false"}
    try:
        done = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, timeout=NPM_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise ToolchainError(
            f"`npm install {spec}` took over {NPM_TIMEOUT_SECONDS}s in {folder}: is the npm registry reachable?"
        ) from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ToolchainError(f"`npm install {spec}` failed (exit {done.returncode}) in {folder}:\n{tail}")
    marker.write_text(spec, encoding="utf-8")
    return folder


@contextmanager
def locked(path: Path) -> Iterator[None]:
    with path.open("a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def npm_tool(spec: str, name: str) -> list[str]:
    """The command line of one npm package's program (e.g. `@anthropic-ai/mcpb@2.1.2`, `mcpb`), installed
    once into the cache like the conformance tools; run with the Node on PATH."""
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError("npm is not on PATH: this test needs Node.js (>= 20) with npm")
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / ".lock"):
        folder = _ensure(npm, root, spec)
    return [shutil.which("node") or "node", str(_bin_script(_package_dir(folder, spec), name))]
