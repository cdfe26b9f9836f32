"""Compute nodes: start (with the pool's start task), reboot, reimage, scheduling on/off, leaving
the pool, users, remote login and the other per-node views.

Node states follow the service: starting → (waitingforstarttask) → idle ↔ running; offline when
scheduling is disabled and nothing runs; rebooting/reimaging → starting; leavingpool → gone;
starttaskfailed when a start task with waitForSuccess fails for good.
"""

from __future__ import annotations

import time
from typing import Any

from batch_mcp.emulator import errors
from batch_mcp.emulator.backend.base import BackendBase
from batch_mcp.emulator.store import Entity
from batch_mcp.emulator.timefmt import iso

NODE_AGENT_VERSION = "1.12.5"
BUSY_STATES = frozenset({"idle", "running", "offline"})  # usable states where occupancy decides the name
REMOTE_LOGIN_BASE_PORT = 50000
CLOUD_SERVICE_RDP_ENDPOINT = "Microsoft.WindowsAzure.Plugins.RemoteForwarder.RdpInput"
DEFAULT_IMAGE = {
    "publisher": "canonical",
    "offer": "0001-com-ubuntu-server-jammy",
    "sku": "22_04-lts",
    "version": "latest",
}


def used_slots(node: Entity) -> int:
    """Task slots held on a node: each run id maps to {job, task, run, slots}."""
    return sum(entry["slots"] for entry in node.internal.get("slots", {}).values())


