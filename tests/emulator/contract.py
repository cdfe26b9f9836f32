"""What the contract tests need around the spec: requests built from x-ms-examples, response
schemas built from the spec, and the entities each example assumes to exist."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx2

from batch_mcp.catalog.generator.schemas import SchemaBuilder, strip_marks
from batch_mcp.catalog.generator.spec import Operation, Spec
from batch_mcp.catalog.validation import make_validator
from batch_mcp.emulator import EmulatorConfig, create_app, versions
from tests.emulator.conftest import Api

BASE = "https://account.region.batch.azure.com"
PLUMBING = {
    "batchUrl",
    "api-version",
    "client-request-id",
    "return-client-request-id",
    "ocp-date",
    "ocp-data",
    "timeout",
}
EXAMPLE_NODE = re.compile(r"^tvm-\d+_(\d+)-\w+$")
APPLICATIONS = [{"id": "my_application_id", "displayName": "My first application", "versions": ["v1.0"]}]
CERT_DATA = "MIIGMDCCBBigAwIBAgIQIBa2hJ9S3ZlHa1Q0Xpy7lTANBgkqhkiG9w0BAQsFADAvMS0wKwYDVQQDEyRDb250b3Nv"


@dataclass
class Example:
    version: str
    name: str
    operation: Operation
    parameters: dict[str, Any]
    responses: dict[str, Any]

    @property
    def op(self) -> str:
        return self.operation.operation_id

    @property
    def status(self) -> int:
        return int(next(iter(self.responses)))

    @property
    def body(self) -> Any:
        name = self.operation.body_param
        return with_real_images(decode_settings(copy.deepcopy(self.parameters.get(name)))) if name else None


def decode_settings(value: Any, key: str = "") -> Any:
    """One upstream example (PoolAdd_VirtualMachineConfigurationWithExtensions) writes an extension's
    `settings`, an object in its own spec, as a JSON-encoded string; send the object instead."""
    if isinstance(value, dict):
        return {k: decode_settings(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_settings(v, key) for v in value]
    if key == "settings" and isinstance(value, str) and value.startswith("{"):
        return json.loads(value)
    return value


# Upstream examples that name an image the service never offered: an UbuntuServer 20.04 sku
# (20.04 lives in the focal offer) and a mistyped sku. The emulator refuses them as the service
# would, so they are sent with the image the example means.
IMAGE_FIXES = {
    ("canonical", "ubuntuserver", "20_04-lts"): ("Canonical", "0001-com-ubuntu-server-focal", "20_04-lts"),
    ("canonical", "0001-com-ubuntu-server-focal", "120_04-lts"): (
        "Canonical",
        "0001-com-ubuntu-server-focal",
        "20_04-lts",
    ),
}


def with_real_images(value: Any) -> Any:
    if isinstance(value, dict):
        ref = value.get("imageReference")
        if isinstance(ref, dict):
            key = tuple(str(ref.get(k, "")).lower() for k in ("publisher", "offer", "sku"))
            if key in IMAGE_FIXES:
                ref["publisher"], ref["offer"], ref["sku"] = IMAGE_FIXES[key]
        for v in value.values():
            with_real_images(v)
    elif isinstance(value, list):
        for v in value:
            with_real_images(v)
    return value


@cache
def spec(specs_dir: Path, version: str) -> Spec:
    return Spec(specs_dir / version / "BatchService.json")


def load_examples(specs_dir: Path, version: str) -> list[Example]:
    s = spec(specs_dir, version)
    out = []
    for op in s.operations():
        for ref in op.examples:
            path = (s.path.parent / ref).resolve()
            data = json.loads(path.read_text(encoding="utf-8"))
            out.append(Example(version, path.name, op, data["parameters"], data["responses"]))
    return out


def response_validator(specs_dir: Path, version: str, op: Operation, status: int) -> Any | None:
    """A validator for the documented response body (not strict about extra fields)."""
    response = op.responses.get(str(status)) or {}
    schema = response.get("schema")
    if not schema or schema.get("format") == "file":
        return None
    converted = strip_marks(SchemaBuilder(spec(specs_dir, version), {}).convert(schema, inline=True))
    return make_validator(converted)


def int64_as_numbers(plan: dict[str, Any], value: Any, path: str = "$") -> Any:
    """The service writes 64-bit integers as JSON strings; check each is one, and turn it back into
    the number the spec's schema (type integer) describes."""
    if isinstance(value, list):
        return [int64_as_numbers(plan, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for name, action in plan.items():
        if name not in out:
            continue
        if action == versions.STRING:
            assert isinstance(out[name], str) and out[name].lstrip("-").isdigit(), f"{path}.{name}: {out[name]!r}"
            out[name] = int(out[name])
        elif isinstance(action, dict):
            out[name] = int64_as_numbers(action, out[name], f"{path}.{name}")
    return out


def documented_headers(op: Operation, status: int) -> set[str]:
    return {h.lower() for h in (op.responses.get(str(status)) or {}).get("headers", {})}


def node_index(example_id: str) -> int:
    match = EXAMPLE_NODE.match(example_id)
    return int(match.group(1)) - 1 if match else 0


def collect(value: Any, key: str) -> list[Any]:
    """Every value stored under `key` anywhere in a JSON document."""
    found: list[Any] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                found.append(v)
            found.extend(collect(v, key))
    elif isinstance(value, list):
        for v in value:
            found.extend(collect(v, key))
    return found


@dataclass
class World:
    """The entities an example assumes, created through the API itself."""

    api: Api
    app: Any
    nodes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def backend(self) -> Any:
        return self.app.state.emulator.backend

    async def certificate(self, thumbprint: str) -> None:
        body = {"thumbprint": thumbprint, "thumbprintAlgorithm": "sha1", "data": CERT_DATA, "certificateFormat": "cer"}
        r = await self.api.post("/certificates", body)
        assert r.status_code in (201, 409), r.text

    async def pool(self, pool_id: str, nodes: int = 1, **extra: Any) -> list[str]:
        if pool_id in self.nodes:
            return self.nodes[pool_id]
        body: dict[str, Any] = {
            "id": pool_id,
            "vmSize": "standard_d2s_v3",
            "virtualMachineConfiguration": {
                "imageReference": {
                    "publisher": "canonical",
                    "offer": "0001-com-ubuntu-server-jammy",
                    "sku": "22_04-lts",
                },
                "nodeAgentSKUId": "batch.node.ubuntu 22.04",
            },
            "targetDedicatedNodes": nodes,
            "taskSlotsPerNode": 2,
        }
        body.update(extra)
        if "cloudServiceConfiguration" in body:
            del body["virtualMachineConfiguration"]
        if self.api.version.startswith("2018"):
            body["maxTasksPerNode"] = body.pop("taskSlotsPerNode")
        r = await self.api.post("/pools", body)
        assert r.status_code == 201, r.text
        listing = await self.api.wait(
            f"/pools/{pool_id}/nodes",
            lambda b: len(b["value"]) == nodes and all(n["state"] == "idle" for n in b["value"]),
        )
        await self.api.wait(f"/pools/{pool_id}", lambda p: p["allocationState"] == "steady")
        self.nodes[pool_id] = [n["id"] for n in listing["value"]]
        return self.nodes[pool_id]

    async def job(self, job_id: str, pool_id: str = "poolId") -> None:
        if (await self.api.get(f"/jobs/{job_id}")).status_code == 200:
            return
        await self.pool(pool_id)
        body = {
            "id": job_id,
            "poolInfo": {"poolId": pool_id},
            "usesTaskDependencies": True,
            "jobPreparationTask": {"commandLine": "/bin/sh -c 'echo prepared'"},
            "jobReleaseTask": {"commandLine": "/bin/sh -c 'echo released'"},
        }
        r = await self.api.post("/jobs", body)
        assert r.status_code == 201, r.text

    async def task(self, job_id: str, task_id: str, command: str, state: str | None = "completed") -> dict[str, Any]:
        await self.job(job_id)
        r = await self.api.post(f"/jobs/{job_id}/tasks", {"id": task_id, "commandLine": command})
        assert r.status_code == 201, r.text
        if state is None:
            return {}
        return await self.api.wait(f"/jobs/{job_id}/tasks/{task_id}", lambda t: t["state"] == state)

    async def schedule(self, schedule_id: str) -> None:
        await self.pool("poolId")
        body = {
            "id": schedule_id,
            "schedule": {"recurrenceInterval": "PT1H"},
            "jobSpecification": {"poolInfo": {"poolId": "poolId"}},
        }
        r = await self.api.post("/jobschedules", body)
        assert r.status_code == 201, r.text
        await self.api.wait(f"/jobschedules/{schedule_id}/jobs", lambda b: len(b["value"]) == 1)


async def prepare(world: World, ex: Example) -> None:
    """Create what the example refers to, in the state the operation needs."""
    api, p, op = world.api, ex.parameters, ex.op
    if op != "Certificate_Add":
        for thumbprint in {t for t in collect(ex.body, "thumbprint") if isinstance(t, str)}:
            await world.certificate(thumbprint)
    node_ids = [p.get("nodeId", "")] + [n for n in collect(ex.body, "nodeList") for n in n]
    wanted_nodes = max(node_index(n) for n in node_ids) + 1
    if "poolId" in p and op != "Pool_Add":
        pool_id = p["poolId"]
        if op == "Pool_StopResize":
            await world.pool(pool_id, 0)
            world.backend.config.transition_delay = 30.0  # keep the resize going while the example stops it
            assert (await api.post(f"/pools/{pool_id}/resize", {"targetDedicatedNodes": 1})).status_code == 202
        elif op == "Pool_UpgradeOS":
            await world.pool(pool_id, 0, cloudServiceConfiguration={"osFamily": "5"})
        elif op in ("ComputeNode_GetRemoteDesktop", "ComputeNode_Reimage"):  # cloud service nodes only
            await world.pool(pool_id, wanted_nodes, cloudServiceConfiguration={"osFamily": "5"})
        elif op.startswith("ComputeNodeExtension"):
            ext = {
                "name": p.get("extensionName", "batchNodeExtension"),
                "publisher": "Microsoft.Azure.Monitor",
                "type": "AzureMonitorLinuxAgent",
                "typeHandlerVersion": "1.0",
            }
            vm = {
                "imageReference": {
                    "publisher": "canonical",
                    "offer": "0001-com-ubuntu-server-jammy",
                    "sku": "22_04-lts",
                },
                "nodeAgentSKUId": "batch.node.ubuntu 22.04",
                "extensions": [ext],
            }
            await world.pool(pool_id, wanted_nodes, virtualMachineConfiguration=vm)
        else:
            await world.pool(pool_id, wanted_nodes)
        if op == "Pool_EvaluateAutoScale":
            body = {"autoScaleFormula": "$TargetDedicatedNodes=1;", "autoScaleEvaluationInterval": "PT5M"}
            assert (await api.post(f"/pools/{pool_id}/enableautoscale", body)).status_code == 200
        if "userName" in p:
            node = world.nodes[pool_id][node_index(p["nodeId"])]
            r = await api.post(
                f"/pools/{pool_id}/nodes/{node}/users", {"name": p["userName"], "password": "p@ssw0rd-Example"}
            )
            assert r.status_code == 201, r.text
        if op.endswith("FromComputeNode") and op != "File_ListFromComputeNode":
            await world.task("jobId", "task1", "/bin/sh -c 'echo hello-from-task1 > testFile.txt'")
    if "jobId" in p and op != "Job_Add":
        await world.job(p["jobId"])
        if op == "Job_Enable":
            assert (await api.post(f"/jobs/{p['jobId']}/disable", {"disableTasks": "requeue"})).status_code == 202
            await api.wait(f"/jobs/{p['jobId']}", lambda j: j["state"] == "disabled")
        if op == "Job_ListPreparationAndReleaseTaskStatus":
            await world.task(p["jobId"], "ran-once", "/bin/true")
    if "taskId" in p:
        job_id, task_id = p["jobId"], p["taskId"]
        if op in ("Task_Update", "Task_Terminate"):
            await world.task(job_id, task_id, "sleep 60", state="running")
        elif op == "Task_Reactivate":
            await world.task(job_id, task_id, "/bin/sh -c 'exit 1'")
        else:
            await world.task(job_id, task_id, "/bin/sh -c 'echo hello-from-the-task > testFile.txt'")
    if "jobScheduleId" in p and op != "JobSchedule_Add":
        await world.schedule(p["jobScheduleId"])
        if op == "JobSchedule_Enable":
            assert (await api.post(f"/jobschedules/{p['jobScheduleId']}/disable")).status_code == 204
    if "thumbprint" in p:
        await world.certificate(p["thumbprint"])
        if op == "Certificate_CancelDeletion":
            ref = {"thumbprint": p["thumbprint"], "thumbprintAlgorithm": p["thumbprintAlgorithm"]}
            await world.pool("certpool", 0, certificateReferences=[ref])
            path = f"/certificates(thumbprintAlgorithm={p['thumbprintAlgorithm']},thumbprint={p['thumbprint']})"
            assert (await api.call("DELETE", path)).status_code == 202
            await api.wait(path, lambda c: c["state"] == "deletefailed")


def build_request(world: World, ex: Example) -> tuple[str, str, dict[str, str], dict[str, str], Any]:
    """(method, path, query, headers, body) of the example, with example node ids mapped to real ones."""
    p = ex.parameters
    values = {k: v for k, v in p.items() if not isinstance(v, dict | list)}
    pool_nodes = world.nodes.get(p.get("poolId", ""), [])
    if "nodeId" in values and pool_nodes:
        values["nodeId"] = pool_nodes[node_index(values["nodeId"])]
    path = ex.operation.path
    path_params = {prm.name for prm in ex.operation.parameters if prm.location == "path"}
    for name in path_params:
        path = path.replace("{" + name + "}", quote(str(values[name]), safe="" if name != "filePath" else "/\\"))
    query = {}
    for prm in ex.operation.parameters:
        if prm.location == "query" and prm.name in values and prm.name not in PLUMBING:
            value = values[prm.name]
            query[prm.name] = str(value).lower() if isinstance(value, bool) else str(value)
    headers = {"client-request-id": "00000000-0000-0000-0000-000000000001", "return-client-request-id": "true"}
    body = ex.body
    if isinstance(body, dict) and "nodeList" in body and pool_nodes:
        body["nodeList"] = [pool_nodes[node_index(n)] for n in body["nodeList"]]
    return ex.operation.method, path, query, headers, body


@asynccontextmanager
async def world_for(version: str) -> AsyncIterator[World]:
    config = EmulatorConfig(transition_delay=0.02, tick_interval=0.01, applications=APPLICATIONS)
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=BASE, timeout=30) as http:
            with anyio.fail_after(60):
                yield World(Api(http, version), app)
