"""What checking the bearer token costs per call: the static token against Entra ID sign-in.

    python bench/token_validation.py [--calls 2000] [--rounds 5]

Uses the test OpenID provider from tests/entra (its own RSA keys, served over TLS on loopback).
Each round times `calls` checks of one valid token, the ways below taking turns call by call:

- the static-token verifier (a SHA-256 and a constant-time compare);
- the Entra ID verifier with its accepted-token cache (a SHA-256 and a dictionary lookup);
- the Entra ID verifier without that cache (RS256 signature and every claim, keys cached);
- a fresh Entra ID verifier per call (keys not cached: both OpenID configurations and the key set
  fetched over loopback TLS, then the full check; fewer calls).

Then the same over HTTP: `tools/list` round trips to the real server app (uvicorn on loopback)
behind the static token and behind Entra ID sign-in with and without the cache. Printed: the
median per call of each round, the median of those, and the difference to the static token.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402
import uvicorn  # noqa: E402

from batch_mcp.server import assemble  # noqa: E402
from batch_mcp.server.app import RuntimeRef, build_server  # noqa: E402
from batch_mcp.server.entra import EntraAuthorization, EntraConfig  # noqa: E402
from batch_mcp.server.entra.keys import SigningKeys  # noqa: E402
from batch_mcp.server.entra.tokens import EntraTokenVerifier  # noqa: E402
from batch_mcp.server.transports import StaticTokenVerifier, http_app, plan_http  # noqa: E402
from batch_mcp.settings import Settings  # noqa: E402
from tests.entra.provider import ALICE, IdentityProvider  # noqa: E402
from tests.entra.serving import serve_tls  # noqa: E402
from tests.entra.tls import make_loopback_tls  # noqa: E402

Check = Callable[[], Awaitable[Any]]


def settings_for(idp: IdentityProvider, workdir: Path, **extra: Any) -> Settings:
    return Settings(
        transport="http",
        http_auth="entra",
        endpoint="https://bench.westeurope.batch.azure.com",  # tools/list never calls Batch
        entra_tenant_id=idp.tenant_id,
        entra_client_id=idp.client_id,
        entra_client_secret=idp.client_secret,
        entra_authority=idp.url,
        audit_log=workdir / "audit.jsonl",
        **extra,
    )


async def rounds_of(checks: dict[str, tuple[Check, int]], rounds: int) -> dict[str, list[float]]:
    """Per round, each check's median per call; in a round the checks take turns call by call, so
    the machine's drift (other load, frequency changes) affects them alike."""
    results: dict[str, list[float]] = {name: [] for name in checks}
    for _ in range(rounds):
        times: dict[str, list[float]] = {name: [] for name in checks}
        most = max(calls for _, calls in checks.values())
        for index in range(most):
            for name, (check, calls) in checks.items():
                if index * calls // most != (index + 1) * calls // most:  # spread fewer calls evenly
                    started = time.perf_counter()
                    await check()
                    times[name].append(time.perf_counter() - started)
        for name in checks:
            results[name].append(statistics.median(times[name]))
    return results


def report(title: str, results: dict[str, list[float]], baseline: str) -> None:
    print(f"\n{title}")
    base = statistics.median(results[baseline])
    for name, values in results.items():
        median = statistics.median(values)
        rounds = " ".join(f"{v * 1e6:.1f}" for v in values)
        extra = "" if name == baseline else f"   {(median - base) * 1e6:+.1f} µs vs {baseline}"
        print(f"  {name:<34} median {median * 1e6:9.1f} µs   rounds (µs): {rounds}{extra}")


async def verifier_costs(idp: IdentityProvider, workdir: Path, context: Any, calls: int, rounds: int) -> None:
    token = idp.token(ALICE, lifetime=7200)
    config = EntraConfig.from_settings(settings_for(idp, workdir))
    http = httpx2.AsyncClient(verify=context, timeout=10)
    static = StaticTokenVerifier("a-static-token-of-the-usual-length-0123456789")
    cached = EntraTokenVerifier(config, SigningKeys(config, http))
    uncached = EntraTokenVerifier(config, SigningKeys(config, http), cache_size=0)
    assert await cached.verify_token(token) and await uncached.verify_token(token)  # keys fetched once

    async def cold() -> Any:
        access = await EntraTokenVerifier(config, SigningKeys(config, http)).verify_token(token)
        assert access is not None

    results = await rounds_of(
        {
            "static token": (lambda: static.verify_token("a-static-token-of-the-usual-length-0123456789"), calls),
            "entra, accepted-token cache": (lambda: cached.verify_token(token), calls),
            "entra, full check (keys cached)": (lambda: uncached.verify_token(token), calls),
            "entra, keys fetched (cold)": (cold, max(10, calls // 50)),
        },
        rounds,
    )
    report("token check per call (verify_token)", results, "static token")
    await http.aclose()


class Served:
    """A server app on a loopback port in a background thread."""

    def __init__(self, app: Any) -> None:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on such sockets (else ~40 ms per request)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="critical", access_log=False, lifespan="on", timeout_graceful_shutdown=1)
        )
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.port}/mcp"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def app_for(idp: IdentityProvider, workdir: Path, mode: str, port: int) -> Any:
    settings = (
        settings_for(idp, workdir, port=port)
        if mode != "static"
        else Settings(transport="http", port=port, emulator_data_dir=":memory:", audit_log=workdir / "audit.jsonl")
    )
    parts = assemble(settings)
    server = build_server(settings, parts.catalog, parts.selection, parts.server_tools, runtime_ref=RuntimeRef())
    if mode == "static":
        return http_app(server, "127.0.0.1", port, plan_http("127.0.0.1", port, "static-bench-token-0123456789", []))
    entra = EntraAuthorization.create(
        EntraConfig.from_settings(settings), cache_size=0 if mode == "entra-nocache" else 1024
    )
    plan = plan_http("127.0.0.1", port, None, [], static_token=False)
    return http_app(server, "127.0.0.1", port, plan, entra=entra)


async def http_costs(idp: IdentityProvider, workdir: Path, calls: int, rounds: int) -> None:
    token = idp.token(ALICE, lifetime=7200)
    envelope = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": envelope}}
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/list",
    }
    modes = {"static token": "static", "entra, accepted-token cache": "entra", "entra, full check": "entra-nocache"}
    checks: dict[str, tuple[Check, int]] = {}
    servers, clients = [], []
    for name, mode in modes.items():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        served = Served(app_for(idp, workdir, mode, port))
        url = served.__enter__()
        servers.append(served)
        bearer = "static-bench-token-0123456789" if mode == "static" else token
        client = httpx2.AsyncClient(headers={**headers, "Authorization": f"Bearer {bearer}"}, timeout=30)
        clients.append(client)

        async def list_tools(client: httpx2.AsyncClient = client, url: str = url) -> None:
            reply = await client.post(url, json=body)
            assert reply.status_code == 200, reply.text[:300]

        await list_tools()
        checks[name] = (list_tools, calls)
    try:
        results = await rounds_of(checks, rounds)
        report("tools/list over HTTP per call (2026-07-28, loopback)", results, "static token")
    finally:
        for client in clients:
            await client.aclose()
        for served in servers:
            served.__exit__()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        tls = make_loopback_tls(workdir / "tls")
        os.environ["SSL_CERT_FILE"] = str(tls.ca_file)  # the server's own key fetches trust the test CA
        idp = IdentityProvider()
        with serve_tls(idp.app, tls) as url:
            idp.url = url
            await verifier_costs(idp, workdir, tls.client_context(), args.calls, args.rounds)
            await http_costs(idp, workdir, max(100, args.calls // 10), args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
