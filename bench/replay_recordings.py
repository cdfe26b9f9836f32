"""Replay recorded Azure Batch traffic against a fresh emulator and compare status codes.

    python bench/replay_recordings.py FOLDER [--only TEXT] [--pace SECONDS] [--transition SECONDS]

FOLDER holds request/response recordings of the live service, as the public SDK and CLI test
suites keep them (none ship with batch-mcp): vcrpy cassettes (`*.yaml`, needs PyYAML) and
test-proxy recordings (`*.json`, an `Entries` list). Each subfolder counts as one source.

For every recording, a fresh in-process emulator (Shared Key on, development account, tasks
that finish at once, --transition seconds per state transition) receives the recorded Batch
requests in order, --pace seconds apart (the live service had seconds between them): same
method, path, query (api-version as recorded), body and conditional headers (recorded ETags
translated to the emulator's), signed with the emulator's key. Pools, jobs and applications the
recording uses but never creates (a test's fixtures make them out of band) are seeded first, a
pool with as many nodes as the recording names; recorded node ids map, in order of appearance,
to the seeded nodes, in paths and bodies.

Skipped, counted and named: recordings made without credentials (every answer a 401/403 or
MissingRequiredHeader), requests to other hosts (Storage, ARM, sign-in), requests whose meaning
depends on Azure Storage (a SAS URL in the body or query), and requests naming an api-version
the service never published. Some azure-cli recordings had their version strings rewritten in
bulk after they were made (`2022-06-01.15.0`); such a request is sent with the published version
of the same number (`2022-01-01.15.0`) and counted as mapped.

Prints per-file and per-source status-code agreement, then a table of the disagreements:
method, path pattern, recorded status/code, emulator status/code, how often.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx2

from batch_mcp import sharedkey
from batch_mcp.emulator import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME, EmulatorConfig, create_app
from batch_mcp.emulator.versions import VERSIONS

BASE = "https://replay.local.batch.azure.com"
SEED_API_VERSION = "2024-02-01.19.0"  # when a recording names none
# A recording that reads a node's RDP file ran on a cloud service pool (the only kind that has one).
CLOUD_SERVICE_POOL = {"vmSize": "small", "cloudServiceConfiguration": {"osFamily": "5"}}
SEED_POOL = {
    "vmSize": "standard_d2s_v3",
    "virtualMachineConfiguration": {
        "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
    },
}
# Path segments naming a collection: the segment after one is an id ({id} in the report).
COLLECTIONS = {
    "pools",
    "jobs",
    "tasks",
    "nodes",
    "jobschedules",
    "applications",
    "users",
    "extensions",
    "subtasks",
}
SAS = re.compile(r"[?&]sig=", re.IGNORECASE)


@dataclass
class Exchange:
    """One recorded request and the status (and Batch error code) the service answered."""

    method: str
    url: str
    body: bytes | None
    status: int
    code: str | None
    conditions: dict[str, str] = field(default_factory=dict)  # If-Match, If-Unmodified-Since, ...
    etag: str | None = None  # the ETag the service answered with


# Request headers that change what the service does, sent as recorded (ETags translated).
FORWARDED = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "ocp-range", "range")


def header_values(headers: Any) -> dict[str, str]:
    """Lower-cased names, one value each, from either format (vcrpy keeps lists of values)."""
    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if isinstance(value, list):
            value = value[0] if value else ""
        out[str(name).lower()] = str(value)
    return out


def conditions(headers: Any) -> dict[str, str]:
    values = header_values(headers)
    return {name: values[name] for name in FORWARDED if name in values}


@dataclass
class FileResult:
    name: str
    source: str
    compared: int = 0
    agreed: int = 0
    mapped: int = 0  # sent with the published twin of an edited api-version
    skipped: Counter[str] = field(default_factory=Counter)
    mismatches: list[tuple[str, str, str, str]] = field(default_factory=list)


def error_code(body: Any) -> str | None:
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body or "null")
        except ValueError:
            return None
    if isinstance(body, dict):
        code = body.get("code") or (body.get("error") or {}).get("code")
        return code if isinstance(code, str) else None
    return None


def encode(body: Any) -> bytes | None:
    if body is None or body == "":
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def load(path: Path) -> list[Exchange]:
    """The exchanges of one recording, in order, from either recording format."""
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            sys.exit("reading .yaml recordings needs PyYAML: pip install pyyaml")
        doc = yaml.safe_load(path.read_text())
        out = []
        for item in doc.get("interactions") or []:
            request, response = item["request"], item["response"]
            body = (response.get("body") or {}).get("string")
            out.append(
                Exchange(
                    request["method"].upper(),
                    request["uri"],
                    encode(request.get("body")),
                    int(response["status"]["code"]),
                    error_code(body),
                    conditions(request.get("headers")),
                    header_values(response.get("headers")).get("etag"),
                )
            )
        return out
    doc = json.loads(path.read_text())
    return [
        Exchange(
            entry["RequestMethod"].upper(),
            entry["RequestUri"],
            encode(entry.get("RequestBody")),
            int(entry["StatusCode"]),
            error_code(entry.get("ResponseBody")),
            conditions(entry.get("RequestHeaders")),
            header_values(entry.get("ResponseHeaders")).get("etag"),
        )
        for entry in doc.get("Entries") or []
    ]


# First path segments of the Batch data plane, for recordings made through a local proxy host.
BATCH_ROOTS = {
    "pools",
    "jobs",
    "jobschedules",
    "applications",
    "supportedimages",
    "nodeagentskus",
    "nodecounts",
    "poolusagemetrics",
    "lifetimejobstats",
    "lifetimepoolstats",
    "certificates",
}


def is_batch(url: str) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host.endswith((".batch.azure.com", ".batch.chinacloudapi.cn", ".batch.usgovcloudapi.net")):
        return True
    first = (segments(url) or [""])[0].split("(")[0]
    return host in ("127.0.0.1", "localhost") and first in BATCH_ROOTS


def skip_reason(exchange: Exchange) -> str | None:
    if not is_batch(exchange.url):
        return "not a Batch request (Storage, ARM, sign-in)"
    version = (parse_qs(urlsplit(exchange.url).query).get("api-version") or [""])[0]
    if version not in VERSIONS and published_twin(version) is None:
        return f"api-version {version or '(none)'} was never published: the recording was edited"
    if SAS.search(exchange.url) or (exchange.body and SAS.search(exchange.body.decode("utf-8", "replace"))):
        return "depends on an Azure Storage SAS URL"
    return None


def published_twin(version: str) -> str | None:
    """The published version with the same service version number (`2022-06-01.15.0` ->
    `2022-01-01.15.0`): some azure-cli recordings had their api-version strings rewritten in bulk
    after they were made; the number after the date is the one the client was built for."""
    _, _, number = version.partition(".")
    twins = [v for v in VERSIONS if number and v.partition(".")[2] == number]
    return twins[0] if len(twins) == 1 else None


def with_published_version(url: str) -> str:
    parts = urlsplit(url)
    version = (parse_qs(parts.query).get("api-version") or [""])[0]
    twin = published_twin(version) if version not in VERSIONS else None
    if twin is None:
        return url
    return urlunsplit(parts._replace(query=parts.query.replace(f"api-version={version}", f"api-version={twin}")))


def unauthenticated(exchanges: list[Exchange]) -> bool:
    batch = [e for e in exchanges if is_batch(e.url)]
    refused = {"MissingRequiredHeader", "AuthenticationFailed", "AuthorizationFailure"}
    return bool(batch) and all(e.status in (401, 403) or e.code in refused for e in batch)


def segments(url: str) -> list[str]:
    return [s for s in urlsplit(url).path.split("/") if s]


def pattern(url: str) -> str:
    parts = segments(url)
    out: list[str] = []
    for i, seg in enumerate(parts):
        if out and out[-1] == "files":
            out.append("{file}")
            break
        if i and parts[i - 1] in COLLECTIONS:
            out.append("{id}")
        elif seg.startswith("certificates("):
            out.append("certificates(...)")
        else:
            out.append(seg)
    return "/" + "/".join(out)


@dataclass
class Seeds:
    """What a recording's test fixtures made out of band: pools (with the node ids the recording
    names under each), jobs, and applications (id -> versions)."""

    pools: dict[str, list[str]] = field(default_factory=dict)
    jobs: list[str] = field(default_factory=list)
    applications: dict[str, set[str]] = field(default_factory=dict)
    cloud_service: bool = False
    api_version: str = SEED_API_VERSION


def package_references(body: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "applicationPackageReferences" and isinstance(value, list):
                found.extend(v for v in value if isinstance(v, dict))
            else:
                found.extend(package_references(value))
    elif isinstance(body, list):
        for value in body:
            found.extend(package_references(value))
    return found


def seeds_for(exchanges: list[Exchange]) -> Seeds:
    """Entities used before the recording creates them (and that the service then had)."""
    created: dict[str, set[str]] = {"pools": set(), "jobs": set()}
    seeds = Seeds()
    versions = [v for e in exchanges for v in parse_qs(urlsplit(e.url).query).get("api-version", [])]
    if versions:
        seeds.api_version = versions[0]
    for e in exchanges:
        parts = segments(e.url)
        if parts[-1:] == ["rdp"] and e.status == 200:
            seeds.cloud_service = True
        try:
            body = json.loads(e.body) if e.body else None
        except ValueError:
            body = None
        if e.status < 300:
            for ref in package_references(body):
                versions = seeds.applications.setdefault(str(ref.get("applicationId")), set())
                versions.add(str(ref.get("version") or "1.0"))
        if e.method == "POST" and len(parts) == 1 and parts[0] in created and isinstance(body, dict):
            created[parts[0]].add(str(body.get("id", "")))
            continue
        if len(parts) < 2 or e.status == 404:
            continue
        if parts[0] == "pools" and parts[1] not in created["pools"]:
            nodes = seeds.pools.setdefault(parts[1], [])
            if len(parts) >= 4 and parts[2] == "nodes" and parts[3] not in nodes:
                nodes.append(parts[3])
        elif parts[0] == "jobs" and parts[1] not in created["jobs"] and parts[1] not in seeds.jobs:
            seeds.jobs.append(parts[1])
        elif parts[0] == "applications" and e.status == 200:
            seeds.applications.setdefault(parts[1], set())
    return seeds


class Replayer:
    """A client for one fresh emulator that signs every request with the emulator's key."""

    def __init__(self, http: httpx2.AsyncClient, seeds: Seeds) -> None:
        self.http = http
        self.seeds = seeds
        self.node_ids: dict[str, str] = {}
        self.etags: dict[str, str] = {}  # the service's ETag -> ours, for the same entity version

    def conditions(self, exchange: Exchange) -> dict[str, str]:
        """The recorded conditional headers, naming our ETags where the service's were recorded."""
        return {name: self.etags.get(value, value) for name, value in exchange.conditions.items()}

    def remember_etag(self, exchange: Exchange, response: httpx2.Response) -> None:
        ours = response.headers.get("etag")
        if exchange.etag and ours:
            self.etags[exchange.etag] = ours

    async def send(
        self, method: str, target: str, body: bytes | None, extra: dict[str, str] | None = None
    ) -> httpx2.Response:
        headers = {"ocp-date": formatdate(usegmt=True), "accept": "application/json", **(extra or {})}
        if body is not None:
            headers["content-type"] = "application/json; odata=minimalmetadata; charset=utf-8"
            headers["content-length"] = str(len(body))
        headers["authorization"] = sharedkey.authorization(method, target, headers, DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY)
        return await self.http.request(method, target, content=body, headers=headers)

    async def seed_job(self, job_id: str, pool_id: str) -> None:
        job = {"id": job_id, "poolInfo": {"poolId": pool_id}}
        response = await self.send("POST", f"/jobs?api-version={self.seeds.api_version}", json.dumps(job).encode())
        if response.status_code != 201:
            raise RuntimeError(f"could not seed job {job_id}: {response.status_code} {response.text}")

    async def seed(self, pool_id: str, node_ids: list[str]) -> None:
        query = f"?api-version={self.seeds.api_version}"
        spec = CLOUD_SERVICE_POOL if self.seeds.cloud_service else SEED_POOL
        pool = {"id": pool_id, **spec, "targetDedicatedNodes": len(node_ids)}
        response = await self.send("POST", f"/pools{query}", json.dumps(pool).encode())
        if response.status_code != 201:
            raise RuntimeError(f"could not seed pool {pool_id}: {response.status_code} {response.text}")
        for _ in range(500):
            nodes = (await self.send("GET", f"/pools/{pool_id}/nodes{query}", None)).json().get("value", [])
            if len(nodes) == len(node_ids) and all(n["state"] == "idle" for n in nodes):
                self.node_ids.update(zip(node_ids, sorted(n["id"] for n in nodes), strict=True))
                return
            await asyncio.sleep(0.02)
        raise RuntimeError(f"seeded pool {pool_id} never became ready")

    def target(self, url: str) -> str:
        parts = urlsplit(url)
        path = "/".join(self.node_ids.get(seg, seg) for seg in parts.path.split("/"))
        return urlunsplit(("", "", path, parts.query, ""))

    def body(self, body: bytes | None) -> bytes | None:
        """The recorded body with recorded node ids (in node lists, say) swapped for ours."""
        if body is None:
            return None
        for recorded, ours in self.node_ids.items():
            body = body.replace(recorded.encode(), ours.encode())
        return body


