"""What answering in each API version's shape costs, beside what writing the answer costs anyway.

    python bench/version_shaping.py [--items 1000] [--runs 7]

For a page of --items stored task bodies and one of pool bodies (as the emulator stores them,
statistics included), the median over --runs of: shaping the page for each API version, and
rendering the same page as JSON (what every answer pays, whatever its version). CPU-bound and
in-process and timed in CPU time, so it is steadier on a busy machine than end-to-end figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from batch_mcp.emulator import versions

TASK = {
    "id": "task-00001",
    "url": "@@BATCH_BASE_URL@@/jobs/job/tasks/task-00001",
    "eTag": "0x8DC1A2B3C4D5E6F",
    "creationTime": "2026-11-29T03:00:00.000000Z",
    "lastModified": "2026-11-29T03:00:01.000000Z",
    "state": "completed",
    "stateTransitionTime": "2026-11-29T03:00:01.000000Z",
    "previousState": "running",
    "previousStateTransitionTime": "2026-11-29T03:00:00.500000Z",
    "commandLine": "/bin/true",
    "userIdentity": {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}},
    "constraints": {"maxWallClockTime": "P10675199DT2H48M5.4775807S", "retentionTime": "P7D", "maxTaskRetryCount": 0},
    "requiredSlots": 1,
    "executionInfo": {
        "startTime": "2026-11-29T03:00:00.500000Z",
        "endTime": "2026-11-29T03:00:01.000000Z",
        "exitCode": 0,
        "result": "success",
        "retryCount": 0,
        "requeueCount": 0,
    },
    "nodeInfo": {"affinityId": "TVM:tvm-1", "poolId": "p", "nodeId": "tvm-1", "taskRootDirectory": "workitems/j/t"},
    "stats": {"readIOps": 0, "writeIOps": 0, "readIOGiB": 0.0, "writeIOGiB": 0.0, "waitTime": "PT0S"},
}
POOL = {
    "id": "pool",
    "vmSize": "standard_d2s_v3",
    "state": "active",
    "allocationState": "steady",
    "taskSlotsPerNode": 4,
    "targetDedicatedNodes": 1,
    "currentDedicatedNodes": 1,
    "currentNodeCommunicationMode": "simplified",
    "virtualMachineConfiguration": {
        "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts", "version": "latest"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
    },
    "startTask": {"commandLine": "/bin/true", "maxTaskRetryCount": 0, "waitForSuccess": True},
    "stats": {"resourceStats": {"diskReadIOps": 0, "diskWriteIOps": 0, "avgCPUPercentage": 0.0}},
}


def median_seconds(work: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        begin = time.process_time()  # CPU time of this process: steadier than wall time on a shared machine
        work()
        times.append(time.process_time() - begin)
    return statistics.median(times)


def main(args: argparse.Namespace) -> None:
    pages = {"CloudTask": [dict(TASK, id=f"t{i}") for i in range(args.items)], "CloudPool": [POOL] * args.items}
    print(f"answer shaping per API version: {args.items}-item pages, median of {args.runs} runs (ms)")
    for label, page in pages.items():
        render = median_seconds(lambda page=page: json.dumps({"value": page}, separators=(",", ":")), args.runs)
        print(f"  {label}: rendering the page as JSON {render * 1000:7.2f}")
        for name in versions.VERSIONS:
            version = versions.get(name)
            assert version is not None
            version.plan(label)  # plans are built once per process; time the steady state
            cost = median_seconds(lambda v=version, p=page, lb=label: v.shape(lb, p), args.runs)
            print(f"    shaping for {name:<16} {cost * 1000:7.2f}   ({cost / render:5.1%} of rendering)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    main(parser.parse_args())
