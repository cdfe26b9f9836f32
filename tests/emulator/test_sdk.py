"""The official Python SDK (azure-batch 15.1.0, api-version 2025-06-01) as a real client of the
emulator, signing every request with Shared Key."""

from __future__ import annotations

import time

import anyio
import pytest
from azure.batch import BatchClient, models
from azure.core.credentials import AzureNamedKeyCredential

from batch_mcp.emulator import DEV_ACCOUNT_KEY, DEV_ACCOUNT_NAME, EmbeddedEmulator
from tests.emulator.conftest import fast_config

TASKS = 500


def wait(predicate, timeout: float = 60, interval: float = 0.05) -> None:
    """A bounded poll for the synchronous SDK thread."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(interval)


def drive(url: str) -> dict[str, object]:
    client = BatchClient(endpoint=url, credential=AzureNamedKeyCredential(DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY))
    client.create_pool(
        models.BatchPoolCreateOptions(
            id="sdkpool",
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=models.VirtualMachineConfiguration(
                image_reference=models.BatchVmImageReference(
                    publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts", version="latest"
                ),
                node_agent_sku_id="batch.node.ubuntu 22.04",
            ),
            target_dedicated_nodes=2,
            task_slots_per_node=4,
        )
    )
    wait(lambda: client.get_pool("sdkpool").allocation_state == models.AllocationState.STEADY)
    client.create_job(models.BatchJobCreateOptions(id="sdkjob", pool_info=models.BatchPoolInfo(pool_id="sdkpool")))
    tasks = [
        models.BatchTaskCreateOptions(id=f"t{i:03d}", command_line=f"/bin/sh -c 'echo hello-from-{i:03d}'")
        for i in range(TASKS)
    ]
    added = client.create_tasks("sdkjob", tasks, max_concurrency=2)
    wait(lambda: client.get_job_task_counts("sdkjob").task_counts.completed == TASKS, timeout=240, interval=0.2)
    counts = client.get_job_task_counts("sdkjob").task_counts
    listed = list(client.list_tasks("sdkjob", select=["id", "state"]))
    first = b"".join(client.download_task_file("sdkjob", "t007", "stdout.txt", ocp_range="bytes=0-9"))
    task = client.get_task("sdkjob", "t007")
    client.begin_delete_job("sdkjob", polling_interval=1).result()
    client.begin_delete_pool("sdkpool", polling_interval=1).result()
    pools_left = [p.id for p in client.list_pools()]
    return {
        "added": added,
        "counts": counts,
        "listed": listed,
        "first": first,
        "task": task,
        "pools_left": pools_left,
    }


@pytest.mark.slow
@pytest.mark.anyio
async def test_official_sdk_runs_500_tasks_end_to_end_with_shared_key() -> None:
    config = fast_config(
        account_name=DEV_ACCOUNT_NAME, account_key=DEV_ACCOUNT_KEY, transition_delay=0.05, tick_interval=0.02
    )
    async with EmbeddedEmulator(config) as emu:
        with anyio.fail_after(300):
            out = await anyio.to_thread.run_sync(drive, emu.url)
    assert len(out["added"].result_values) == TASKS  # type: ignore[attr-defined]
    assert all(r.status == models.BatchTaskAddStatus.SUCCESS for r in out["added"].result_values)  # type: ignore[attr-defined]
    counts = out["counts"]
    assert (counts.succeeded, counts.failed, counts.active, counts.running) == (TASKS, 0, 0, 0)  # type: ignore[attr-defined]
    assert len(out["listed"]) == TASKS  # type: ignore[arg-type]
    assert {t.state for t in out["listed"]} == {models.BatchTaskState.COMPLETED}  # type: ignore[attr-defined]
    assert out["first"] == b"hello-from"
    assert out["task"].execution_info.exit_code == 0  # type: ignore[attr-defined]
    assert out["pools_left"] == []


def drive_nodes_and_numbers(url: str) -> dict[str, object]:
    client = BatchClient(endpoint=url, credential=AzureNamedKeyCredential(DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY))
    client.create_pool(
        models.BatchPoolCreateOptions(
            id="p",
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=models.VirtualMachineConfiguration(
                image_reference=models.BatchVmImageReference(
                    publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts"
                ),
                node_agent_sku_id="batch.node.ubuntu 22.04",
            ),
            target_dedicated_nodes=1,
        )
    )
    wait(lambda: [n.state for n in client.list_nodes("p")] == [models.BatchNodeState.IDLE])
    node = next(iter(client.list_nodes("p"))).id
    # the SDK needs options here (without them it fails to build the request)
    client.begin_deallocate_node("p", node, {"nodeDeallocateOption": "requeue"}, polling_interval=0.05).result()
    deallocated = client.get_node("p", node).state
    client.begin_start_node("p", node, polling_interval=0.05).result()
    wait(lambda: client.get_node("p", node).state == models.BatchNodeState.IDLE)
    client.create_job(models.BatchJobCreateOptions(id="j", pool_info=models.BatchPoolInfo(pool_id="p")))
    client.create_task("j", models.BatchTaskCreateOptions(id="t", command_line="/bin/sh -c 'echo hi'"))
    wait(lambda: client.get_task("j", "t").state == models.BatchTaskState.COMPLETED)
    return {
        "deallocated": deallocated,
        "stats": client.get_job("j", expand=["stats"]).job_statistics,
        "files": [f for f in client.list_task_files("j", "t") if not f.is_directory],
        "task": client.get_task("j", "t"),
    }


@pytest.mark.anyio
async def test_official_sdk_deallocates_and_starts_nodes_and_reads_64_bit_counters() -> None:
    """Node deallocate/start (2024-07-01.20.0 on) through the SDK's pollers; the counters the service
    writes as strings reach the SDK's models as numbers."""
    config = fast_config(account_name=DEV_ACCOUNT_NAME, account_key=DEV_ACCOUNT_KEY)
    async with EmbeddedEmulator(config) as emu:
        with anyio.fail_after(120):
            out = await anyio.to_thread.run_sync(drive_nodes_and_numbers, emu.url)
    assert out["deallocated"] == models.BatchNodeState.DEALLOCATED
    assert out["stats"].succeeded_tasks_count == 1  # type: ignore[attr-defined]
    assert out["stats"].read_iops == 0  # type: ignore[attr-defined]
    assert {f.name: f.properties.content_length for f in out["files"]}["stdout.txt"] == 3  # type: ignore[attr-defined]
    assert out["task"].user_identity.auto_user.scope == models.AutoUserScope.POOL  # type: ignore[attr-defined]


