"""Entities read back with every field the spec's example responses show, key by key, per version.

For each example answer of a pool, node, job, job schedule or task (gets and the first item of
lists), the entity is created through the API from the example itself (its fields that the
version's request model has), brought to the example's state where that is cheap, read back with
the version of the example, and compared: each key path of the example must be in the answer,
except the few that only a state the emulator did not reach would show (listed, with the reason).
Fields the service fills in by default are left out of the request, so the example is the oracle
for the emulator's defaults too.
And the answer has no key the version's model lacks.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from batch_mcp.emulator import versions
from tests.conftest import API_VERSIONS, SPECS_DIR
from tests.emulator.contract import (
    Example,
    World,
    build_request,
    decode_settings,
    load_examples,
    prepare,
    world_for,
)
from tests.emulator.test_versions import future_fields

pytestmark = pytest.mark.anyio

# What the example's entity went through that ours does not: read-only fields of those states.
STATE_ONLY = {
    "previousState": "a state change after creation (the example entity changed state twice)",
    "previousStateTransitionTime": "same",
    "executionInfo.endTime": "a completed job or schedule",
    "executionInfo.terminateReason": "a completed job",
    "executionInfo.schedulingError": "a job that failed to schedule",
    "executionInfo.recentJob": "a schedule that has run",
    "executionInfo.nextRunTime": "a schedule waiting for its next run",
    "executionInfo.startTime": "a task that ran",
    "executionInfo.exitCode": "a task that ran",
    "executionInfo.result": "a task that ran",
    "executionInfo.failureInfo": "a task that failed",
    "executionInfo.lastRetryTime": "a task that was retried",
    "executionInfo.lastRequeueTime": "a task that was requeued",
    "nodeInfo": "a task that ran",
    "stats": "statistics only come with $expand=stats",
    "resizeErrors": "a resize that failed",
    "autoScaleRun": "an autoscale evaluation",
    "recentTasks": "tasks that ran on the node",
    "errors": "a node with errors",
    "endpointConfiguration.inboundEndpoints.publicFQDN": "an account with public endpoints",
    "cloudServiceConfiguration.currentOSVersion": "a cloud service pool's OS upgrade history",
}
# Settings the emulator refuses or cannot honour locally; examples that use them are compared without.
NOT_CREATED = {"applicationPackageReferences", "applicationLicenses", "certificateReferences", "mountConfiguration"}
READ_ONLY = {"currentOSVersion"}  # read-only fields of models that requests share
# Fields the service fills in when a request leaves them out: the entity is created without them, so
# the example's keys can only be matched by the emulator's own defaults.
DEFAULTED = {
    "userIdentity",
    "constraints",
    "maxTaskRetryCount",
    "waitForSuccess",
    "requiredSlots",
    "priority",
    "maxParallelTasks",
    "allowTaskPreemption",
    "usesTaskDependencies",
    "onAllTasksComplete",
    "onTaskFailure",
    "taskSchedulingPolicy",
    "enableInterNodeCommunication",
    "resizeTimeout",
    "version",
    "killJobOnCompletion",
    "runExclusive",
    "allowLowPriorityNode",
    "rerunOnNodeRebootAfterSuccess",
    "maxTasksPerNode",
    "taskSlotsPerNode",
    "numberOfInstances",
}
ENTITY_OPS = {
    "Pool_Get": "pool",
    "Pool_List": "pool",
    "Job_Get": "job",
    "Job_List": "job",
    "JobSchedule_Get": "schedule",
    "JobSchedule_List": "schedule",
    "Task_Get": "task",
    "Task_List": "task",
    "ComputeNode_Get": "node",
    "ComputeNode_List": "node",
}
CASES = (
    [ex for v in API_VERSIONS for ex in load_examples(SPECS_DIR, v) if ex.op in ENTITY_OPS]
    if SPECS_DIR.is_dir()
    else []
)


def key_paths(value: Any, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("odata."):
                continue
            out.add(prefix + key)
            out |= key_paths(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for item in value:
            out |= key_paths(item, prefix)
    return out


def settable(version: versions.ApiVersion, label: str, value: Any) -> Any:
    """The part of an example entity that the version's request model takes, less what the service
    fills in by default."""
    if isinstance(value, list):
        return [settable(version, label, v) for v in value]
    if not isinstance(value, dict):
        return value
    fields = version.fields(label)
    out = {}
    for key, item in value.items():
        if key in fields and key not in NOT_CREATED | READ_ONLY | DEFAULTED:
            out[key] = settable(version, fields[key], item) if fields[key] else copy.deepcopy(item)
    return out


def excused(path: str) -> bool:
    return any(path == p or path.startswith(p + ".") for p in STATE_ONLY) or any(
        path == p or path.startswith(p + ".") for p in NOT_CREATED
    )


async def create_pool(world: World, version: versions.ApiVersion, entity: dict[str, Any], pool_id: str) -> None:
    body = settable(version, version.root("POST", "/pools", "request") or "", entity)
    body.update(id=pool_id, targetLowPriorityNodes=0)
    if body.get("enableAutoScale"):
        body["autoScaleFormula"] = "$TargetDedicatedNodes = 1;"
        body.pop("targetDedicatedNodes", None)
        body.pop("targetLowPriorityNodes", None)
    else:
        body["targetDedicatedNodes"] = 1
    if "virtualMachineConfiguration" in body:
        body.pop("cloudServiceConfiguration", None)
    start = body.get("startTask")
    if start:
        start["commandLine"] = "/bin/true"
    r = await world.api.post("/pools", body)
    assert r.status_code == 201, r.text
    await world.api.wait(f"/pools/{pool_id}", lambda p: p["allocationState"] == "steady")
    await world.api.wait(
        f"/pools/{pool_id}/nodes", lambda b: bool(b["value"]) and b["value"][0]["state"] in ("idle", "starttaskfailed")
    )


async def entity_for(world: World, ex: Example, version: versions.ApiVersion, example: dict[str, Any]) -> Any:
    kind = ENTITY_OPS[ex.op]
    api = world.api
    if kind == "pool":
        await create_pool(world, version, example, "shaped")
        return (await api.get("/pools/shaped")).json()
    if kind == "node":
        # a VM size of this pool kind: node examples show cloud service sizes ("small")
        pool = {"virtualMachineConfiguration": vm(), **example, "vmSize": "standard_d2s_v3"}
        pool.pop("id", None)
        await create_pool(world, version, pool, "shaped")
        node = (await api.get("/pools/shaped/nodes")).json()["value"][0]["id"]
        return await api.wait(f"/pools/shaped/nodes/{node}", start_task_done)
    if kind == "job":
        body = settable(version, version.root("POST", "/jobs", "request") or "", example)
        body.update(id="shaped", poolInfo={"poolId": "no-such-pool"})
        assert (await api.post("/jobs", body)).status_code == 201
        return (await api.get("/jobs/shaped")).json()
    if kind == "schedule":
        body = settable(version, version.root("POST", "/jobschedules", "request") or "", example)
        body["id"] = "shaped"
        body.setdefault("schedule", {"recurrenceInterval": "PT1H"})
        body.setdefault("jobSpecification", {})["poolInfo"] = {"poolId": "no-such-pool"}
        r = await api.post("/jobschedules", body)
        assert r.status_code == 201, r.text
        return (await api.get("/jobschedules/shaped")).json()
    body = settable(version, version.root("POST", "/jobs/{jobId}/tasks", "request") or "", example)
    body.update(id="shaped")
    job = {"id": "j", "poolInfo": {"poolId": "no-such-pool"}, "usesTaskDependencies": True}
    assert (await api.post("/jobs", job)).status_code == 201
    r = await api.post("/jobs/j/tasks", body)
    assert r.status_code == 201, r.text
    return (await api.get("/jobs/j/tasks/shaped")).json()


def start_task_done(node: dict[str, Any]) -> bool:
    return "endTime" in node.get("startTaskInfo", {"endTime": None})


def vm() -> dict[str, Any]:
    return {
        "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
    }


@pytest.mark.parametrize("ex", CASES, ids=[f"{ex.version}:{ex.name}" for ex in CASES])
async def test_the_answer_has_every_key_of_the_example(ex: Example) -> None:
    version = versions.get(ex.version)
    assert version is not None
    body = decode_settings(ex.responses[str(ex.status)]["body"])
    example = body["value"][0] if "value" in body else body
    async with world_for(ex.version) as world:
        ours = await entity_for(world, ex, version, example)
    missing = sorted(p for p in key_paths(example) - key_paths(ours) if not excused(p))
    assert not missing, missing
    label = version.root("GET", ex.operation.path)
    assert not future_fields(version, label, ours)


# -- every other example answer, replayed ---------------------------------------------------------

# Example answers that show a state the replay does not reach, or options it does not set.
REPLAY_ONLY = {
    "deleteCertificateError": "a certificate whose deletion failed",
    "jobReleaseTaskExecutionInfo": "a job whose release task ran (it runs when the job ends)",
    "vmExtension.autoUpgradeMinorVersion": "an extension created with that option",
    "vmExtension.enableAutomaticUpgrade": "same",
    "properties.creationTime": "a Windows node (Linux nodes do not report file creation times)",
    "batchSupportEndOfLife": "an image with an end-of-support date",
}
# Lists the replay leaves empty (nothing in the emulator makes an item of them at once).
EMPTY_LISTS = {
    "Pool_ListUsageMetrics": "usage metrics cover whole 30-minute windows of a pool's life",
    "Task_ListSubtasks": "only multi-instance tasks have subtasks",
}
REPLAYED = (
    [
        ex
        for v in API_VERSIONS
        for ex in load_examples(SPECS_DIR, v)
        if ex.op not in ENTITY_OPS and isinstance(ex.responses[str(ex.status)].get("body"), dict)
    ]
    if SPECS_DIR.is_dir()
    else []
)


@pytest.mark.parametrize("ex", REPLAYED, ids=[f"{ex.version}:{ex.name}" for ex in REPLAYED])
async def test_replayed_examples_answer_with_every_key_of_the_example(ex: Example) -> None:
    version = versions.get(ex.version)
    assert version is not None
    example = decode_settings(ex.responses[str(ex.status)]["body"])
    async with world_for(ex.version) as world:
        await prepare(world, ex)
        if ex.op == "Account_ListPoolNodeCounts":
            await world.pool("counted")
        if ex.op == "Certificate_List":
            await world.certificate("0123456789abcdef0123456789abcdef01234567")
        method, path, query, headers, body = build_request(world, ex)
        ours = (await world.api.call(method, path, params=query, headers=headers, json=body)).json()
    if "value" in example and example["value"] and ex.op not in EMPTY_LISTS:
        assert ours["value"], "the replay answered an empty list"
    missing = sorted(
        p
        for p in key_paths(example) - key_paths(ours)
        if not excused(p.removeprefix("value."))
        and not any(p.removeprefix("value.").startswith(r) for r in REPLAY_ONLY)
    )
    if ex.op in EMPTY_LISTS and not ours.get("value"):
        missing = [p for p in missing if not p.startswith("value.")]
    if ex.op.startswith("File_List") and all(f["isDirectory"] for f in ours["value"]):
        # a node's root holds folders only (the example lists a Windows node's files)
        missing = [p for p in missing if not p.startswith("value.properties")]
    assert not missing, missing
    label = version.root(method, ex.operation.path)
    assert not future_fields(version, label, ours.get("value", ours) if "value" in ours else ours)