class NodeOps(BackendBase):
    # -- lifecycle ----------------------------------------------------------------------------

    def create_node(self, pool: Entity, dedicated: bool, now: float) -> Entity:
        pool.internal["node_counter"] = pool.internal.get("node_counter", 0) + 1
        stamp = time.strftime("%Y%m%dt%H%M%Sz", time.gmtime(now))
        node_id = f"tvm-{pool.internal['node_prefix']}_{pool.internal['node_counter']}-{stamp}"
        vm = pool.body.get("virtualMachineConfiguration") or {}
        index = pool.internal["node_counter"]
        body: dict[str, Any] = {
            "id": node_id,
            "url": self.url(f"/pools/{pool.id}/nodes/{node_id}"),
            "state": "starting",
            "schedulingState": "enabled",
            "stateTransitionTime": iso(now),
            "lastBootTime": iso(now),
            "allocationTime": iso(now),
            "ipAddress": "127.0.0.1",
            "affinityId": f"TVM:{node_id}",
            "vmSize": pool.body.get("vmSize", ""),
            "totalTasksRun": 0,
            "runningTasksCount": 0,
            "runningTaskSlotsCount": 0,
            "totalTasksSucceeded": 0,
            "isDedicated": dedicated,
            "endpointConfiguration": {"inboundEndpoints": [self.login_endpoint(pool, index)]},
            "nodeAgentInfo": {"version": NODE_AGENT_VERSION, "lastUpdateTime": iso(now)},
            "virtualMachineInfo": {"imageReference": vm.get("imageReference") or DEFAULT_IMAGE},
        }
        body["certificateReferences"] = list(pool.body.get("certificateReferences") or [])
        node = self.new_entity("node", pool.id, node_id, body, now)
        node.internal["index"] = index
        node.internal["slots"] = {}
        node.internal["users"] = {}
        self.files.prepare_node(pool.id, node_id)
        self.set_timer(node, "started", now + self.delay())
        self.insert(node)
        return node

    def finish_start(self, node: Entity, now: float) -> None:
        """The node agent is up: run the start task, or go idle."""
        pool = self.find("pool", "", node.parent)
        start_task = (pool.body.get("startTask") if pool else None) or None
        node.body["lastBootTime"] = iso(now)
        node.internal["slots"] = {}
        if start_task:
            node.body["startTask"] = start_task
            node.body["startTaskInfo"] = {"state": "running", "startTime": iso(now), "retryCount": 0}
            wait = start_task.get("waitForSuccess", True)
            self.set_node_state(node, "waitingforstarttask" if wait else "idle", now)
            self.launch_start_task(node, start_task)
        else:
            node.body.pop("startTaskInfo", None)
            self.set_node_state(node, "idle", now)
        self.wakeup.set()

    def finish_start_task(self, node: Entity, info: dict[str, Any], now: float) -> None:
        node.body["startTaskInfo"] = info
        if node.body["state"] == "waitingforstarttask":
            self.set_node_state(node, "idle" if info.get("result") == "success" else "starttaskfailed", now)
        self.touch(node, now)
        self.wakeup.set()

    def set_node_state(self, node: Entity, state: str, now: float) -> None:
        if node.body["state"] != state:
            node.body["state"] = state
            node.body["stateTransitionTime"] = iso(now)
            self.touch(node, now)

    def refresh_occupancy(self, node: Entity, now: float) -> None:
        """After a slot is taken or freed: running/idle/offline, and the counters."""
        slots = node.internal.get("slots", {})
        node.body["runningTasksCount"] = len(slots)
        node.body["runningTaskSlotsCount"] = used_slots(node)
        if node.body["state"] in BUSY_STATES:
            if slots:
                state = "running"
            elif node.body.get("schedulingState") == "disabled":
                state = "offline"
            else:
                state = "idle"
            self.set_node_state(node, state, now)
        self.touch(node, now)

    def schedulable(self, node: Entity) -> bool:
        return node.body["state"] in ("idle", "running") and node.body.get("schedulingState") == "enabled"

    def free_slots(self, node: Entity, pool: Entity) -> int:
        return pool.body.get("taskSlotsPerNode", 1) - used_slots(node)

    def begin_leaving(self, node: Entity, option: str, now: float) -> None:
        """Remove a node from its pool, handling its running tasks per the deallocation option."""
        if option in ("taskcompletion", "retaineddata") and node.internal.get("slots"):
            node.body["schedulingState"] = "disabled"
            node.internal["leave_when_idle"] = True
            self.touch(node, now)
        else:
            self.evict_runs(node, "terminate" if option == "terminate" else "requeue", now)
            self.set_node_state(node, "leavingpool", now)
            self.clear_timer(node, "started")
            self.set_timer(node, "left", now + self.delay())
        self.save(node)

    def finish_leaving(self, node: Entity) -> None:
        self.store.delete("node", node.parent, node.id)
        self.files.remove_node(node.parent, node.id)
        pool = self.find("pool", "", node.parent)
        if pool is not None and pool.body["state"] != "deleting":
            self.count_nodes(pool)
            self.touch(pool)
            self.save(pool)

    # -- operations ---------------------------------------------------------------------------

    def get_node(self, pool_id: str, node_id: str) -> Entity:
        self.get("pool", "", pool_id)
        return self.get("node", pool_id, node_id)

    def list_nodes(self, pool_id: str) -> list[Entity]:
        self.get("pool", "", pool_id)
        return self.store.list("node", pool_id)

    def usable_node(self, pool_id: str, node_id: str) -> Entity:
        node = self.get_node(pool_id, node_id)
        state = node.body["state"]
        if state in ("starting", "creating", "waitingforstarttask"):
            raise errors.conflict("NodeBeingCreated", "The node is still starting.")
        if state == "rebooting":
            raise errors.conflict("NodeBeingRebooted", "The node is rebooting.")
        if state == "reimaging":
            raise errors.conflict("NodeBeingReimaged", "The node is being reimaged.")
        if state == "leavingpool":
            raise errors.conflict("NodeStateUnusable", "The node is leaving the pool.")
        return node

    def reboot_node(
        self, pool_id: str, node_id: str, params: dict[str, Any] | None, *, reimage: bool = False
    ) -> Entity:
        node = self.usable_node(pool_id, node_id)
        key = "nodeReimageOption" if reimage else "nodeRebootOption"
        option = (params or {}).get(key) or "requeue"
        now = self.now()
        if option in ("taskcompletion", "retaineddata") and node.internal.get("slots"):
            node.internal["after_tasks"] = "reimage" if reimage else "reboot"
            node.body["schedulingState"] = "disabled"
            self.touch(node, now)
        else:
            self.evict_runs(node, "terminate" if option == "terminate" else "requeue", now)
            self.begin_restart(node, reimage, now)
        self.save(node)
        return node

    def reimage_node(
        self, pool_id: str, node_id: str, params: dict[str, Any] | None, *, virtual_machines: bool = False
    ) -> Entity:
        """Up to 2024-02-01.19.0 only nodes of cloud service pools reimage: the service refuses it for
        virtual machine pools (409 OperationNotValidOnNode) and nothing happens to the node. From
        2024-07-01.20.0 on (no cloud service pools left), virtual machine nodes reimage too."""
        self.get_node(pool_id, node_id)
        if not virtual_machines and not self.cloud_service_pool(pool_id):
            raise errors.conflict(
                "OperationNotValidOnNode",
                "The specified operation is not valid on the node.",
                {
                    "Reason": "Reimage is only for nodes of cloudServiceConfiguration pools in this api-version; "
                    "for a node of a virtualMachineConfiguration pool, reboot it, remove it from the pool, "
                    "or use api-version 2024-07-01.20.0 or later."
                },
            )
        return self.reboot_node(pool_id, node_id, params, reimage=True)

    def begin_restart(self, node: Entity, reimage: bool, now: float) -> None:
        node.internal.pop("after_tasks", None)
        if node.body.get("schedulingState") == "disabled" and not node.internal.get("user_disabled"):
            node.body["schedulingState"] = "enabled"
        self.set_node_state(node, "reimaging" if reimage else "rebooting", now)
        self.set_timer(node, "reimaged" if reimage else "rebooted", now + self.delay())

    def finish_restart(self, node: Entity, reimage: bool, now: float) -> None:
        if reimage:
            self.files.clean_node(node.parent, node.id)
            node.internal["users"] = {}
        self.set_node_state(node, "starting", now)
        self.set_timer(node, "started", now + self.delay())

    def deallocate_node(self, pool_id: str, node_id: str, params: dict[str, Any] | None) -> Entity:
        """Stop a node's VM (2024-07-01.20.0 on): deallocating, then deallocated until started."""
        node = self.usable_node(pool_id, node_id)
        if node.body["state"] in ("deallocating", "deallocated"):
            raise errors.conflict("NodeDeallocated", "The node is deallocated or being deallocated.")
        option = (params or {}).get("nodeDeallocateOption") or "requeue"
        if option not in ("requeue", "terminate", "taskcompletion", "retaineddata"):
            raise errors.invalid_property("nodeDeallocateOption", option)
        now = self.now()
        if option in ("taskcompletion", "retaineddata") and node.internal.get("slots"):
            node.internal["after_tasks"] = "deallocate"
            node.body["schedulingState"] = "disabled"
            self.touch(node, now)
        else:
            self.evict_runs(node, "terminate" if option == "terminate" else "requeue", now)
            self.begin_deallocate(node, now)
        self.save(node)
        return node

    def begin_deallocate(self, node: Entity, now: float) -> None:
        node.internal.pop("after_tasks", None)
        self.set_node_state(node, "deallocating", now)
        self.set_timer(node, "deallocated", now + self.delay())

    def finish_deallocate(self, node: Entity, now: float) -> None:
        self.set_node_state(node, "deallocated", now)

    def start_node(self, pool_id: str, node_id: str) -> Entity:
        """Start a deallocated node again; it boots like a rebooted one."""
        node = self.get_node(pool_id, node_id)
        if node.body["state"] != "deallocated":
            raise errors.conflict("NodeNotDeallocated", "Only a deallocated node can be started.")
        now = self.now()
        self.finish_restart(node, False, now)
        self.save(node)
        return node

    def disable_scheduling_node(self, pool_id: str, node_id: str, params: dict[str, Any] | None) -> Entity:
        node = self.get_node(pool_id, node_id)
        option = (params or {}).get("nodeDisableSchedulingOption") or "requeue"
        now = self.now()
        node.body["schedulingState"] = "disabled"
        node.internal["user_disabled"] = True
        if option != "taskcompletion":
            self.evict_runs(node, "terminate" if option == "terminate" else "requeue", now)
        self.refresh_occupancy(node, now)
        self.save(node)
        return node

    def enable_scheduling_node(self, pool_id: str, node_id: str) -> Entity:
        node = self.get_node(pool_id, node_id)
        now = self.now()
        node.body["schedulingState"] = "enabled"
        node.internal.pop("user_disabled", None)
        self.refresh_occupancy(node, now)
        self.save(node)
        self.wakeup.set()
        return node

    def add_user_node(self, pool_id: str, node_id: str, params: dict[str, Any]) -> Entity:
        node = self.usable_node(pool_id, node_id)
        users = node.internal.setdefault("users", {})
        name = params["name"]
        if name.lower() in users:
            raise errors.exists("user", name)
        # the password is never stored: the emulator has no login to protect with it
        users[name.lower()] = {
            "name": name,
            "isAdmin": params.get("isAdmin", False),
            "expiryTime": params.get("expiryTime"),
            "hasSshKey": bool(params.get("sshPublicKey")),
        }
        self.touch(node)
        self.save(node)
        return node

    def update_user_node(self, pool_id: str, node_id: str, user_name: str, params: dict[str, Any]) -> Entity:
        node = self.usable_node(pool_id, node_id)
        user = node.internal.get("users", {}).get(user_name.lower())
        if user is None:
            raise errors.not_found("user", user_name)
        user["expiryTime"] = params.get("expiryTime")
        user["hasSshKey"] = bool(params.get("sshPublicKey"))
        self.touch(node)
        self.save(node)
        return node

    def delete_user_node(self, pool_id: str, node_id: str, user_name: str) -> Entity:
        node = self.usable_node(pool_id, node_id)
        if node.internal.get("users", {}).pop(user_name.lower(), None) is None:
            raise errors.not_found("user", user_name)
        self.touch(node)
        self.save(node)
        return node

    @staticmethod
    def login_endpoint(pool: Entity, index: int) -> dict[str, Any]:
        """How a node is reached: SSH on its own port for virtual machine pools; for cloud service
        pools, RDP on 3389 shared by every node, told apart by the RDP file's load-balancing cookie."""
        if pool.body.get("cloudServiceConfiguration"):
            name, frontend, backend = CLOUD_SERVICE_RDP_ENDPOINT, 3389, 20000
        else:
            name, frontend, backend = "SSHRule.0", REMOTE_LOGIN_BASE_PORT + index, 22
        return {
            "name": name,
            "protocol": "tcp",
            "publicIPAddress": "127.0.0.1",
            "publicFQDN": "localhost",
            "frontendPort": frontend,
            "backendPort": backend,
        }

    def cloud_service_pool(self, pool_id: str) -> bool:
        return bool(self.get("pool", "", pool_id).body.get("cloudServiceConfiguration"))

    def get_remote_login_settings_node(self, pool_id: str, node_id: str) -> dict[str, Any]:
        node = self.usable_node(pool_id, node_id)
        if self.cloud_service_pool(pool_id):
            raise errors.conflict(
                "OperationNotValidOnNode",
                "Remote login settings are for nodes of virtualMachineConfiguration pools; this node's pool uses "
                "cloudServiceConfiguration, so get its remote desktop (RDP) file instead.",
            )
        return {
            "remoteLoginIPAddress": "127.0.0.1",
            "remoteLoginPort": REMOTE_LOGIN_BASE_PORT + node.internal.get("index", 0),
        }

    def get_remote_desktop_node(self, pool_id: str, node_id: str) -> bytes:
        node = self.usable_node(pool_id, node_id)
        if not self.cloud_service_pool(pool_id):
            raise errors.conflict(
                "OperationNotValidOnNode",
                "Remote desktop files are only for nodes of cloudServiceConfiguration pools; for this node use its "
                "remote login settings (address and port) with a node user.",
            )
        cookie = f"TVM#TVM_IN_{max(node.internal.get('index', 1) - 1, 0)}"
        return f"full address:s:127.0.0.1\r\nLoadBalanceInfo:s:Cookie: mstshash={cookie}".encode()

    def node_extensions(self, pool_id: str, node_id: str) -> list[dict[str, Any]]:
        node = self.get_node(pool_id, node_id)
        pool = self.get("pool", "", pool_id)
        since = node.body.get("allocationTime")
        out = []
        for ext in (pool.body.get("virtualMachineConfiguration") or {}).get("extensions") or []:
            shown = {k: v for k, v in ext.items() if k != "protectedSettings"}
            out.append(
                {
                    "provisioningState": "Succeeded",
                    "vmExtension": shown,
                    "instanceView": {
                        "name": ext["name"],
                        "statuses": [
                            {
                                "code": "ProvisioningState/succeeded",
                                "displayStatus": "Provisioning succeeded",
                                "level": "Info",
                                "message": "The local emulator records extensions without installing them.",
                                "time": since,
                            }
                        ],
                    },
                }
            )
        return out

    def get_node_extension(self, pool_id: str, node_id: str, name: str) -> dict[str, Any]:
        for ext in self.node_extensions(pool_id, node_id):
            if ext["vmExtension"]["name"].lower() == name.lower():
                return ext
        raise errors.not_found("extension", name)
