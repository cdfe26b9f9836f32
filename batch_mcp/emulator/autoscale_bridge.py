"""The backend's side of autoscale: formula errors as Batch errors, outcomes as AutoScaleRun.

The formula language itself lives in `autoscale.py`; this module only adapts its results to the
wire and the error envelope, and keeps the metric history each evaluation reads.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any

from batch_mcp.emulator import autoscale, errors
from batch_mcp.emulator.timefmt import from_epoch, iso

Inputs = autoscale.AutoScaleInputs
HISTORY_SECONDS = 3 * 3600  # the longest look-back a formula can ask of the emulator
METRICS = ("$PendingTasks", "$ActiveTasks", "$RunningTasks", "$SucceededTasks", "$FailedTasks", "$CPUPercent")


def parse(text: str) -> autoscale.Formula:
    """Parse a formula, or raise the service's 400 for its syntax."""
    try:
        return autoscale.parse_formula(text)
    except autoscale.FormulaError as exc:
        values = {v.get("name", ""): v.get("value", "") for v in exc.values}
        raise errors.BatchError(400, exc.code, exc.message, values) from None


def run(formula: autoscale.Formula, inputs: Inputs, now: float) -> dict[str, Any]:
    """An AutoScaleRun for one evaluation; the applied targets ride along under `_values`."""
    outcome = autoscale.evaluate(formula, inputs)
    out: dict[str, Any] = {"timestamp": iso(now), "results": outcome.results}
    if outcome.error is not None:
        out["error"] = outcome.error.to_wire()
    else:
        out["_values"] = {
            "$TargetDedicatedNodes": outcome.target_dedicated_nodes,
            "$TargetLowPriorityNodes": outcome.target_low_priority_nodes,
            "$NodeDeallocationOption": outcome.node_deallocation_option,
        }
    return out


class MetricHistory:
    """Samples of each pool's metrics, oldest first, trimmed to HISTORY_SECONDS."""

    def __init__(self) -> None:
        self._pools: dict[str, deque[tuple[float, dict[str, float]]]] = {}

    def add(self, pool_id: str, at: float, values: dict[str, float]) -> None:
        samples = self._pools.setdefault(pool_id.lower(), deque())
        samples.append((at, values))
        while samples and samples[0][0] < at - HISTORY_SECONDS:
            samples.popleft()

    def last_time(self, pool_id: str) -> float | None:
        samples = self._pools.get(pool_id.lower())
        return samples[-1][0] if samples else None

    def history(self, pool_id: str) -> dict[str, list[tuple[datetime, float]]]:
        samples = self._pools.get(pool_id.lower(), deque())
        return {name: [(from_epoch(t), v[name]) for t, v in samples if name in v] for name in METRICS}

    def forget(self, pool_id: str) -> None:
        self._pools.pop(pool_id.lower(), None)
