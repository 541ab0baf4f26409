"""Workspace state from the engine's event stream (the reflector), against the real engine."""

from __future__ import annotations

import asyncio
import time

from workspace_launcher.errors import NotFound
from workspace_launcher.workspaces.manager import WorkspaceManager
from workspace_launcher.workspaces.model import Status


async def until(predicate, timeout: float = 10.0, what: str = "") -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def counting_engine_calls(manager: WorkspaceManager) -> list:
    calls: list = []
    original = manager.engine.call

    async def counted(fn, *args, **kwargs):
        calls.append(getattr(fn, "__name__", str(fn)))
        return await original(fn, *args, **kwargs)

    manager.engine.call = counted
    return calls


def test_a_watching_manager_follows_another_servers_changes_without_engine_calls(session_config, minimal_image, test_owner):
    owner = f"{test_owner}-reflect"

    async def scenario() -> None:
        watcher = WorkspaceManager(config=session_config)
        other = WorkspaceManager(config=session_config)  # another host server on the same engine
        watcher.watch_engine()
        await until(lambda: watcher.reflector.synced, what="the first list")
        try:
            workspace = await other.launch(owner=owner, profile="minimal", name="watched")
            await _until_status(watcher, owner, workspace.id, Status.RUNNING)
            calls = counting_engine_calls(watcher)
            for _ in range(50):
                got = await watcher.get(owner=owner, workspace_id=workspace.id)
                assert got.status is Status.RUNNING
                assert [w.id for w in await watcher.list(owner=owner)] == [workspace.id]
                await watcher.connection(owner=owner, workspace_id=workspace.id)
            assert calls == [], f"status polls went to the engine: {calls[:5]}"

            await other.stop(owner=owner, workspace_id=workspace.id)
            await _until_status(watcher, owner, workspace.id, Status.STOPPED)
            await other.delete(owner=owner, workspace_id=workspace.id, purge=True)
            await until(lambda: watcher.reflector.containers(owner=owner) == [], what="the delete to be seen")
        finally:
            for w in await other.list(owner=owner):
                await other.delete(owner=owner, workspace_id=w.id, purge=True)
            await watcher.shutdown()
            watcher.engine.close()
            other.engine.close()

    asyncio.run(scenario())


async def _until_status(manager, owner, workspace_id, status) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            if (await manager.get(owner=owner, workspace_id=workspace_id)).status is status:
                return
        except NotFound:  # its create event not taken in yet
            pass
        assert time.monotonic() < deadline, f"{workspace_id} never read {status.value}"
        await asyncio.sleep(0.02)


def test_a_broken_event_stream_sends_reads_to_the_engine_until_it_is_back(session_config, docker_client):
    async def scenario() -> None:
        manager = WorkspaceManager(config=session_config)
        manager.watch_engine()
        reflector = manager.reflector
        try:
            await until(lambda: reflector.synced, what="the first list")
            first = reflector.last_resync
            reflector._close_stream()  # what an engine restart does to the stream
            await until(lambda: not reflector.synced, what="the loss to be noticed")
            calls = counting_engine_calls(manager)
            await manager.list()
            assert calls, "with the stream lost, a list must ask the engine"
            await until(lambda: reflector.synced, what="the reconnection")
            assert reflector.last_resync > first  # reconnected with a full list
        finally:
            await manager.shutdown()
            manager.engine.close()

    asyncio.run(scenario())
