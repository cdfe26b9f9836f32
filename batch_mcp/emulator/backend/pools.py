"""Pools: allocation (resizing → steady, stop, remove nodes), autoscale, properties, deletion.

A resize is one timer: after `transition_delay` the pool reaches its target (capped at
`max_nodes_per_pool`; the cap shows as a resize error, as a quota would) and new nodes begin
`starting`. Nodes leave through `leavingpool` according to the deallocation option.
"""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from typing import Any

from batch_mcp.emulator import autoscale_bridge, errors, images, vmsizes
from batch_mcp.emulator.backend import defaults
from batch_mcp.emulator.backend.base import BackendBase
from batch_mcp.emulator.store import Entity
from batch_mcp.emulator.timefmt import format_duration, from_epoch, iso, parse_duration

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEALLOCATION_OPTIONS = ("requeue", "terminate", "taskcompletion", "retaineddata")
PATCHABLE = (
    "startTask",
    "certificateReferences",
    "applicationPackageReferences",
    "metadata",
    "targetNodeCommunicationMode",
    "resourceTags",
)
# Patchable from 2024-07-01.20.0 on, and only while the pool has no nodes.
PATCHABLE_WHEN_EMPTY = (
    "displayName",
    "vmSize",
    "enableInterNodeCommunication",
    "virtualMachineConfiguration",
    "taskSlotsPerNode",
    "taskSchedulingPolicy",
    "networkConfiguration",
    "userAccounts",
    "mountConfiguration",
    "upgradePolicy",
)
MIN_AUTOSCALE_INTERVAL = timedelta(minutes=5)
MAX_AUTOSCALE_INTERVAL = timedelta(hours=168)
DEFAULT_AUTOSCALE_INTERVAL = "PT15M"
CLOUD_OS_FAMILIES = ("2", "3", "4", "5", "6")


def resource_stats(start: float, now: float) -> dict[str, Any]:
    """Resource usage of a pool (or the account's pools) since `start`: nothing is metered locally."""
    return {
        "startTime": iso(start),
        "lastUpdateTime": iso(now),
        "avgCPUPercentage": 0.0,
        "avgMemoryGiB": 0.0,
        "peakMemoryGiB": 0.0,
        "avgDiskGiB": 0.0,
        "peakDiskGiB": 0.0,
        "diskReadIOps": 0,
        "diskWriteIOps": 0,
        "diskReadGiB": 0.0,
        "diskWriteGiB": 0.0,
        "networkReadGiB": 0.0,
        "networkWriteGiB": 0.0,
    }


def check_id(value: Any, name: str = "id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise errors.invalid_property(
            name, value, "Ids use letters, digits, hyphens and underscores, up to 64 characters."
        )
    return value