async def replay_file(path: Path, source: str, pace: float, transition: float) -> FileResult:
    result = FileResult(path.name, source)
    exchanges = load(path)
    if unauthenticated(exchanges):
        result.skipped["recorded without credentials"] += len(exchanges)
        return result
    seeds = seeds_for(exchanges)
    if seeds.jobs and not seeds.pools:
        seeds.pools["replay-seed"] = ["seed-node"]
    config = EmulatorConfig(
        applications=[{"id": app, "versions": sorted(v) or ["1.0"]} for app, v in seeds.applications.items()],
        account_name=DEV_ACCOUNT_NAME,
        account_key=DEV_ACCOUNT_KEY,
        runner="instant",
        transition_delay=transition,
        tick_interval=0.01,
    )
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=BASE, timeout=60) as http:
            replayer = Replayer(http, seeds)
            for pool_id, node_ids in seeds.pools.items():
                await replayer.seed(pool_id, node_ids)
            for job_id in seeds.jobs:
                await replayer.seed_job(job_id, next(iter(seeds.pools)))
            for e in exchanges:
                reason = skip_reason(e)
                if reason:
                    result.skipped[reason] += 1
                    continue
                url = with_published_version(e.url)
                if url != e.url:
                    result.mapped += 1
                response = await replayer.send(
                    e.method, replayer.target(url), replayer.body(e.body), replayer.conditions(e)
                )
                replayer.remember_etag(e, response)
                await asyncio.sleep(pace)
                result.compared += 1
                if response.status_code == e.status:
                    result.agreed += 1
                    continue
                got_code = error_code(response.content) if response.content else None
                result.mismatches.append(
                    (
                        f"{e.method} {pattern(e.url)}",
                        f"{e.status} {e.code or ''}".strip(),
                        f"{response.status_code} {got_code or ''}".strip(),
                        path.name,
                    )
                )
    return result


