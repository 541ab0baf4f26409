"""Idle culling on the real engine: an idle workspace is stopped, its volumes kept."""

from __future__ import annotations

import asyncio

from workspace_launcher.workspaces.culling import IdleCuller
from workspace_launcher.workspaces.model import Status


async def test_idle_workspaces_are_stopped_and_busy_ones_kept(manager, minimal_image, test_owner, docker_client):
    # A generous limit first: both started within it, however slow this machine launches them.
    culler = IdleCuller(manager=manager, idle_timeout=600.0)
    idle = await manager.launch(owner=test_owner, profile="minimal", name="idle-one")
    busy = await manager.launch(owner=test_owner, profile="minimal", name="busy-one")
    try:
        assert await culler.cull(owner=test_owner) == []  # both just started
        culler.idle_timeout = 2.0
        await asyncio.sleep(2.5)
        manager.record_activity(busy.id)  # the proxy just carried a request for it
        assert await culler.cull(owner=test_owner) == [idle.id]
        assert (await manager.get(owner=test_owner, workspace_id=idle.id)).status is Status.STOPPED
        assert (await manager.get(owner=test_owner, workspace_id=busy.id)).status is Status.RUNNING
        assert docker_client.volumes.get(f"workspace-launcher-work-{idle.id}")
    finally:
        for workspace in (idle, busy):
            await manager.delete(owner=test_owner, workspace_id=workspace.id, purge=True)
