"""A scale call's dry run says when Batch would refuse the call, for every scale tool."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.conftest import call, connect, make_settings, text, wait_until

pytestmark = pytest.mark.anyio


async def test_removing_nodes_or_enabling_autoscale_on_a_resizing_pool_is_flagged_in_the_plan(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, emulator_transition_delay=3)  # the resize below takes a while
    async with connect(settings, "legacy") as client:
        nodes = await wait_until(client, "node_list", {"pool_id": "local"}, lambda d: bool(d.get("items")))
        node = nodes["items"][0]["id"]
        assert not (await call(client, "pool_resize", {"pool_id": "local", "targetDedicatedNodes": 2})).is_error
        plan = await call(client, "pool_remove_nodes", {"pool_id": "local", "nodeList": [node], "dry_run": True})
        assert not plan.is_error, text(plan)
        assert "resizing" in (plan.structured_content or {}).get("batchWouldRefuse", ""), plan.structured_content
        formula = {"pool_id": "local", "autoScaleFormula": "$TargetDedicatedNodes = 1;", "dry_run": True}
        autoscale = await call(client, "pool_enable_auto_scale", formula)
        assert "resizing" in (autoscale.structured_content or {}).get("batchWouldRefuse", ""), autoscale
        for_real = await call(client, "batch_call", {"name": "pool_stop_resize", "arguments": {"pool_id": "local"}})
        assert for_real.is_error  # (confirmation needed; this client cannot give it): nothing changes here
