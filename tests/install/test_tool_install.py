"""The README's install lines, run as written: `uv tool install .` and `pipx install .` put a
working `batch-mcp` on PATH (the catalog included), and the packed MCP Bundle starts the way a
bundle host starts it (`uv run --directory <bundle> batch-mcp`)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conformance.toolchain import npm_tool
from tests.install.test_packaging import MCPB_SPEC

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
pytestmark = pytest.mark.slow


def readme_line(program: str) -> list[str]:
    """The README's `<program> ...` install command (also when shown as an `# or:` alternative)."""
    for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL):
        for line in block.splitlines():
            for part in line.split("# or:"):
                words = shlex.split(part.strip()) if part.strip() else []
                if words[:1] == [program] and "install" in words:
                    return words
    raise AssertionError(f"the README shows no `{program} ... install` line")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATCH_MCP_", "AZURE_BATCH_", "VIRTUAL_ENV"))}
    return {**env, "BATCH_MCP_AUDIT_LOG": "off", "BATCH_MCP_EMULATOR_DATA_DIR": ":memory:", **extra}


def check_installed(program: Path, env: dict[str, str]) -> None:
    version = subprocess.run([program, "--version"], env=env, capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("batch-mcp "), version.stderr
    tools = subprocess.run([program, "tools"], env=env, capture_output=True, text=True, timeout=120)
    assert tools.returncode == 0 and "bytes of tools/list" in tools.stdout, tools.stderr  # the catalog is inside


def test_uv_tool_install_as_the_readme_says(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv comes with the test extras (PyPI uv)"
    words = readme_line("uv")
    env = clean_env(
        UV_TOOL_DIR=str(tmp_path / "tools"),
        UV_TOOL_BIN_DIR=str(tmp_path / "bin"),
        UV_PYTHON=sys.executable,
        UV_PYTHON_DOWNLOADS="never",
    )
    done = subprocess.run([uv, *words[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    check_installed(tmp_path / "bin" / "batch-mcp", env)


def test_pipx_install_as_the_readme_says(tmp_path: Path) -> None:
    pipx = shutil.which("pipx")
    assert pipx, "pipx comes with the test extras (PyPI pipx)"
    words = readme_line("pipx")
    env = clean_env(PIPX_HOME=str(tmp_path / "pipx"), PIPX_BIN_DIR=str(tmp_path / "bin"))
    done = subprocess.run(
        [pipx, *words[1:], "--python", sys.executable], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    check_installed(tmp_path / "bin" / "batch-mcp", env)


def test_the_bundle_starts_the_way_its_host_starts_it(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv
    bundle = tmp_path / "batch-mcp.mcpb"
    packed = subprocess.run([*npm_tool(MCPB_SPEC, "mcpb"), "pack", str(ROOT), str(bundle)], capture_output=True)
    assert packed.returncode == 0
    unpacked = tmp_path / "bundle"
    zipfile.ZipFile(bundle).extractall(unpacked)
    config = json.loads((unpacked / "manifest.json").read_text(encoding="utf-8"))["server"]["mcp_config"]
    args = [arg.replace("${__dirname}", str(unpacked)) for arg in config["args"]]
    env = clean_env(UV_PYTHON=sys.executable, UV_PYTHON_DOWNLOADS="never")
    env |= {name: "" for name in config["env"]}  # the host's form left blank: the local emulator
    done = subprocess.run(
        [config["command"], *args, "tools"], env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path
    )
    assert done.returncode == 0 and "bytes of tools/list" in done.stdout, done.stderr[-3000:]
