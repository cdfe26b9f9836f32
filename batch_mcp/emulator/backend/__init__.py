"""The emulator's model of one Batch account, assembled from one mixin per area."""

from __future__ import annotations

import time
from collections.abc import Callable

from batch_mcp.emulator.backend.account import AccountOps
from batch_mcp.emulator.backend.execution import ExecutionOps
from batch_mcp.emulator.backend.faults import FaultOps
from batch_mcp.emulator.backend.files import FileOps
from batch_mcp.emulator.backend.jobs import JobOps
from batch_mcp.emulator.backend.nodes import NodeOps
from batch_mcp.emulator.backend.packages import PackageOps
from batch_mcp.emulator.backend.pools import PoolOps
from batch_mcp.emulator.backend.schedules import ScheduleOps
from batch_mcp.emulator.backend.servicelogs import ServiceLogOps
from batch_mcp.emulator.backend.tasks import TaskOps
from batch_mcp.emulator.config import EmulatorConfig
from batch_mcp.emulator.nodefs import NodeFiles
from batch_mcp.emulator.runner import Runner
from batch_mcp.emulator.store import Store

__all__ = ["Backend"]


class Backend(
    PoolOps,
    NodeOps,
    JobOps,
    ScheduleOps,
    TaskOps,
    FileOps,
    AccountOps,
    ExecutionOps,
    PackageOps,
    ServiceLogOps,
    FaultOps,
):
    """Every operation of the account, named after its operationId; see base.py for the shape."""

    def __init__(
        self,
        config: EmulatorConfig,
        store: Store,
        files: NodeFiles,
        runner: Runner,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config, store, files, runner, clock)
        self.public_url: str | None = None
        self.setup_execution()

    def seed(self) -> None:
        """At first start: one small pool that is ready at once (steady, node idle)."""
        if self.store.meta_get("seeded") or not self.config.seed_pool:
            return
        with self.store.transaction():
            self.store.meta_set("seeded", "1")
            if self.find("pool", "", self.config.seed_pool_id) is not None:
                return
            now = self.now()
            spec = {
                "id": self.config.seed_pool_id,
                "displayName": "Local pool (batch-mcp emulator)",
                "vmSize": "standard_d2s_v3",
                "virtualMachineConfiguration": {
                    "imageReference": {
                        "publisher": "canonical",
                        "offer": "0001-com-ubuntu-server-jammy",
                        "sku": "22_04-lts",
                        "version": "latest",
                    },
                    "nodeAgentSKUId": "batch.node.ubuntu 22.04",
                },
                "targetDedicatedNodes": self.config.seed_pool_nodes,
                "taskSlotsPerNode": self.config.seed_pool_slots,
            }
            pool = self.new_entity("pool", "", spec["id"], self.pool_body(spec, spec["id"], now), now)
            pool.internal["node_prefix"] = self.random_suffix()
            self.insert(pool)
            for _ in range(min(self.config.seed_pool_nodes, self.config.max_nodes_per_pool)):
                node = self.create_node(pool, True, now)
                self.clear_timer(node, "started")
                node.body["state"] = "idle"
                self.save(node)
            self.count_nodes(pool)
            self.save(pool)