class PoolOps(BackendBase):
    # -- create -------------------------------------------------------------------------------

    def pool_body(self, spec: dict[str, Any], pool_id: str, now: float) -> dict[str, Any]:
        """A CloudPool from a pool specification (PoolAddParameter or an auto pool's PoolSpecification)."""
        body = copy.deepcopy(spec)
        body.update(
            id=pool_id,
            url=self.url(f"/pools/{pool_id}"),
            creationTime=iso(now),
            state="active",
            stateTransitionTime=iso(now),
            allocationState="steady",
            allocationStateTransitionTime=iso(now),
            currentDedicatedNodes=0,
            currentLowPriorityNodes=0,
        )
        defaults.pool_spec(body)
        body.setdefault("taskSlotsPerNode", 1)
        body.setdefault("taskSchedulingPolicy", {"nodeFillType": "spread"})
        body.setdefault("enableInterNodeCommunication", False)
        body.setdefault("enableAutoScale", False)
        body.setdefault("currentNodeCommunicationMode", "simplified")
        if body["enableAutoScale"]:
            if "targetDedicatedNodes" in spec or "targetLowPriorityNodes" in spec:
                raise errors.invalid_property(
                    "targetDedicatedNodes",
                    spec.get("targetDedicatedNodes"),
                    "Set either a target or autoscale, not both.",
                )
            if not body.get("autoScaleFormula"):
                raise errors.missing_property("autoScaleFormula")
            self.check_autoscale_interval(body.setdefault("autoScaleEvaluationInterval", DEFAULT_AUTOSCALE_INTERVAL))
            autoscale_bridge.parse(body["autoScaleFormula"])
            body["targetDedicatedNodes"] = 0
            body["targetLowPriorityNodes"] = 0
        else:
            body.setdefault("resizeTimeout", "PT15M")
            body.setdefault("targetDedicatedNodes", 0)
            body.setdefault("targetLowPriorityNodes", 0)
        for name in ("targetDedicatedNodes", "targetLowPriorityNodes"):
            if body.get(name, 0) < 0:
                raise errors.invalid_property(name, body[name], "A node count cannot be negative.")
        if body.get("taskSlotsPerNode", 1) < 1:
            raise errors.invalid_property("taskSlotsPerNode", body["taskSlotsPerNode"])
        self.check_deployment(body)
        self.applications.check(body.get("applicationPackageReferences"))
        for ref in body.get("certificateReferences") or []:
            if self.find("certificate", "", f"{ref['thumbprintAlgorithm']}-{ref['thumbprint']}".lower()) is None:
                raise errors.bad_request(
                    "InvalidCertificateReferences",
                    "One or more certificate references do not name a certificate of the account.",
                    {"Thumbprint": ref["thumbprint"]},
                )
        return body

    @staticmethod
    def check_deployment(body: dict[str, Any]) -> None:
        """What the service checks of a pool's machines at request time: one configuration, a VM
        size that goes with it, and a supported image and node agent SKU (images.py, vmsizes.py)."""
        vm, cloud = body.get("virtualMachineConfiguration"), body.get("cloudServiceConfiguration")
        if vm and cloud:
            raise errors.invalid_property(
                "cloudServiceConfiguration",
                "(set)",
                "Give a pool a virtualMachineConfiguration or a cloudServiceConfiguration, not both.",
            )
        if not vm and not cloud:
            raise errors.missing_property("virtualMachineConfiguration")
        vmsizes.check_vm_size(body.get("vmSize"), cloud_service=bool(cloud))
        if vm:
            images.check_virtual_machine_configuration(vm)
        elif str((cloud or {}).get("osFamily")) not in CLOUD_OS_FAMILIES:
            raise errors.invalid_property(
                "osFamily", (cloud or {}).get("osFamily"), f"Guest OS families are {', '.join(CLOUD_OS_FAMILIES)}."
            )

    def add_pool(self, spec: dict[str, Any], *, owner_job: str | None = None) -> Entity:
        pool_id = check_id(spec.get("id"))
        now = self.now()
        body = self.pool_body(spec, pool_id, now)
        pool = self.new_entity("pool", "", pool_id, body, now)
        pool.internal["node_prefix"] = self.random_suffix()
        pool.internal["node_counter"] = 0
        if owner_job:
            pool.ref = owner_job
        self.insert(pool)
        if body["enableAutoScale"]:
            self.evaluate_and_apply(pool, now)
        else:
            self.start_resize(pool, now)
        self.save(pool)
        return pool

    # -- reads --------------------------------------------------------------------------------

    def get_pool(self, pool_id: str) -> Entity:
        return self.get("pool", "", pool_id)

    def list_pools(self) -> list[Entity]:
        return self.store.list("pool")

    def exists_pool(self, pool_id: str) -> Entity:
        return self.get_pool(pool_id)

    def active_pool(self, pool_id: str) -> Entity:
        pool = self.get_pool(pool_id)
        if pool.body["state"] == "deleting":
            raise errors.conflict(
                "PoolBeingDeleted", "The specified pool has been marked for deletion and is being reclaimed."
            )
        return pool

    # -- allocation ---------------------------------------------------------------------------

    def start_resize(self, pool: Entity, now: float) -> None:
        """Begin moving toward the pool's targets (a no-op resize settles at once)."""
        wanted = (pool.body.get("targetDedicatedNodes", 0), pool.body.get("targetLowPriorityNodes", 0))
        current = (pool.body["currentDedicatedNodes"], pool.body["currentLowPriorityNodes"])
        if wanted == current and not pool.internal.get("remove"):
            return
        pool.body["allocationState"] = "resizing"
        pool.body["allocationStateTransitionTime"] = iso(now)
        pool.body.pop("resizeErrors", None)
        self.touch(pool, now)
        self.set_timer(pool, "allocate", now + self.delay())

    def resize_pool(self, pool_id: str, params: dict[str, Any]) -> Entity:
        pool = self.active_pool(pool_id)
        if pool.body.get("enableAutoScale"):
            raise errors.conflict(
                "AutoScalingEnabled", "The pool has autoscale enabled; disable it before resizing by hand."
            )
        if pool.body["allocationState"] != "steady":
            raise errors.conflict(
                "PoolNotSteady", "The pool is not in a steady allocation state; wait or stop the resize first."
            )
        for name in ("targetDedicatedNodes", "targetLowPriorityNodes"):
            if params.get(name, 0) < 0:
                raise errors.invalid_property(name, params[name], "A node count cannot be negative.")
        now = self.now()
        if "targetDedicatedNodes" in params:
            pool.body["targetDedicatedNodes"] = params["targetDedicatedNodes"]
        if "targetLowPriorityNodes" in params:
            pool.body["targetLowPriorityNodes"] = params["targetLowPriorityNodes"]
        if params.get("resizeTimeout"):
            pool.body["resizeTimeout"] = params["resizeTimeout"]
        pool.internal["dealloc"] = params.get("nodeDeallocationOption") or "requeue"
        self.touch(pool, now)
        self.start_resize(pool, now)
        self.save(pool)
        return pool

    def stop_resize_pool(self, pool_id: str) -> Entity:
        pool = self.active_pool(pool_id)
        if pool.body["allocationState"] != "resizing":
            raise errors.conflict("PoolNotResizing", "The pool is not resizing.")
        now = self.now()
        self.clear_timer(pool, "allocate")
        pool.body["allocationState"] = "stopping"
        pool.body["allocationStateTransitionTime"] = iso(now)
        self.touch(pool, now)
        self.set_timer(pool, "stopped", now + self.delay())
        self.save(pool)
        return pool

    def remove_nodes_pool(self, pool_id: str, params: dict[str, Any]) -> Entity:
        pool = self.active_pool(pool_id)
        if pool.body["allocationState"] != "steady":
            raise errors.conflict(
                "PoolNotSteady", "Nodes can be removed only while the pool's allocation state is steady."
            )
        node_ids = params["nodeList"]
        nodes = [self.get("node", pool.id, n) for n in node_ids]
        now = self.now()
        # the new targets are the nodes the pool has now, less those removed: a pool whose resize was
        # stopped short of its target does not grow back towards it
        staying = [n for n in self.store.list("node", pool.id) if n.body["state"] != "leavingpool"]
        removed = {n.id for n in nodes}
        for dedicated, key in ((True, "targetDedicatedNodes"), (False, "targetLowPriorityNodes")):
            pool.body[key] = sum(
                1 for n in staying if n.body.get("isDedicated", True) == dedicated and n.id not in removed
            )
        pool.internal["remove"] = [n.id for n in nodes]
        pool.internal["dealloc"] = params.get("nodeDeallocationOption") or "requeue"
        if params.get("resizeTimeout"):
            pool.body["resizeTimeout"] = params["resizeTimeout"]
        self.touch(pool, now)
        self.start_resize(pool, now)
        self.save(pool)
        return pool

    def finish_allocation(self, pool: Entity, now: float) -> None:
        """The resize timer: add or remove nodes to reach the targets, then settle."""
        option = pool.internal.pop("dealloc", "requeue")
        nodes = [n for n in self.store.list("node", pool.id) if n.body["state"] != "leavingpool"]
        for node_id in pool.internal.pop("remove", []):
            node = next((n for n in nodes if n.id.lower() == node_id.lower()), None)
            if node is not None:
                self.begin_leaving(node, option, now)
                nodes.remove(node)
        cap = self.config.max_nodes_per_pool
        errors_out: list[dict[str, Any]] = []
        for dedicated, key in ((True, "targetDedicatedNodes"), (False, "targetLowPriorityNodes")):
            target = pool.body.get(key, 0)
            have = [n for n in nodes if n.body.get("isDedicated", True) == dedicated]
            other = len(nodes) - len(have)
            allowed = max(min(target, cap - other), 0)
            if allowed < target:
                errors_out.append(
                    {
                        "code": "AccountCoreQuotaReached",
                        "message": f"The local emulator runs at most {cap} nodes per pool "
                        "(max_nodes_per_pool); the pool stopped short of its target.",
                        "values": [{"name": "maxNodesPerPool", "value": str(cap)}],
                    }
                )
            for _ in range(allowed - len(have)):
                node = self.create_node(pool, dedicated, now)
                nodes.append(node)
            if len(have) > allowed:
                # remove idle nodes first, newest first, as the service prefers nodes without work
                for node in sorted(have, key=lambda n: (bool(n.internal.get("slots")), -n.seq))[: len(have) - allowed]:
                    self.begin_leaving(node, option, now)
                    nodes.remove(node)
        self.count_nodes(pool, nodes)
        pool.body["allocationState"] = "steady"
        pool.body["allocationStateTransitionTime"] = iso(now)
        if errors_out:
            pool.body["resizeErrors"] = errors_out[:1]
        self.touch(pool, now)

    def count_nodes(self, pool: Entity, nodes: list[Entity] | None = None) -> None:
        if nodes is None:
            nodes = [n for n in self.store.list("node", pool.id) if n.body["state"] != "leavingpool"]
        pool.body["currentDedicatedNodes"] = sum(1 for n in nodes if n.body.get("isDedicated", True))
        pool.body["currentLowPriorityNodes"] = sum(1 for n in nodes if not n.body.get("isDedicated", True))

    def finish_stop(self, pool: Entity, now: float) -> None:
        pool.body["allocationState"] = "steady"
        pool.body["allocationStateTransitionTime"] = iso(now)
        pool.body["resizeErrors"] = [{"code": "ResizeStopped", "message": "The resize was stopped by a user request."}]
        pool.internal.pop("remove", None)
        self.touch(pool, now)

    # -- properties ---------------------------------------------------------------------------

    def patch_pool(self, pool_id: str, params: dict[str, Any]) -> Entity:
        pool = self.active_pool(pool_id)
        structural = [key for key in PATCHABLE_WHEN_EMPTY if key in params]
        if structural and (self.store.list("node", pool.id) or pool.body["allocationState"] != "steady"):
            raise errors.conflict(
                "PoolNotEmpty",
                f"{structural[0]} can be changed only while the pool has no compute nodes.",
                {"PropertyName": structural[0]},
            )
        if {"vmSize", "virtualMachineConfiguration"} & set(structural):
            self.check_deployment({**pool.body, **{key: params[key] for key in structural}})
        self.applications.check(params.get("applicationPackageReferences"))
        for key in (*PATCHABLE, *structural):
            if key in params:
                pool.body[key] = params[key]
        if "virtualMachineConfiguration" in structural:
            defaults.pool_spec(pool.body)
        self.touch(pool)
        self.save(pool)
        return pool

    def update_properties_pool(self, pool_id: str, params: dict[str, Any]) -> Entity:
        pool = self.active_pool(pool_id)
        self.applications.check(params.get("applicationPackageReferences"))
        for key in ("startTask", "targetNodeCommunicationMode"):
            if key in params:
                pool.body[key] = params[key]
            else:
                pool.body.pop(key, None)
        for key in ("certificateReferences", "applicationPackageReferences", "metadata"):
            pool.body[key] = params.get(key, [])
        self.touch(pool)
        self.save(pool)
        return pool

    def upgrade_os_pool(self, pool_id: str, params: dict[str, Any]) -> Entity:
        pool = self.active_pool(pool_id)
        config = pool.body.get("cloudServiceConfiguration")
        if not config:
            raise errors.conflict(
                "PoolNotEligibleForOSVersionUpgrade",
                "Only pools with a cloudServiceConfiguration have an OS version to upgrade.",
            )
        if pool.body["allocationState"] != "steady":
            raise errors.conflict(
                "PoolBeingResized", "The pool is resizing; upgrade it when its allocation state is steady."
            )
        now = self.now()
        config["targetOSVersion"] = params["targetOSVersion"]
        self.set_state(pool, "upgrading", now)
        self.set_timer(pool, "upgraded", now + self.delay())
        self.save(pool)
        return pool

    def finish_upgrade(self, pool: Entity, now: float) -> None:
        config = pool.body.get("cloudServiceConfiguration") or {}
        if config.get("targetOSVersion"):
            config["currentOSVersion"] = config["targetOSVersion"]
        self.set_state(pool, "active", now)

    # -- delete -------------------------------------------------------------------------------

    def delete_pool(self, pool_id: str) -> Entity:
        pool = self.active_pool(pool_id)
        now = self.now()
        self.set_state(pool, "deleting", now)
        for timer in ("allocate", "stopped", "autoscale"):
            self.clear_timer(pool, timer)
        for node in self.store.list("node", pool.id):
            self.evict_runs(node, "requeue", now)
            self.save(node)
        self.set_timer(pool, "deleted", now + self.delay())
        self.save(pool)
        return pool

    def finish_delete_pool(self, pool: Entity) -> None:
        self.store.delete_children("node", pool.id)
        self.store.delete("pool", "", pool.id)
        self.files.remove_pool(pool.id)

    # -- autoscale ----------------------------------------------------------------------------

    @staticmethod
    def check_autoscale_interval(text: str) -> None:
        try:
            value = parse_duration(text)
        except ValueError:
            raise errors.invalid_property("autoScaleEvaluationInterval", text) from None
        if not MIN_AUTOSCALE_INTERVAL <= value <= MAX_AUTOSCALE_INTERVAL:
            raise errors.invalid_property(
                "autoScaleEvaluationInterval", text, "The interval must be between 5 minutes and 168 hours."
            )

    def enable_auto_scale_pool(self, pool_id: str, params: dict[str, Any]) -> Entity:
        pool = self.active_pool(pool_id)
        if pool.body["allocationState"] != "steady" and not pool.body.get("enableAutoScale"):
            raise errors.conflict(
                "PoolNotSteady", "Autoscale can be enabled only while the pool's allocation state is steady."
            )
        formula = params.get("autoScaleFormula") or pool.body.get("autoScaleFormula")
        if not formula:
            raise errors.missing_property("autoScaleFormula")
        interval = (
            params.get("autoScaleEvaluationInterval")
            or pool.body.get("autoScaleEvaluationInterval")
            or DEFAULT_AUTOSCALE_INTERVAL
        )
        self.check_autoscale_interval(interval)
        autoscale_bridge.parse(formula)
        now = self.now()
        pool.body.update(enableAutoScale=True, autoScaleFormula=formula, autoScaleEvaluationInterval=interval)
        pool.body.pop("resizeTimeout", None)
        self.touch(pool, now)
        self.evaluate_and_apply(pool, now)
        self.save(pool)
        return pool

    def disable_auto_scale_pool(self, pool_id: str) -> Entity:
        pool = self.active_pool(pool_id)
        pool.body["enableAutoScale"] = False
        for key in ("autoScaleFormula", "autoScaleEvaluationInterval", "autoScaleRun"):
            pool.body.pop(key, None)
        pool.body.setdefault("resizeTimeout", "PT15M")
        self.clear_timer(pool, "autoscale")
        self.touch(pool)
        self.save(pool)
        return pool

    def evaluate_auto_scale_pool(self, pool_id: str, params: dict[str, Any]) -> dict[str, Any]:
        pool = self.active_pool(pool_id)
        if not pool.body.get("enableAutoScale"):
            raise errors.conflict(
                "AutoScalingNotEnabled", "Autoscale must be enabled on the pool before a formula can be evaluated."
            )
        formula = autoscale_bridge.parse(params["autoScaleFormula"])
        run = autoscale_bridge.run(formula, self.autoscale_inputs(pool), self.now())
        run.pop("_values", None)  # the targets the run would apply: ours, not the service's answer
        return run

    def autoscale_inputs(self, pool: Entity) -> autoscale_bridge.Inputs:
        scalars = {
            "$CurrentDedicatedNodes": float(pool.body.get("currentDedicatedNodes", 0)),
            "$CurrentLowPriorityNodes": float(pool.body.get("currentLowPriorityNodes", 0)),
            "$TargetDedicatedNodes": float(pool.body.get("targetDedicatedNodes", 0)),
            "$TargetLowPriorityNodes": float(pool.body.get("targetLowPriorityNodes", 0)),
            "$TaskSlotsPerNode": float(pool.body.get("taskSlotsPerNode", 1)),
        }
        self.sample_pool_metrics(pool, self.now())
        return autoscale_bridge.Inputs(from_epoch(self.now()), scalars, self.metric_history(pool.id))

    def evaluate_and_apply(self, pool: Entity, now: float) -> None:
        """One autoscale evaluation: record the run, apply new targets, schedule the next."""
        formula = autoscale_bridge.parse(pool.body["autoScaleFormula"])
        run = autoscale_bridge.run(formula, self.autoscale_inputs(pool), now)
        pool.body["autoScaleRun"] = run
        values = run.get("_values", {})
        run.pop("_values", None)
        if "error" not in run:
            changed = False
            for var, key in (
                ("$TargetDedicatedNodes", "targetDedicatedNodes"),
                ("$TargetLowPriorityNodes", "targetLowPriorityNodes"),
            ):
                if var in values:
                    wanted = max(int(values[var]), 0)
                    if pool.body.get(key) != wanted:
                        pool.body[key] = wanted
                        changed = True
            option = values.get("$NodeDeallocationOption")
            if isinstance(option, str) and option in DEALLOCATION_OPTIONS:
                pool.internal["dealloc"] = option
            if changed and pool.body["allocationState"] == "steady":
                self.start_resize(pool, now)
        interval = parse_duration(pool.body.get("autoScaleEvaluationInterval") or DEFAULT_AUTOSCALE_INTERVAL)
        self.set_timer(pool, "autoscale", now + interval.total_seconds())
        self.touch(pool, now)

    # -- account-wide pool views --------------------------------------------------------------

    def node_counts(self) -> list[dict[str, Any]]:
        names = {
            "creating": "creating",
            "idle": "idle",
            "offline": "offline",
            "preempted": "preempted",
            "rebooting": "rebooting",
            "reimaging": "reimaging",
            "running": "running",
            "starting": "starting",
            "starttaskfailed": "startTaskFailed",
            "leavingpool": "leavingPool",
            "unknown": "unknown",
            "unusable": "unusable",
            "waitingforstarttask": "waitingForStartTask",
            "upgradingos": "upgradingOS",
        }
        out = []
        for pool in self.store.list("pool"):
            counts = {True: dict.fromkeys(names.values(), 0), False: dict.fromkeys(names.values(), 0)}
            for node in self.store.list("node", pool.id):
                bucket = counts[node.body.get("isDedicated", True)]
                bucket[names.get(node.body["state"], "unknown")] += 1
            for bucket in counts.values():
                bucket["total"] = sum(bucket.values())
            out.append({"poolId": pool.id, "dedicated": counts[True], "lowPriority": counts[False]})
        return out

    def usage_metrics(self, start: float | None, end: float | None) -> list[dict[str, Any]]:
        """Core hours per pool, in 30-minute windows as the service aggregates them."""
        now = self.now()
        window = 1800.0
        out = []
        for pool in self.store.list("pool"):
            created = pool.internal.get("created", now)
            begin = max(created, start) if start else created
            stop = min(now, end) if end else now
            t = begin - begin % window
            nodes = max(pool.body.get("currentDedicatedNodes", 0) + pool.body.get("currentLowPriorityNodes", 0), 0)
            while t < stop:
                seen = min(t + window, stop) - max(t, created)
                if seen > 0:
                    out.append(
                        {
                            "poolId": pool.id,
                            "startTime": iso(t),
                            "endTime": iso(t + window),
                            "vmSize": pool.body.get("vmSize", ""),
                            "totalCoreHours": round(nodes * self.pool_cores(pool) * seen / 3600, 6),
                            "dataIngressGiB": 0.0,
                            "dataEgressGiB": 0.0,
                        }
                    )
                t += window
        return out

    def pool_cores(self, pool: Entity) -> int:
        """vCPUs of one of the pool's nodes, by its VM size."""
        return vmsizes.cores(pool.body.get("vmSize"), self.config.vm_size_cores)

    def pool_stats(self, pool: Entity) -> dict[str, Any]:
        now = self.now()
        created = pool.internal.get("created", now)
        nodes = pool.body.get("currentDedicatedNodes", 0) + pool.body.get("currentLowPriorityNodes", 0)
        core_seconds = pool.internal.get("core_seconds", 0.0) + nodes * self.pool_cores(pool) * (now - created)
        return {
            "url": self.url(f"/pools/{pool.id}/stats"),
            "startTime": iso(created),
            "lastUpdateTime": iso(now),
            "usageStats": {
                "startTime": iso(created),
                "lastUpdateTime": iso(now),
                "dedicatedCoreTime": format_duration(core_seconds),
            },
            "resourceStats": resource_stats(created, now),
        }
