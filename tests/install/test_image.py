"""The container image, reproduced without Docker: what the Dockerfile copies, installed the way its
RUN line installs it into a fresh virtual environment, started with its ENTRYPOINT and its ENV.

No token on 0.0.0.0 must refuse to start; with one, `/mcp` answers 401 without it and serves
`tools/list` with it, and the HEALTHCHECK command reports healthy. The Dockerfile is read, not
copied here, so a change to it is a change to what this test does."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
import mcp
import pytest
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@dataclass
class Image:
    env: dict[str, str]  # every ENV of the final stage
    copies: list[str]  # sources of COPY lines
    install: str  # the RUN line that installs the package
    entrypoint: list[str]
    healthcheck: list[str]


def read_dockerfile() -> Image:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    env: dict[str, str] = {}
    copies: list[str] = []
    install = entrypoint = healthcheck = None
    for line in lines:
        word, _, rest = line.partition(" ")
        if word == "ENV":
            env.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
        elif word == "COPY":
            copies += shlex.split(rest)[:-1]
        elif word == "RUN" and "pip install" in rest:
            install = rest
        elif word == "ENTRYPOINT":
            entrypoint = json.loads(rest)  # exec form: a JSON array
        elif word == "HEALTHCHECK":
            healthcheck = json.loads(rest.split("CMD", 1)[1])
    assert install and entrypoint and healthcheck
    return Image(env, copies, install, entrypoint, healthcheck)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Image, Path, Path]]:
    """(the image, its /app, the fresh venv's bin folder), installed the Dockerfile's way."""
    image = read_dockerfile()
    work = tmp_path_factory.mktemp("image")
    app, venv = work / "app", work / "venv"
    app.mkdir()
    for source in image.copies:
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, app / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, app / source)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    env = {**os.environ, **image.env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    started = time.perf_counter()
    done = subprocess.run(
        ["/bin/sh", "-c", image.install.replace("/app/", f"{app}/")],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(f"image install in a fresh venv: {time.perf_counter() - started:.0f} s")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (app / "batch_mcp").exists()  # the RUN line removes the sources: the venv must not need them
    yield image, app, bin_dir


def container_env(image: Image, bin_dir: Path, home: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "TMPDIR")}
    return {**keep, **image.env, "HOME": str(home), "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", **extra}


def test_without_a_token_the_image_refuses_to_start(installed: tuple[Image, Path, Path], tmp_path: Path) -> None:
    image, app, bin_dir = installed
    env = container_env(image, bin_dir, tmp_path, BATCH_MCP_PORT=str(free_port()))
    done = subprocess.run(
        image.entrypoint, cwd=app, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 2 and "0.0.0.0 without a token" in done.stderr, done.stderr


def test_with_a_token_the_image_serves_tools_and_refuses_strangers(
    installed: tuple[Image, Path, Path], tmp_path: Path
) -> None:
    image, app, bin_dir = installed
    port, token = free_port(), "image-test-token-0123456789"
    env = container_env(image, bin_dir, tmp_path, BATCH_MCP_PORT=str(port), BATCH_MCP_TOKEN=token)
    server = subprocess.Popen(
        image.entrypoint, cwd=app, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # up when the health check says so, as Docker would see it
            health = subprocess.run([*image.healthcheck], cwd=app, env=env, timeout=30)
            if health.returncode == 0:
                break
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        base = f"http://127.0.0.1:{port}"
        assert httpx2.post(f"{base}/mcp", json={}, timeout=10).status_code == 401

        async def list_tools() -> list[str]:
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
                mcp.Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
            ):
                return [tool.name for tool in (await client.list_tools()).tools]

        names = anyio.run(list_tools)
        assert "pool_list" in names
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.stderr is not None
    assert token not in server.stderr.read().decode(errors="replace")  # never printed