def drive_replacements(url: str) -> dict[str, object]:
    client = BatchClient(endpoint=url, credential=AzureNamedKeyCredential(DEV_ACCOUNT_NAME, DEV_ACCOUNT_KEY))
    client.create_pool(
        models.BatchPoolCreateOptions(
            id="p",
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=models.VirtualMachineConfiguration(
                image_reference=models.BatchVmImageReference(
                    publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts"
                ),
                node_agent_sku_id="batch.node.ubuntu 22.04",
            ),
            target_dedicated_nodes=3,  # one more than the emulator's cap below: the pool stops at 2
            metadata=[models.BatchMetadataItem(name="old", value="1")],
        )
    )
    wait(lambda: client.get_pool("p").allocation_state == models.AllocationState.STEADY)
    short = client.get_pool("p")
    # 2025-06-01 pools have no certificate references: the SDK's replace body has none
    client.replace_pool_properties(
        "p",
        models.BatchPoolReplaceOptions(
            application_package_references=[], metadata=[models.BatchMetadataItem(name="new", value="2")]
        ),
    )
    nodes = [n.id for n in client.list_nodes("p")]
    client.begin_remove_nodes("p", models.BatchNodeRemoveOptions(node_ids=nodes[:1]), polling_interval=0.05).result()
    wait(lambda: len(list(client.list_nodes("p"))) == 1)
    client.create_job(
        models.BatchJobCreateOptions(id="j", pool_info=models.BatchPoolInfo(pool_id="p"), max_parallel_tasks=2)
    )
    client.replace_job("j", models.BatchJob(pool_info=models.BatchPoolInfo(pool_id="p"), priority=5))
    return {"short": short, "pool": client.get_pool("p"), "job": client.get_job("j")}


@pytest.mark.anyio
async def test_official_sdk_replaces_pool_and_job_properties_and_removes_nodes_from_a_short_pool() -> None:
    """replace_pool_properties as 2025-06-01 sends it (no certificateReferences); a job replace
    resets maxParallelTasks to its default; removing a node from a pool that stopped short of its
    target leaves it one node smaller instead of growing it back."""
    config = fast_config(account_name=DEV_ACCOUNT_NAME, account_key=DEV_ACCOUNT_KEY, max_nodes_per_pool=2)
    async with EmbeddedEmulator(config) as emu:
        with anyio.fail_after(120):
            out = await anyio.to_thread.run_sync(drive_replacements, emu.url)
    short, pool, job = out["short"], out["pool"], out["job"]
    assert (short.target_dedicated_nodes, short.current_dedicated_nodes) == (3, 2)  # type: ignore[attr-defined]
    assert [(m.name, m.value) for m in pool.metadata] == [("new", "2")]  # type: ignore[attr-defined]
    assert (pool.target_dedicated_nodes, pool.current_dedicated_nodes) == (1, 1)  # type: ignore[attr-defined]
    assert (job.priority, job.max_parallel_tasks) == (5, -1)  # type: ignore[attr-defined]
