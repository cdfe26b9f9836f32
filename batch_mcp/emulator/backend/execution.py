"""Putting tasks on nodes and running them; the timer dispatch; recovery after a restart.

Scheduling is a pass over active pools: each schedulable node offers its free slots, jobs on the
pool are served by priority, and their ready tasks (active, dependencies met) are placed by the
pool's fill type (spread: emptiest node first; pack: fullest node that fits). A placed task owns
its slots on the node under a run id; whoever ends a run early (terminate, requeue, node reboot)
frees the slots and decides the task's state at once, and a run that finishes later than that
finds a different run id on the task and is ignored. So state never depends on how fast a kill is.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from batch_mcp.emulator import autoscale_bridge
from batch_mcp.emulator.backend.base import BackendBase
from batch_mcp.emulator.backend.nodes import used_slots
from batch_mcp.emulator.backend.packages import PackageError
from batch_mcp.emulator.resources import ResourceFileError, fetch_all
from batch_mcp.emulator.runner import (
    FolderUnusable,
    RunResult,
    RunSpec,
    empty_outputs,
    kill_leftover,
    prepare_folders,
    unusable_folder,
)
from batch_mcp.emulator.store import Entity
from batch_mcp.emulator.timefmt import duration_seconds, iso

Spawner = Callable[[Callable[[], Awaitable[None]]], object]


def _env_pairs(settings: list[dict[str, Any]] | None) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in settings or []}


class ExecutionOps(BackendBase):
    spawn: Spawner | None = None  # set by the clock when it starts; runs are started through it

    def setup_execution(self) -> None:
        self.dirty_jobs: set[str] = set()
        self.metrics = autoscale_bridge.MetricHistory()
        self.prep_waiters: dict[tuple[str, str, str], asyncio.Event] = {}
        self.boot = uuid.uuid4().hex[:8]
        # Set when this emulator is on its way out (its host stops, another process takes the
        # folder over next): nothing advances and no process starts any more; what would have run
        # is left in the store for the next start to pick up.
        self.leaving = False

    def start(self, coro: Callable[[], Awaitable[None]]) -> None:
        if self.spawn is None:
            raise RuntimeError("the emulator clock is not running")
        self.spawn(coro)

    # -- timers -------------------------------------------------------------------------------

    def on_timer(self, entity: Entity, name: str, now: float) -> None:
        """Advance one due transition (the transition table, by kind and timer name)."""
        handlers: dict[tuple[str, str], Callable[[], None]] = {
            ("pool", "allocate"): lambda: self.finish_allocation(entity, now),
            ("pool", "stopped"): lambda: self.finish_stop(entity, now),
            ("pool", "upgraded"): lambda: self.finish_upgrade(entity, now),
            ("pool", "autoscale"): lambda: self.evaluate_and_apply(entity, now),
            ("node", "started"): lambda: self.finish_start(entity, now),
            ("node", "rebooted"): lambda: self.finish_restart(entity, False, now),
            ("node", "reimaged"): lambda: self.finish_restart(entity, True, now),
            ("node", "deallocated"): lambda: self.finish_deallocate(entity, now),
            ("job", "wallclock"): lambda: self.begin_termination(entity, "MaxWallClockTimeExpiry", now),
            ("job", "disabled"): lambda: self.finish_disable(entity, now),
            ("job", "enabled"): lambda: self.set_state(entity, "active", now),
            ("job", "completed"): lambda: self.finish_termination(entity, now),
            ("schedule", "run"): lambda: self.fire_schedule(entity, now),
            ("schedule", "ended"): lambda: self.complete_schedule(entity, now),
            ("schedule", "terminated"): lambda: self.complete_schedule(entity, now),
            ("certificate", "deleted"): lambda: self.finish_delete_certificate(entity, now),
        }
        removals: dict[tuple[str, str], Callable[[], None]] = {
            ("pool", "deleted"): lambda: self.finish_delete_pool(entity),
            ("node", "left"): lambda: self.finish_leaving(entity),
            ("job", "deleted"): lambda: self.finish_delete_job(entity),
            ("schedule", "deleted"): lambda: self.store.delete("schedule", "", entity.id),
        }
        self.clear_timer(entity, name)
        faults = entity.internal.get("faults")
        if faults and faults.pop(name, None) is not None and not faults:
            entity.internal.pop("faults")  # it was failing before (faults.py) and works now
        if (entity.kind, name) in removals:
            self.save(entity)
            removals[(entity.kind, name)]()
            return
        handler = handlers.get((entity.kind, name))
        if handler is not None:
            handler()
        self.save(entity)
        self.wakeup.set()

    def advance_timers(self, now: float) -> int:
        """Fire every due timer; returns how many fired. A transition that raises is rolled back
        and recorded on its own entity (faults.py); the others still fire."""
        fired = 0
        for entity in self.store.due(now):
            for name in self.due_timers(entity, now):
                current = self.find(entity.kind, entity.parent, entity.id)
                if current is None or name not in current.internal.get("timers", {}):
                    continue
                try:
                    with self.store.transaction():
                        self.on_timer(current, name, now)
                except Exception as exc:
                    self.timer_failed(entity.key, name, exc, now)
                fired += 1
        return fired

    # -- scheduling ---------------------------------------------------------------------------

    def schedule_tasks(self) -> int:
        """Place ready tasks on free slots; returns how many runs were started."""
        for job_id in list(self.dirty_jobs):
            self.dirty_jobs.discard(job_id)
            try:
                self.update_dependencies(job_id)
            except Exception as exc:  # that job's dependent tasks wait for its next change
                self.report_fault(f"job {job_id!r} task dependencies", exc, repeat=False)
        started = 0
        budget = self.config.max_total_slots - self.running_slots()
        for pool in self.store.list("pool", states=["active"]):
            if budget <= 0:
                break
            nodes = [n for n in self.store.list("node", pool.id) if self.schedulable(n)]
            free = {n.id: self.free_slots(n, pool) for n in nodes}
            if not any(v > 0 for v in free.values()):
                continue
            by_id = {n.id: n for n in nodes}
            jobs = [j for j in self.store.list("job", ref=pool.id) if j.body["state"] == "active"]
            jobs.sort(key=lambda j: (-j.body.get("priority", 0), j.seq))
            for job in jobs:
                room = min(sum(v for v in free.values() if v > 0), budget)
                if room <= 0:
                    break
                limit = job.body.get("maxParallelTasks", -1)
                if limit != -1:
                    running = len(self.store.list("task", job.id, states=["running", "preparing"]))
                    room = min(room, limit - running)
                    if room <= 0:
                        continue
                excluded = set(job.internal.get("prep_failed", []))
                for task in self.store.list("task", job.id, states=["active"], ready=1, limit=room):
                    chosen = self.choose_nodes(task, pool, free, excluded)
                    if chosen is None:
                        continue
                    try:
                        with self.store.transaction():
                            self.assign(task, job, pool, [by_id[n] for n in chosen])
                    except Exception as exc:
                        self.task_failed(job.id, task.id, None, exc)
                        break  # the nodes held in memory may be stale now: place the rest next tick
                    slots = task.body.get("requiredSlots", 1)
                    for i, node_id in enumerate(chosen):
                        free[node_id] -= slots if i == 0 else 1
                    budget -= slots + len(chosen) - 1
                    started += 1
                    if budget <= 0:
                        break
        return started

    def running_slots(self) -> int:
        return sum(used_slots(n) for n in self.store.list("node", None))

    def choose_nodes(self, task: Entity, pool: Entity, free: dict[str, int], excluded: set[str]) -> list[str] | None:
        need = task.body.get("requiredSlots", 1)
        instances = (task.body.get("multiInstanceSettings") or {}).get("numberOfInstances", 1)
        fits = [n for n, f in free.items() if f >= need and f"{pool.id}/{n}".lower() not in excluded]
        if not fits:
            return None
        pack = (pool.body.get("taskSchedulingPolicy") or {}).get("nodeFillType") == "pack"
        fits.sort(key=lambda n: free[n] if pack else -free[n])
        if instances <= 1:
            return [fits[0]]
        others = [n for n in free if n != fits[0] and free[n] >= 1]
        if len(others) < instances - 1:
            return None
        return [fits[0], *others[: instances - 1]]

    def assign(self, task: Entity, job: Entity, pool: Entity, nodes: list[Entity]) -> None:
        now = self.now()
        run_id = uuid.uuid4().hex
        slots = task.body.get("requiredSlots", 1)
        primary = nodes[0]
        needs_prep = bool(job.body.get("jobPreparationTask")) and not self.prep_succeeded(job, pool.id, primary.id)
        task.internal["run"] = {
            "id": run_id,
            "pool": pool.id,
            "node": primary.id,
            "nodes": [n.id for n in nodes],
            "pid": 0,
            "ticks": 0,
        }
        task.internal["last_node"] = {"pool": pool.id, "node": primary.id}
        task.internal["wait"] = task.internal.get("wait", 0.0) + max(
            now - task.internal.get("queued", task.internal.get("created", now)), 0.0
        )
        info = task.body.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
        for i, node in enumerate(nodes):
            node.internal.setdefault("slots", {})[run_id if i == 0 else f"{run_id}.{i}"] = {
                "job": job.id,
                "task": task.id,
                "run": run_id,
                "slots": slots if i == 0 else 1,
            }
            if i == 0:  # the node lists the task among its recent ones from its start, as the service does
                recent = [
                    r
                    for r in node.body.get("recentTasks", [])
                    if (r.get("jobId"), r.get("taskId")) != (job.id, task.id)
                ]
                recent.append(
                    {
                        "taskUrl": task.body["url"],
                        "jobId": job.id,
                        "taskId": task.id,
                        "taskState": "running",
                        "executionInfo": {
                            "startTime": iso(now),
                            "retryCount": info.get("retryCount", 0),
                            "requeueCount": info.get("requeueCount", 0),
                        },
                    }
                )
                node.body["recentTasks"] = recent[-10:]
            self.refresh_occupancy(node, now)
            self.save(node)
        info["startTime"] = iso(now)
        for key in ("endTime", "exitCode", "result", "failureInfo"):
            info.pop(key, None)
        task.body["nodeInfo"] = {
            "affinityId": primary.body.get("affinityId"),
            "nodeUrl": primary.body["url"],
            "poolId": pool.id,
            "nodeId": primary.id,
            "taskRootDirectory": self.files.task_relative(job.id, task.id),
            "taskRootDirectoryUrl": self.url(
                f"/pools/{pool.id}/nodes/{primary.id}/files/{self.files.task_relative(job.id, task.id)}"
            ),
        }
        self.set_state(task, "preparing" if needs_prep else "running", now)
        task.ready = 0
        self.save(task)
        self.start(lambda: self.execute_task_guarded(job.id, task.id, run_id))

    # -- running a task -----------------------------------------------------------------------

    def current_run(self, job_id: str, task_id: str, run_id: str) -> Entity | None:
        task = self.find("task", job_id, task_id)
        if task is None or task.internal.get("run", {}).get("id") != run_id:
            return None
        return task

    async def execute_task_guarded(self, job_id: str, task_id: str, run_id: str) -> None:
        """Run a task; if running it raises, the task completes with the failure and frees its slots."""
        try:
            await self.execute_task(job_id, task_id, run_id)
        except Exception as exc:
            self.task_failed(job_id, task_id, run_id, exc)

    async def execute_task(self, job_id: str, task_id: str, run_id: str) -> None:
        task = self.current_run(job_id, task_id, run_id)
        job = self.find("job", "", job_id)
        if task is None or job is None:
            return
        run = task.internal["run"]
        pool_id, node_id = run["pool"], run["node"]
        if task.body["state"] == "preparing":
            ok = await self.ensure_prep(job_id, pool_id, node_id)
            task = self.current_run(job_id, task_id, run_id)
            if task is None:
                return
            if not ok:
                self.release_run(task, self.now())
                job = self.find("job", "", job_id)
                if job is not None:
                    job.internal.setdefault("prep_failed", []).append(f"{pool_id}/{node_id}".lower())
                    self.save(job)
                self.set_state(task, "active", self.now())
                task.ready = 1
                self.save(task)
                return
            self.set_state(task, "running", self.now())
            self.save(task)
        try:
            packages = await self.package_env(pool_id, node_id, task.body.get("applicationPackageReferences"))
        except PackageError as exc:
            self.finish_run(job_id, task_id, run_id, RunResult(self.now(), self.now(), failure=exc.info))
            return
        if packages:  # kept on the run, for task_spec (and multi-instance subtasks) to read
            task = self.current_run(job_id, task_id, run_id)
            if task is None:
                return
            task.internal["run"]["packages"] = packages
            self.save(task)
        instances = run["nodes"]
        if len(instances) > 1:
            await self.run_subtasks(job_id, task_id, run_id)
            task = self.current_run(job_id, task_id, run_id)
            if task is None:
                return
        spec = self.task_spec(task, job, pool_id, node_id, run_id)
        result = await self.run_with_resources(
            spec, task.body.get("resourceFiles"), self.pid_recorder(job_id, task_id, run_id)
        )
        self.finish_run(job_id, task_id, run_id, result)

    def pid_recorder(self, job_id: str, task_id: str, run_id: str) -> Callable[[int, float], None]:
        def record(pid: int, ticks: float) -> None:
            if pid <= 0:
                return
            task = self.current_run(job_id, task_id, run_id)
            if task is not None:
                task.internal["run"]["pid"] = pid
                task.internal["run"]["ticks"] = ticks
                self.save(task)

        return record

    async def run_with_resources(
        self,
        spec: RunSpec,
        resource_files: list[dict[str, Any]] | None,
        started: Callable[[int, float], None] | None = None,
    ) -> RunResult:
        spec.root = self.files.root  # the run's own files stay inside the nodes' folders
        if self.leaving:
            await asyncio.Event().wait()  # never started; ended with the emulator, which records nothing
        begin = self.now()
        try:
            prepare_folders(spec)
            await fetch_all(resource_files or [], spec.wd, getattr(self.runner, "confinement", None))
        except FolderUnusable:
            return unusable_folder(begin)
        except ResourceFileError as exc:
            with contextlib.suppress(FolderUnusable):
                empty_outputs(spec)
            return RunResult(begin, self.now(), failure=exc.info)
        return await self.runner.run(spec, started)

    async def run_with_retries(
        self,
        label: str,
        task: dict[str, Any],
        folder: Path,
        env: dict[str, str],
        wall_clock: float | None,
        retries: int,
    ) -> tuple[RunResult, int]:
        """Run a start or job preparation task, again after a non-zero exit while retries remain
        (-1: without limit); a failure to start at all is not retried. Returns the last result
        and how many retries it took."""
        attempt = 0
        while True:
            spec = RunSpec(
                f"{label}:{attempt}",
                task.get("commandLine", ""),
                folder,
                env,
                wall_clock,
                bool(task.get("containerSettings")),
            )
            result = await self.run_with_resources(spec, task.get("resourceFiles"))
            if result.succeeded or result.failure is not None or not (retries == -1 or attempt < retries):
                return result, attempt
            attempt += 1

    def finish_run(self, job_id: str, task_id: str, run_id: str, result: RunResult) -> None:
        task = self.current_run(job_id, task_id, run_id)
        if task is None:
            return  # the run was ended early and its task already moved on
        now = self.now()
        with self.store.transaction():
            self.release_run(task, now, result)
            task.internal["wall"] = task.internal.get("wall", 0.0) + max(result.end - result.start, 0.0)
            self.complete_task(task, result, now)
            self.save(task)
        self.wakeup.set()

    def release_run(self, task: Entity, now: float, result: RunResult | None = None) -> None:
        """Free the slots of the task's current run on every node it holds."""
        run = task.internal.get("run") or {}
        for i, node_id in enumerate(run.get("nodes", [])):
            node = self.find("node", run["pool"], node_id)
            if node is None:
                continue
            node.internal.get("slots", {}).pop(run["id"] if i == 0 else f"{run['id']}.{i}", None)
            if i == 0 and result is None and node.body.get("recentTasks"):  # ended early: no longer on it
                node.body["recentTasks"] = [
                    r
                    for r in node.body["recentTasks"]
                    if (r.get("jobId"), r.get("taskId"), r.get("taskState")) != (task.parent, task.id, "running")
                ]
            if i == 0 and result is not None:
                node.body["totalTasksRun"] = node.body.get("totalTasksRun", 0) + 1
                if result.succeeded:
                    node.body["totalTasksSucceeded"] = node.body.get("totalTasksSucceeded", 0) + 1
                recent = [
                    r
                    for r in node.body.get("recentTasks", [])
                    if (r.get("jobId"), r.get("taskId")) != (task.parent, task.id)
                ]
                node.body["recentTasks"] = recent
                recent.append(
                    {
                        "taskUrl": task.body["url"],
                        "jobId": task.parent,
                        "taskId": task.id,
                        "taskState": "completed",
                        "executionInfo": {
                            "startTime": iso(result.start),
                            "endTime": iso(result.end),
                            "retryCount": (task.body.get("executionInfo") or {}).get("retryCount", 0),
                            "requeueCount": (task.body.get("executionInfo") or {}).get("requeueCount", 0),
                            **({"exitCode": result.exit_code} if result.exit_code is not None else {}),
                            "result": "success" if result.succeeded else "failure",
                        },
                    }
                )
                del recent[:-10]
            self.refresh_occupancy(node, now)
            self.after_node_freed(node, now)
            self.save(node)

    def after_node_freed(self, node: Entity, now: float) -> None:
        """A node waiting for its tasks to finish (reboot/reimage/removal with taskcompletion)."""
        if node.internal.get("slots"):
            return
        if node.internal.pop("leave_when_idle", False):
            self.set_node_state(node, "leavingpool", now)
            self.set_timer(node, "left", now + self.delay())
        elif node.internal.get("after_tasks") == "deallocate":
            self.begin_deallocate(node, now)
        elif node.internal.get("after_tasks"):
            self.begin_restart(node, node.internal["after_tasks"] == "reimage", now)

    def stop_task_run(self, task: Entity, mode: str, now: float) -> None:
        """End a task's run now: `requeue` puts it back in the queue, `terminate` completes it."""
        run = task.internal.get("run")
        if not run:
            return
        for i, _node_id in enumerate(run.get("nodes", [])):
            self.runner.kill(run["id"] if i == 0 else f"{run['id']}.{i}")
        self.release_run(task, now)
        task.internal.pop("run", None)
        if mode == "requeue":
            self.requeue(task, now)
            self.save(task)
        else:
            self.complete_task(task, self.terminated_result(now), now, retry=False)
            self.save(task)
            self.note_ended_on_node(task, run)
        self.wakeup.set()

    def note_ended_on_node(self, task: Entity, run: dict[str, Any]) -> None:
        """A run ended by request still counts among its node's recent tasks, as completed."""
        node = self.find("node", run.get("pool", ""), run.get("node", ""))
        if node is None:
            return
        info = task.body.get("executionInfo") or {}
        entry = {
            "taskUrl": task.body["url"],
            "jobId": task.parent,
            "taskId": task.id,
            "taskState": task.body.get("state"),
            "executionInfo": {
                k: info[k]
                for k in ("startTime", "endTime", "exitCode", "result", "retryCount", "requeueCount")
                if k in info
            },
        }
        node.body["recentTasks"] = [*node.body.get("recentTasks", []), entry][-10:]
        self.save(node)

    def requeue(self, task: Entity, now: float) -> None:
        info = task.body.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
        info["requeueCount"] = info.get("requeueCount", 0) + 1
        info["lastRequeueTime"] = iso(now)
        for key in ("startTime", "endTime", "exitCode", "result", "failureInfo"):
            info.pop(key, None)
        task.body.pop("nodeInfo", None)
        task.internal.pop("run", None)
        task.internal["queued"] = now
        self.set_state(task, "active", now)
        task.ready = 1

    def evict_runs(self, node: Entity, mode: str, now: float) -> None:
        """End every task run holding slots on this node (reboot, removal, pool delete, disable)."""
        for entry in list(node.internal.get("slots", {}).values()):
            task = self.find("task", entry["job"], entry["task"])
            if task is None or task.internal.get("run", {}).get("id") != entry["run"]:
                continue
            self.stop_task_run(task, mode, now)
        fresh = self.find("node", node.parent, node.id)
        if fresh is not None:
            node.internal["slots"] = fresh.internal.get("slots", {})
            node.body.update(
                {
                    k: fresh.body[k]
                    for k in (
                        "runningTasksCount",
                        "runningTaskSlotsCount",
                        "totalTasksRun",
                        "totalTasksSucceeded",
                        "recentTasks",
                    )
                    if k in fresh.body
                }
            )
        self.refresh_occupancy(node, now)

    # -- environment and specs ----------------------------------------------------------------

    def base_env(self, pool_id: str, node: Entity | None, node_id: str) -> dict[str, str]:
        root = self.files.node_root(pool_id, node_id)
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(root)),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "AZ_BATCH_ACCOUNT_NAME": self.config.account_name or "emulator",
            "AZ_BATCH_ACCOUNT_URL": self.public_url or "",
            "AZ_BATCH_POOL_ID": pool_id,
            "AZ_BATCH_NODE_ID": node_id,
            "AZ_BATCH_NODE_IS_DEDICATED": "true" if (node is None or node.body.get("isDedicated", True)) else "false",
            "AZ_BATCH_NODE_ROOT_DIR": str(root),
            "AZ_BATCH_NODE_SHARED_DIR": str(root / "shared"),
            "AZ_BATCH_NODE_STARTUP_DIR": str(root / "startup"),
            "AZ_BATCH_NODE_STARTUP_WORKING_DIR": str(root / "startup" / "wd"),
            "AZ_BATCH_NODE_MOUNTS_DIR": str(root / "fsmounts"),
            "AZ_BATCH_CERTIFICATES_DIR": str(root / "certs"),
            "AZ_BATCH_TASK_USER": "_azbatch",
        }
        return env

    def task_spec(
        self, task: Entity, job: Entity, pool_id: str, node_id: str, run_id: str, *, command: str | None = None
    ) -> RunSpec:
        node = self.find("node", pool_id, node_id)
        task_dir = self.files.task_dir(pool_id, node_id, job.id, task.id)
        env = self.base_env(pool_id, node, node_id)
        env.update((task.internal.get("run") or {}).get("packages") or {})
        env.update(_env_pairs(job.body.get("commonEnvironmentSettings")))
        env.update(_env_pairs(task.body.get("environmentSettings")))
        env.update(
            AZ_BATCH_JOB_ID=job.id,
            AZ_BATCH_TASK_ID=task.id,
            AZ_BATCH_TASK_DIR=str(task_dir),
            AZ_BATCH_TASK_WORKING_DIR=str(task_dir / "wd"),
            AZ_BATCH_TASK_SHARED_DIR=str(task_dir),
        )
        if job.body.get("jobPreparationTask"):
            prep_dir = self.files.job_dir(pool_id, node_id, job.id) / "jobpreparation"
            env.update(AZ_BATCH_JOB_PREP_DIR=str(prep_dir), AZ_BATCH_JOB_PREP_WORKING_DIR=str(prep_dir / "wd"))
        run = task.internal.get("run") or {}
        if len(run.get("nodes", [])) > 1:
            hosts = ",".join("127.0.0.1" for _ in run["nodes"])
            env.update(
                AZ_BATCH_HOST_LIST=hosts,
                AZ_BATCH_NODE_LIST=";".join(run["nodes"]),
                AZ_BATCH_MASTER_NODE=f"127.0.0.1:{6000}",
                AZ_BATCH_IS_CURRENT_NODE_MASTER="true" if node_id == run["node"] else "false",
            )
        timeout = duration_seconds((task.body.get("constraints") or {}).get("maxWallClockTime"))
        return RunSpec(
            key=run_id,
            command_line=command if command is not None else task.body.get("commandLine", ""),
            task_dir=task_dir,
            env=env,
            timeout=timeout,
            container=bool(task.body.get("containerSettings")),
        )

    # -- multi-instance -----------------------------------------------------------------------

    async def run_subtasks(self, job_id: str, task_id: str, run_id: str) -> None:
        """Run the coordination command on every instance (subtasks 1..N-1 on the other nodes)."""
        task = self.current_run(job_id, task_id, run_id)
        job = self.find("job", "", job_id)
        if task is None or job is None:
            return
        run = task.internal["run"]
        settings = task.body.get("multiInstanceSettings") or {}
        now = self.now()
        subtasks = []
        for i, node_id in enumerate(run["nodes"][1:], start=1):
            node = self.find("node", run["pool"], node_id)
            subtasks.append(
                {
                    "id": i,
                    "nodeInfo": {
                        "affinityId": (node.body.get("affinityId") if node else None),
                        "nodeUrl": self.url(f"/pools/{run['pool']}/nodes/{node_id}"),
                        "poolId": run["pool"],
                        "nodeId": node_id,
                        "taskRootDirectory": self.files.task_relative(job_id, task_id),
                    },
                    "startTime": iso(now),
                    "state": "running",
                    "stateTransitionTime": iso(now),
                }
            )
        task.internal["subtasks"] = subtasks
        self.save(task)

        async def coordinate(i: int, node_id: str) -> RunResult:
            assert task is not None  # checked above; a closure does not keep the narrowing
            key = run_id if i == 0 else f"{run_id}.{i}"
            spec = self.task_spec(
                task, job, run["pool"], node_id, key, command=settings.get("coordinationCommandLine", "")
            )
            if i > 0:
                spec.task_dir = spec.task_dir / f"subtask-{i}"
            return await self.run_with_resources(spec, settings.get("commonResourceFiles"))

        results = await asyncio.gather(*(coordinate(i, n) for i, n in enumerate(run["nodes"])))
        task = self.current_run(job_id, task_id, run_id)
        if task is None:
            return
        end = self.now()
        for sub, result in zip(task.internal.get("subtasks", []), results[1:], strict=False):
            sub.update(
                previousState="running",
                previousStateTransitionTime=sub["stateTransitionTime"],
                state="completed",
                stateTransitionTime=iso(end),
                endTime=iso(result.end),
                result="success" if result.succeeded else "failure",
            )
            if result.exit_code is not None:
                sub["exitCode"] = result.exit_code
            if result.failure:
                sub["failureInfo"] = result.failure
        self.save(task)

    # -- start task, job preparation and release ----------------------------------------------

    def launch_start_task(self, node: Entity, start_task: dict[str, Any]) -> None:
        boot = uuid.uuid4().hex
        node.internal["boot"] = boot
        pool_id, node_id = node.parent, node.id

        async def run() -> None:
            env = self.base_env(pool_id, node, node_id)
            env.update(_env_pairs(start_task.get("environmentSettings")))
            startup = self.files.startup_dir(pool_id, node_id)
            env.update(AZ_BATCH_TASK_DIR=str(startup), AZ_BATCH_TASK_WORKING_DIR=str(startup / "wd"))
            begin = self.now()
            try:
                env = {**await self.package_env(pool_id, node_id), **env}
            except PackageError as exc:
                result, attempt = RunResult(begin, self.now(), failure=exc.info), 0
            else:
                result, attempt = await self.run_with_retries(
                    f"start:{pool_id}/{node_id}", start_task, startup, env, None, start_task.get("maxTaskRetryCount", 0)
                )
            current = self.find("node", pool_id, node_id)
            if current is None or current.internal.get("boot") != boot:
                return
            info: dict[str, Any] = {
                "state": "completed",
                "startTime": iso(begin),
                "endTime": iso(result.end),
                "retryCount": attempt,
                "result": "success" if result.succeeded else "failure",
            }
            if attempt:
                info["lastRetryTime"] = iso(result.start)
            if result.exit_code is not None:
                info["exitCode"] = result.exit_code
            if result.failure:
                info["failureInfo"] = result.failure
            elif not result.succeeded:
                info["failureInfo"] = {
                    "category": "usererror",
                    "code": "FailureExitCode",
                    "message": "The start task exited with a non-zero exit code.",
                }
            self.finish_start_task(current, info, self.now())
            self.save(current)

        self.start(run)

    def prep_succeeded(self, job: Entity, pool_id: str, node_id: str) -> bool:
        info = job.internal.get("prep", {}).get(f"{pool_id}/{node_id}")
        return (
            bool(info)
            and info.get("state") == "completed"
            and (info.get("result") == "success" or not job.body["jobPreparationTask"].get("waitForSuccess", True))
        )

    async def ensure_prep(self, job_id: str, pool_id: str, node_id: str) -> bool:
        """Run the job preparation task on a node once (others wait for it); True when tasks may run."""
        key = (job_id.lower(), pool_id.lower(), node_id)
        waiter = self.prep_waiters.get(key)
        if waiter is not None:
            await waiter.wait()
        else:
            waiter = self.prep_waiters[key] = asyncio.Event()
            try:
                await self.run_prep(job_id, pool_id, node_id)
            finally:
                waiter.set()
                self.prep_waiters.pop(key, None)
        job = self.find("job", "", job_id)
        return job is not None and self.prep_succeeded(job, pool_id, node_id)

    async def run_prep(self, job_id: str, pool_id: str, node_id: str) -> None:
        job = self.find("job", "", job_id)
        if job is None:
            return
        prep = job.body["jobPreparationTask"]
        node_key = f"{pool_id}/{node_id}"
        folder = self.files.job_dir(pool_id, node_id, job.id) / "jobpreparation"
        begin = self.now()
        job.internal.setdefault("prep", {})[node_key] = {
            "startTime": iso(begin),
            "state": "running",
            "retryCount": 0,
            "taskRootDirectory": f"workitems/{job.id}/job-1/jobpreparation",
            "taskRootDirectoryUrl": self.url(
                f"/pools/{pool_id}/nodes/{node_id}/files/workitems/{job.id}/job-1/jobpreparation"
            ),
        }
        self.save(job)
        env = self.base_env(pool_id, self.find("node", pool_id, node_id), node_id)
        env.update(_env_pairs(job.body.get("commonEnvironmentSettings")))
        env.update(_env_pairs(prep.get("environmentSettings")))
        env.update(
            AZ_BATCH_JOB_ID=job.id,
            AZ_BATCH_TASK_ID=prep["id"],
            AZ_BATCH_TASK_DIR=str(folder),
            AZ_BATCH_TASK_WORKING_DIR=str(folder / "wd"),
        )
        constraints = prep.get("constraints") or {}
        result, attempt = await self.run_with_retries(
            f"prep:{job.id}:{node_key}",
            prep,
            folder,
            env,
            duration_seconds(constraints.get("maxWallClockTime")),
            constraints.get("maxTaskRetryCount", 0),
        )
        job = self.find("job", "", job_id)
        if job is None:
            return
        info = job.internal.setdefault("prep", {}).setdefault(node_key, {})
        info.update(
            state="completed",
            endTime=iso(result.end),
            retryCount=attempt,
            result="success" if result.succeeded else "failure",
        )
        if result.exit_code is not None:
            info["exitCode"] = result.exit_code
        if result.failure:
            info["failureInfo"] = result.failure
        self.save(job)
        self.wakeup.set()

    def run_release_tasks(self, job: Entity) -> None:
        release = job.body.get("jobReleaseTask")
        if not release:
            return
        for node_key in list(job.internal.get("prep", {})):
            pool_id, node_id = node_key.split("/", 1)
            if self.find("node", pool_id, node_id) is None:
                continue
            job.internal.setdefault("release", {})[node_key] = {
                "startTime": iso(self.now()),
                "state": "running",
                "taskRootDirectory": f"workitems/{job.id}/job-1/jobrelease",
                "taskRootDirectoryUrl": self.url(
                    f"/pools/{pool_id}/nodes/{node_id}/files/workitems/{job.id}/job-1/jobrelease"
                ),
            }
            self.start(lambda j=job.id, p=pool_id, n=node_id: self.run_release(j, p, n))

    async def run_release(self, job_id: str, pool_id: str, node_id: str) -> None:
        job = self.find("job", "", job_id)
        if job is None:
            return
        release = job.body["jobReleaseTask"]
        folder = self.files.job_dir(pool_id, node_id, job.id) / "jobrelease"
        env = self.base_env(pool_id, self.find("node", pool_id, node_id), node_id)
        env.update(_env_pairs(job.body.get("commonEnvironmentSettings")))
        env.update(_env_pairs(release.get("environmentSettings")))
        env.update(
            AZ_BATCH_JOB_ID=job.id,
            AZ_BATCH_TASK_ID=release["id"],
            AZ_BATCH_TASK_DIR=str(folder),
            AZ_BATCH_TASK_WORKING_DIR=str(folder / "wd"),
        )
        timeout = duration_seconds(release.get("maxWallClockTime"), 900.0)
        spec = RunSpec(
            f"release:{job.id}:{pool_id}/{node_id}",
            release.get("commandLine", ""),
            folder,
            env,
            timeout,
            bool(release.get("containerSettings")),
        )
        result = await self.run_with_resources(spec, release.get("resourceFiles"))
        job = self.find("job", "", job_id)
        if job is None:
            return
        info = job.internal.setdefault("release", {}).setdefault(f"{pool_id}/{node_id}", {})
        info.update(state="completed", endTime=iso(result.end), result="success" if result.succeeded else "failure")
        if result.exit_code is not None:
            info["exitCode"] = result.exit_code
        if result.failure:
            info["failureInfo"] = result.failure
        self.save(job)

    # -- metrics for autoscale ----------------------------------------------------------------

    def sample_pool_metrics(self, pool: Entity, now: float, *, force: bool = True) -> None:
        last = self.metrics.last_time(pool.id)
        if not force and last is not None and now - last < self.config.metrics_interval:
            return
        values: dict[str, float] = dict.fromkeys(
            ("$ActiveTasks", "$RunningTasks", "$SucceededTasks", "$FailedTasks"), 0.0
        )
        for job in self.store.list("job", ref=pool.id):
            if job.body["state"] in ("completed", "deleting"):
                continue
            counts = self.store.count_by_state("task", job.id)
            values["$ActiveTasks"] += counts.get("active", 0)
            values["$RunningTasks"] += counts.get("running", 0) + counts.get("preparing", 0)
            values["$SucceededTasks"] += job.internal.get("succeeded", 0)
            values["$FailedTasks"] += job.internal.get("failed", 0)
        values["$PendingTasks"] = values["$ActiveTasks"] + values["$RunningTasks"]
        values["$CPUPercent"] = 0.0
        self.metrics.add(pool.id, now, values)

    def sample_metrics(self, now: float) -> None:
        for pool in self.store.list("pool", states=["active"]):
            try:
                self.sample_pool_metrics(pool, now, force=False)
            except Exception as exc:  # a missed sample only thins the pool's autoscale history
                self.report_fault(f"pool {pool.id!r} metrics", exc, repeat=True)

    def metric_history(self, pool_id: str) -> dict[str, Any]:
        return self.metrics.history(pool_id)

    # -- after a restart ----------------------------------------------------------------------

    def recover(self) -> dict[str, int]:
        """Requeue what was running when the previous emulator stopped (as the service does when a
        node fails), end any process it left behind, and restart interrupted node starts."""
        now = self.now()
        requeued = killed = 0
        with self.store.transaction():
            for task in self.store.list("task", None, states=["running", "preparing"]):
                run = task.internal.get("run") or {}
                if kill_leftover(int(run.get("pid") or 0), float(run.get("ticks") or 0)):
                    killed += 1
                self.requeue(task, now)
                self.save(task)
                requeued += 1
            for node in self.store.list("node", None):
                node.internal["slots"] = {}
                if node.body["state"] in ("starting", "waitingforstarttask", "creating"):
                    node.body["state"] = "starting"
                    self.set_timer(node, "started", now)
                self.refresh_occupancy(node, now)
                self.save(node)
            for job in self.store.list("job"):
                prep = job.internal.get("prep", {})
                for key in [k for k, v in prep.items() if v.get("state") == "running"]:
                    prep.pop(key)
                self.save(job)
                self.dirty_jobs.add(job.id.lower())
        return {"requeued": requeued, "killed": killed}
