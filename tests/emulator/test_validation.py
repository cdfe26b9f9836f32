"""Request-time validation the service does, with its status and codes: images and node agent SKUs
against the supported image list, VM sizes against Azure's sizes (case-insensitive), application
package references against the account's applications. An agent that guesses gets the service's
error locally, not a false success."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from batch_mcp.emulator import images, vmsizes
from tests.emulator.conftest import V2018, fast_config, make_pool, ready_pool, running

pytestmark = pytest.mark.anyio

JAMMY = {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"}


def vm(agent: str = "batch.node.ubuntu 22.04", **image: str) -> dict[str, Any]:
    return {"imageReference": image or dict(JAMMY), "nodeAgentSKUId": agent}


def refused(response: Any) -> tuple[int, str, dict[str, str]]:
    body = response.json()
    return response.status_code, body["code"], {v["key"]: v["value"] for v in body.get("values", [])}


async def test_an_unknown_node_agent_sku_is_refused() -> None:
    async with running() as (_, api):
        response = await api.post("/pools", ready_pool("p", virtualMachineConfiguration=vm("batch.node.ubuntu 99.04")))
        status, code, values = refused(response)
        assert (status, code, values["PropertyName"]) == (400, "InvalidPropertyValue", "nodeAgentSKUId")


async def test_an_image_the_service_does_not_support_is_refused_and_a_mismatch_names_the_right_sku() -> None:
    async with running() as (_, api):
        made_up = vm(publisher="canonical", offer="ubuntu", sku="22_04-lts")
        status, code, values = refused(await api.post("/pools", ready_pool("p", virtualMachineConfiguration=made_up)))
        assert (status, code, values["PropertyName"]) == (400, "InvalidPropertyValue", "imageReference")

        mismatched = vm("batch.node.ubuntu 24.04", **JAMMY)
        _, _, values = refused(await api.post("/pools", ready_pool("p", virtualMachineConfiguration=mismatched)))
        assert "batch.node.ubuntu 22.04" in values["Reason"]
        assert (await api.get("/pools/p")).status_code == 404  # nothing was created


async def test_matching_ignores_case_custom_images_pass_and_retired_images_still_work() -> None:
    async with running() as (_, api):
        shouting = vm(
            "BATCH.NODE.UBUNTU 22.04", publisher="Canonical", offer="0001-COM-UBUNTU-SERVER-JAMMY", sku="22_04-LTS"
        )
        assert (
            await api.post("/pools", ready_pool("a", nodes=0, virtualMachineConfiguration=shouting))
        ).status_code == 201
        custom = {
            "imageReference": {
                "virtualMachineImageId": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g"
                "/images/i"
            },
            "nodeAgentSKUId": "batch.node.ubuntu 24.04",
        }
        assert (
            await api.post("/pools", ready_pool("b", nodes=0, virtualMachineConfiguration=custom))
        ).status_code == 201
        # a 2018-era recording: UbuntuServer 16.04 with its retired agent is accepted, never listed
        old = vm("batch.node.ubuntu 16.04", publisher="Canonical", offer="UbuntuServer", sku="16.04-LTS")
        assert (await api.post("/pools", ready_pool("c", nodes=0, virtualMachineConfiguration=old))).status_code == 201
        listed = (await api.get("/supportedimages")).json()["value"]
        assert not any(i["nodeAgentSKUId"] == "batch.node.ubuntu 16.04" for i in listed)


@pytest.mark.parametrize(
    "image_id",
    [
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/images/golden",
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/i",
        "/subscriptions/s/resourcegroups/r/providers/microsoft.compute/galleries/g/images/i/versions/1.0.0",
    ],
)
async def test_a_custom_image_id_names_a_managed_image_or_a_gallery_image(image_id: str) -> None:
    async with running() as (_, api):
        custom = {"imageReference": {"virtualMachineImageId": image_id}, "nodeAgentSKUId": "batch.node.ubuntu 22.04"}
        response = await api.post("/pools", ready_pool("p", nodes=0, virtualMachineConfiguration=custom))
        assert response.status_code == 201


@pytest.mark.parametrize(
    "image_id",
    [
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/gallery/g/images/i/versions/v",  # 'gallery'
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g",  # a gallery, not an image
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a",
        "my-golden-image",
    ],
)
async def test_a_custom_image_id_that_is_no_image_resource_is_refused_and_nothing_is_made(image_id: str) -> None:
    async with running() as (_, api):
        custom = {"imageReference": {"virtualMachineImageId": image_id}, "nodeAgentSKUId": "batch.node.ubuntu 22.04"}
        status, code, values = refused(
            await api.post("/pools", ready_pool("p", nodes=0, virtualMachineConfiguration=custom))
        )
        assert (status, code, values["PropertyName"], values["PropertyValue"]) == (
            400,
            "InvalidPropertyValue",
            "virtualMachineImageId",
            image_id,
        )
        assert (await api.get("/pools/p")).status_code == 404


async def test_vm_sizes_are_checked_without_case_and_cloud_service_sizes_stay_with_cloud_services() -> None:
    async with running() as (_, api):
        assert (await api.post("/pools", ready_pool("a", nodes=0, vmSize="STANDARD_D8S_V5"))).status_code == 201
        status, code, values = refused(await api.post("/pools", ready_pool("b", nodes=0, vmSize="Standard_Q9000")))
        assert (status, code, values["PropertyName"]) == (400, "InvalidPropertyValue", "vmSize")
        _, _, values = refused(await api.post("/pools", ready_pool("b", nodes=0, vmSize="small")))
        assert "cloudServiceConfiguration" in values["Reason"]
        v2018 = api.at(V2018)
        classic = {"id": "c", "vmSize": "small", "cloudServiceConfiguration": {"osFamily": "5"}}
        assert (await v2018.post("/pools", classic)).status_code == 201
        status, _, values = refused(
            await v2018.post("/pools", {**classic, "id": "d", "cloudServiceConfiguration": {"osFamily": "9"}})
        )
        assert (status, values["PropertyName"]) == (400, "osFamily")
        status, code, values = refused(await api.post("/pools", {"id": "e", "vmSize": "standard_d2s_v3"}))
        assert (status, code, values["PropertyName"]) == (400, "MissingRequiredProperty", "virtualMachineConfiguration")


async def test_every_listed_image_makes_a_valid_pool_and_the_list_reads_like_the_services() -> None:
    async with running() as (_, api):
        listed = (await api.get("/supportedimages")).json()["value"]
        assert len(listed) >= 50
        assert {i["osType"] for i in listed} == {"linux", "windows"}
        assert {i["verificationType"] for i in listed} == {"verified", "unverified"}
        assert any(i.get("batchSupportEndOfLife") for i in listed)
        assert all(
            "Generation2VMImage" in i.get("capabilities", [])
            for i in listed
            if i["imageReference"]["sku"].endswith("-gen2")
        )
        for image in listed:
            images.check_virtual_machine_configuration(
                {"imageReference": image["imageReference"], "nodeAgentSKUId": image["nodeAgentSKUId"]}
            )
        unverified = (await api.get("/supportedimages", params={"$filter": "verificationType eq 'unverified'"})).json()
        assert unverified["value"] and all(i["verificationType"] == "unverified" for i in unverified["value"])
        skus = (await api.at(V2018).get("/nodeagentskus")).json()["value"]
        assert {s["id"] for s in skus} == {i["nodeAgentSKUId"] for i in listed}


async def test_a_job_whose_auto_pool_names_an_unknown_image_completes_with_a_scheduling_error() -> None:
    async with running() as (_, api):
        pool = ready_pool("x", virtualMachineConfiguration=vm(publisher="nobody", offer="nothing", sku="1"))
        del pool["id"]
        job = {"id": "j", "poolInfo": {"autoPoolSpecification": {"poolLifetimeOption": "job", "pool": pool}}}
        assert (await api.post("/jobs", job)).status_code == 201
        error = (await api.get("/jobs/j")).json()["executionInfo"]["schedulingError"]
        assert (error["category"], error["code"]) == ("usererror", "InvalidAutoPoolSettings")


# -- applications ----------------------------------------------------------------------------------


def package(folder: Path, app: str, version: str, files: dict[str, str]) -> None:
    (folder / app).mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / app / f"{version}.zip", "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)


async def test_application_references_are_checked_against_the_accounts_applications(tmp_path: Path) -> None:
    package(tmp_path, "blender", "2.7", {"bin/blender": "#!/bin/sh\n"})
    async with running(fast_config(applications_dir=tmp_path)) as (_, api):
        apps = (await api.get("/applications")).json()["value"]
        assert apps == [{"id": "blender", "displayName": "blender", "versions": ["2.7"]}]
        assert (await api.get("/applications/BLENDER")).json()["versions"] == ["2.7"]
        assert (await api.get("/applications/maya")).json()["code"] == "ApplicationNotFound"

        good = [{"applicationId": "blender", "version": "2.7"}]
        assert (
            await api.post("/pools", ready_pool("a", nodes=0, applicationPackageReferences=good))
        ).status_code == 201
        for bad in (
            [{"applicationId": "maya", "version": "1"}],
            [{"applicationId": "blender", "version": "9"}],
            [{"applicationId": "blender"}],
        ):  # no version and no default version
            status, code, _ = refused(
                await api.post("/pools", ready_pool("b", nodes=0, applicationPackageReferences=bad))
            )
            assert (status, code) == (409, "InvalidApplicationPackageReferences")
        patch = await api.call("PATCH", "/pools/a", json={"applicationPackageReferences": [{"applicationId": "maya"}]})
        assert refused(patch)[:2] == (409, "InvalidApplicationPackageReferences")


async def test_a_task_finds_its_packages_unpacked_on_the_node_and_named_in_its_environment(tmp_path: Path) -> None:
    apps = tmp_path / "apps"
    package(apps, "tool", "1.0", {"README": "tool one"})
    package(apps, "lib", "2-b", {"lib.txt": "lib two"})
    (apps / "lib" / "application.json").write_text('{"displayName": "The lib", "defaultVersion": "2-b"}')
    async with running(fast_config(applications_dir=apps)) as (_, api):
        assert (await api.get("/applications/lib")).json()["displayName"] == "The lib"
        pool_refs = [{"applicationId": "lib"}]  # default version: AZ_BATCH_APP_PACKAGE_lib
        await make_pool(api, "p", applicationPackageReferences=pool_refs)
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        command = "/bin/sh -c 'cat $AZ_BATCH_APP_PACKAGE_tool_1_0/README; echo; cat $AZ_BATCH_APP_PACKAGE_lib/lib.txt'"
        task = {
            "id": "t",
            "commandLine": command,
            "applicationPackageReferences": [{"applicationId": "tool", "version": "1.0"}],
        }
        await api.post("/jobs/j/tasks", task)
        done = await api.wait("/jobs/j/tasks/t", lambda t: t["state"] == "completed")
        assert done["executionInfo"]["result"] == "success", done
        out = (await api.get("/jobs/j/tasks/t/files/stdout.txt")).text
        assert out.split() == ["tool", "one", "lib", "two"]

        missing = {
            "id": "m",
            "commandLine": "/bin/true",
            "applicationPackageReferences": [{"applicationId": "gone", "version": "1"}],
        }
        await api.post("/jobs/j/tasks", missing)
        failed = await api.wait("/jobs/j/tasks/m", lambda t: t["state"] == "completed")
        assert failed["executionInfo"]["failureInfo"]["code"] == "ApplicationPackageError"


# -- $filter ---------------------------------------------------------------------------------------


async def test_a_filter_on_a_property_the_list_cannot_filter_on_is_the_services_400() -> None:
    async with running() as (_, api):
        await make_pool(api, "p")
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post("/jobs/j/tasks", {"id": "t", "commandLine": "/bin/sh -c 'exit 3'"})
        await api.wait("/jobs/j/tasks/t", lambda t: t["state"] == "completed")
        response = await api.get("/jobs/j/tasks", params={"$filter": "exitCode eq 3"})
        status, code, values = refused(response)
        assert (status, code, values["QueryParameterName"]) == (400, "InvalidQueryParameterValue", "$filter")
        assert "executionInfo/exitCode" in values["Reason"]  # the property the caller meant
        assert refused(await api.get("/jobs/j/tasks", params={"$filter": "State eq 'completed'"}))[0] == 400
        found = await api.get("/jobs/j/tasks", params={"$filter": "executionInfo/exitCode eq 3"})
        assert [t["id"] for t in found.json()["value"]] == ["t"]
        nodes = await api.get("/pools/p/nodes", params={"$filter": "state eq 'idle' or startTaskInfo/exitCode ne 0"})
        assert nodes.status_code == 200
        assert refused(await api.get("/pools/p/nodes", params={"$filter": "startswith(id, 'tvm')"}))[0] == 400


async def test_numbers_and_booleans_sent_as_strings_are_read_as_the_service_reads_them() -> None:
    """The Azure CLI sends `"targetDedicatedNodes": "1"`; the service accepts it, so does the emulator."""
    async with running() as (_, api):
        pool = ready_pool("p", nodes=0, taskSlotsPerNode="3", enableInterNodeCommunication="true")
        pool["targetDedicatedNodes"] = "1"
        assert (await api.post("/pools", pool)).status_code == 201
        got = (await api.get("/pools/p")).json()
        assert (got["targetDedicatedNodes"], got["taskSlotsPerNode"], got["enableInterNodeCommunication"]) == (
            1,
            3,
            True,
        )
        bad = ready_pool("q", nodes=0)
        bad["targetDedicatedNodes"] = "one"
        status, code, values = refused(await api.post("/pools", bad))
        assert (status, code, values["PropertyName"]) == (400, "InvalidPropertyValue", "targetDedicatedNodes")


async def test_the_seeded_local_pool_is_one_the_service_would_accept() -> None:
    async with running(fast_config(seed_pool=True)) as (_, api):
        pool = (await api.get("/pools/local")).json()
        images.check_virtual_machine_configuration(pool["virtualMachineConfiguration"])
        vmsizes.check_vm_size(pool["vmSize"], cloud_service=False)
        again = {k: pool[k] for k in ("vmSize", "virtualMachineConfiguration", "taskSlotsPerNode")}
        assert (await api.post("/pools", {"id": "copy", **again})).status_code == 201


async def test_a_pool_update_that_names_new_machines_is_checked_like_a_new_pool() -> None:
    async with running() as (_, api):
        assert (await api.post("/pools", ready_pool("p", nodes=0))).status_code == 201
        newer = api.at("2025-06-01")
        response = await newer.call("PATCH", "/pools/p", json={"vmSize": "Standard_Q9000"})
        status, code, values = refused(response)
        assert (status, code, values["PropertyName"]) == (400, "InvalidPropertyValue", "vmSize")


async def test_batch_mcp_emulator_app_registers_packages_a_running_emulator_serves(tmp_path: Path) -> None:
    from batch_mcp.cli import main

    source = tmp_path / "build"
    source.mkdir()
    (source / "tool.sh").write_text("echo from the package\n")
    state = tmp_path / "state"
    async with running(fast_config(data_dir=str(state))) as (_, api):
        assert (await api.get("/applications")).json()["value"] == []
        argv = ["emulator", "app", "add", "tools", "3.1", str(source), "--default", "--data-dir", str(state)]
        assert main(argv) == 0
        assert (await api.get("/applications/tools")).json()["versions"] == ["3.1"]
        await make_pool(api, "p", applicationPackageReferences=[{"applicationId": "tools"}])
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        await api.post(
            "/jobs/j/tasks", {"id": "t", "commandLine": "/bin/sh -c 'sh $AZ_BATCH_APP_PACKAGE_tools/tool.sh'"}
        )
        await api.wait("/jobs/j/tasks/t", lambda t: t["state"] == "completed")
        assert (await api.get("/jobs/j/tasks/t/files/stdout.txt")).text == "from the package\n"
        assert main(["emulator", "app", "remove", "tools", "--data-dir", str(state)]) == 0
        assert (await api.get("/applications")).json()["value"] == []
        assert main(["emulator", "app", "add", "bad id", "1", str(source), "--data-dir", str(state)]) == 2


async def test_null_for_an_optional_property_reads_as_left_out_and_a_null_in_a_list_is_named_null() -> None:
    """Clients that serialise unset fields as `null` (`"startTask": null`) get what leaving them out
    gets, as from the service; a null where a value must be is refused, its value shown as JSON."""
    async with running() as (_, api):
        assert (await api.post("/pools", ready_pool("p", nodes=0, startTask=None, metadata=None))).status_code == 201
        assert "startTask" not in (await api.get("/pools/p")).json()
        job = {"id": "j", "poolInfo": {"poolId": "p"}, "constraints": None, "jobManagerTask": None}
        assert (await api.post("/jobs", job)).status_code == 201
        task = {"id": "t", "commandLine": "true", "constraints": {"maxTaskRetryCount": None}, "resourceFiles": None}
        assert (await api.post("/jobs/j/tasks", task)).status_code == 201
        assert (await api.call("PATCH", "/jobs/j", json={"priority": None, "metadata": None})).status_code == 200
        assert (await api.get("/jobs/j")).json()["priority"] == 0

        listed = {"id": "u", "commandLine": "true", "environmentSettings": [None]}
        status, code, values = refused(await api.post("/jobs/j/tasks", listed))
        assert (status, code, values["PropertyValue"]) == (400, "InvalidPropertyValue", "null")
        assert refused(await api.post("/jobs/j/tasks", {"id": "v", "commandLine": None}))[:2] == (
            400,
            "MissingRequiredProperty",
        )


async def test_an_int32_field_past_its_range_is_refused_as_the_service_refuses_it() -> None:
    """2^31 nodes or retries does not fit the service's 32-bit fields: 400, not a pool whose
    target reads 2147483648."""
    async with running() as (_, api):
        status, code, values = refused(await api.post("/pools", ready_pool("p", nodes=2**31)))
        assert (status, code, values["PropertyName"]) == (400, "InvalidPropertyValue", "targetDedicatedNodes")
        await api.post("/jobs", {"id": "j", "poolInfo": {"poolId": "p"}})
        over = {"id": "t", "commandLine": "true", "constraints": {"maxTaskRetryCount": 2**31}}
        assert refused(await api.post("/jobs/j/tasks", over))[:2] == (400, "InvalidPropertyValue")
        edge = {"id": "t", "commandLine": "true", "constraints": {"maxTaskRetryCount": 2**31 - 1}}
        assert (await api.post("/jobs/j/tasks", edge)).status_code == 201