def percent(agreed: int, compared: int) -> str:
    return f"{100 * agreed / compared:5.1f}%" if compared else "    -"


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--only", default="", help="replay only files whose name contains this")
    parser.add_argument(
        "--pace",
        type=float,
        default=0.1,
        help="seconds the emulator's clock runs between requests (the recorded service had seconds between "
        "them); 0 sends them back to back",
    )
    parser.add_argument(
        "--transition",
        type=float,
        default=1.0,
        help="seconds per emulator state transition (node start, resize step, deletion): the emulator's "
        "default; the service takes minutes, so a recorded resize is still going when the next request comes",
    )
    args = parser.parse_args()
    files = sorted(p for p in args.folder.rglob("*") if p.suffix in (".json", ".yaml", ".yml") and args.only in p.name)
    if not files:
        sys.exit(f"no recordings under {args.folder}")
    results = []
    for path in files:
        source = str(path.parent.relative_to(args.folder)) if path.parent != args.folder else args.folder.name
        results.append(await replay_file(path, source, args.pace, args.transition))

    print(f"{'recording':70} {'sent':>5} {'agree':>6} {'skip':>5}")
    for r in results:
        name, dropped = f"{r.source}/{r.name}", sum(r.skipped.values())
        print(f"{name:70.70} {r.compared:5} {percent(r.agreed, r.compared)} {dropped:5}")
    print()
    for source in sorted({r.source for r in results}):
        mine = [r for r in results if r.source == source]
        compared, agreed = sum(r.compared for r in mine), sum(r.agreed for r in mine)
        print(f"source {source}: {agreed}/{compared} status codes agree ({percent(agreed, compared).strip()})")
    compared, agreed = sum(r.compared for r in results), sum(r.agreed for r in results)
    print(f"total: {agreed}/{compared} status codes agree ({percent(agreed, compared).strip()})")
    skipped: Counter[str] = Counter()
    for r in results:
        skipped.update(r.skipped)
    for reason, count in skipped.most_common():
        print(f"skipped {count}: {reason}")
    mapped = sum(r.mapped for r in results)
    if mapped:
        print(f"mapped {mapped}: an edited api-version sent as the published one with its number")
    table = Counter((m[0], m[1], m[2]) for r in results for m in r.mismatches)
    where = {(m[0], m[1], m[2]): m[3] for r in results for m in r.mismatches}
    if table:
        print(f"\n{'request':52} {'recorded':28} {'emulator':28} {'n':>3}  first seen in")
        for (request, recorded, got), count in table.most_common():
            print(f"{request:52.52} {recorded:28.28} {got:28.28} {count:3}  {where[(request, recorded, got)]}")


if __name__ == "__main__":
    asyncio.run(main())
