"""File bodies stream: a 1 GiB node file passes through the emulator with flat memory."""

from __future__ import annotations

import tracemalloc

import pytest

from tests.emulator.conftest import make_pool, serving

pytestmark = pytest.mark.anyio
GIB = 1024**3


@pytest.mark.slow
async def test_a_one_gib_node_file_streams_with_flat_memory() -> None:
    async with serving() as (emu, api):
        node = (await make_pool(api, "p"))[0]["id"]
        path = emu.backend.files.node_root("p", node) / "shared" / "big.bin"
        with path.open("wb") as handle:  # sparse: no disk or time spent writing it
            handle.truncate(GIB)
        tracemalloc.start()
        received = 0
        async with api.http.stream(
            "GET", f"/pools/p/nodes/{node}/files/shared/big.bin", params={"api-version": api.version}
        ) as r:
            assert r.status_code == 200 and int(r.headers["content-length"]) == GIB
            async for chunk in r.aiter_raw():
                received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert received == GIB
        assert peak < 32 * 1024**2, f"peak {peak / 1024**2:.1f} MiB while streaming 1 GiB"
