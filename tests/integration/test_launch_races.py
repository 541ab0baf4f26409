"""Launches racing deletes, stops, shutdowns and dead host servers, on the real engine: nothing
made by a cancelled launch survives it, and nothing abandoned keeps its GPUs."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from workspace_launcher.api.views import gpus_view
from workspace_launcher.engine import spec as specs
from workspace_launcher.errors import NotFound
from workspace_launcher.workspaces.launches import Made
from workspace_launcher.workspaces.manager import WorkspaceManager
from workspace_launcher.workspaces.model import Status
from workspace_launcher.workspaces.validation import owner_slug

from .conftest import make_config
from .test_workspaces import FAKE_GPUS

#: Long enough to act on a build in flight, short enough for CI.
BUILD_SECONDS = 12


def owned(docker_client, owner: str, workspace_id: str | None = None) -> tuple[list, set]:
    labels = [f"{specs.label('owner')}={owner}"]
    containers = docker_client.containers.list(all=True, filters={"label": labels})
    if workspace_id:
        containers = [c for c in containers if c.labels.get(specs.MANAGED_LABEL) == workspace_id]
    volumes = {v.name for v in docker_client.volumes.list(filters={"label": labels})}
    return containers, volumes


async def until(predicate, *, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def in_phase(manager, owner, workspace_id, *, status: Status, with_container: bool = False) -> None:
    async def reached() -> bool:
        w = manager.launches.pending.get(workspace_id)
        return w is not None and w.status is status and (not with_container or w.container_id is not None)

    await until(reached, what=f"{workspace_id} to reach {status.value}")


@pytest.fixture
def slow_profile(tmp_path, minimal_image, docker_client):
    """A profile whose build takes BUILD_SECONDS (a fresh context each test, so never cached)."""
    context = tmp_path / "slow"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "ARG JUPYTER_IMAGE\nFROM ${JUPYTER_IMAGE}\nCOPY nonce.txt /tmp/nonce.txt\n"
        f"RUN sleep {BUILD_SECONDS}\n"
    )
    (context / "nonce.txt").write_text(secrets.token_hex(8))
    name = f"wltest-slow-{secrets.token_hex(3)}"
    yield name, {"display_name": "Slow", "description": "sleeps while building", "context_dir": str(context)}
    for image in docker_client.images.list(filters={"label": f"{specs.label('profile')}={name}"}):
        docker_client.images.remove(image.id, force=True)


def slow_manager(dataset_root, tmp_path, profile) -> WorkspaceManager:
    config = make_config(dataset_root, tmp_path)
    config.ProfileRegistry.extra_profiles = {profile[0]: profile[1]}
    return WorkspaceManager(config=config)


def test_deleting_during_the_build_means_it_never_appears(dataset_root, tmp_path, slow_profile, docker_client, test_owner):
    manager = slow_manager(dataset_root, tmp_path, slow_profile)
    name = slow_profile[0]
    test_owner = f"{test_owner}-build"

    async def scenario() -> str:
        pending = await manager.start_launch(owner=test_owner, profile=name)
        await in_phase(manager, test_owner, pending.id, status=Status.BUILDING)
        await manager.delete(owner=test_owner, workspace_id=pending.id, purge=True)
        with pytest.raises(NotFound):
            await manager.get(owner=test_owner, workspace_id=pending.id)
        # The build itself runs on in the engine (it is a cache); once it is done, still nothing.
        await until(lambda: asyncio.to_thread(lambda: bool(docker_client.images.list(
            filters={"label": f"{specs.label('profile')}={name}"}))), timeout=BUILD_SECONDS + 120, what="the build")
        await asyncio.sleep(2)
        return pending.id

    workspace_id = asyncio.run(scenario())
    assert owned(docker_client, test_owner, workspace_id) == ([], set())
    manager.engine.close()


@pytest.mark.parametrize("action", ["delete", "stop"])
def test_delete_or_stop_while_jupyter_starts_cancels_and_cleans_up(action, session_config, minimal_image, docker_client, test_owner):
    manager = WorkspaceManager(config=session_config)
    owner = f"{test_owner}-{action}"

    async def scenario() -> str:
        pending = await manager.start_launch(owner=owner, profile="minimal")
        await in_phase(manager, owner, pending.id, status=Status.STARTING, with_container=True)
        if action == "delete":
            await manager.delete(owner=owner, workspace_id=pending.id)
            assert await manager.list(owner=owner) == []
        else:
            stopped = await manager.stop(owner=owner, workspace_id=pending.id)
            assert stopped.status is Status.FAILED and "stopped during its launch" in stopped.error
            listed = await manager.list(owner=owner)
            assert [(w.id, w.status) for w in listed] == [(pending.id, Status.FAILED)]
        assert not manager.launches.tasks
        return pending.id

    try:
        workspace_id = asyncio.run(scenario())
        # What the launch made goes with it (the owner's model volume is the owner's: kept).
        containers, volumes = owned(docker_client, owner, workspace_id)
        assert containers == [] and specs.work_volume_name(workspace_id) not in volumes
        assert volumes <= {specs.model_volume_name(owner_slug(owner))}
    finally:
        for volume in owned(docker_client, owner)[1]:
            docker_client.volumes.get(volume).remove(force=True)
        manager.engine.close()


async def test_stopping_the_extension_cancels_launches_in_flight(jp_serverapp, docker_client, minimal_image, test_owner):
    app = jp_serverapp.extension_manager.extension_apps["workspace_launcher"]
    (app,) = app
    manager = app.settings["workspace_launcher_manager"]
    pending = await manager.start_launch(owner=test_owner, profile="minimal", name="at-shutdown")
    await in_phase(manager, test_owner, pending.id, status=Status.STARTING, with_container=True)
    await app.stop_extension()
    assert not manager.launches.tasks
    containers, volumes = owned(docker_client, test_owner, pending.id)
    assert containers == [] and specs.work_volume_name(pending.id) not in volumes


@pytest.fixture
def jp_server_config(session_config, test_owner):
    config = session_config
    config.ServerApp.jpserver_extensions = {"workspace_launcher": True}
    config.WorkspaceLauncherApp.owner = test_owner
    return config


def test_a_launch_abandoned_by_a_dead_host_server_fails_and_frees_its_gpus(dataset_root, tmp_path, minimal_image, docker_client, test_owner):
    """What a host server that died between creating and starting the container leaves behind:
    another manager marks it failed once its deadline passes, and its GPU is free again."""
    config = make_config(dataset_root, tmp_path, declared_gpus=FAKE_GPUS)
    config.WorkspaceManager.launch_timeout = 3.0
    owner = f"{test_owner}-abandoned"
    dead = WorkspaceManager(config=config)
    request = dead.validate_launch(owner=owner, profile="minimal", gpus=["GPU-fake-2"])
    # The dead server's last act: the container exists ("created"), nobody will start it.
    asyncio.run(dead.launches.create(request, minimal_image.tag, Made(), publish_port=False))
    dead.engine.close()
    survivor = WorkspaceManager(config=config)
    try:
        (starting,) = asyncio.run(survivor.list(owner=owner))
        assert starting.status is Status.STARTING
        held = asyncio.run(gpus_view(survivor, owner=owner))["gpus"]
        assert [g["held_by"] for g in held if g["uuid"] == "GPU-fake-2"] == [[{"id": starting.id, "name": starting.name, "mine": True}]]
        time.sleep(3.5)
        (failed,) = asyncio.run(survivor.list(owner=owner))
        assert failed.status is Status.FAILED and "abandoned" in failed.error
        held = asyncio.run(gpus_view(survivor, owner=owner))["gpus"]
        assert all(g["held_by"] == [] for g in held)
        # The GPU can be reserved again.
        again = survivor.validate_launch(owner=owner, profile="minimal", gpus=["GPU-fake-2"])
        assert [g.uuid for g in asyncio.run(survivor.launches.reserve_gpus(again))] == ["GPU-fake-2"]
    finally:
        for w in asyncio.run(survivor.list(owner=owner)):
            asyncio.run(survivor.delete(owner=owner, workspace_id=w.id, purge=True))
        for volume in owned(docker_client, owner)[1]:
            docker_client.volumes.get(volume).remove(force=True)
        survivor.engine.close()


def test_a_paused_workspace_reads_paused(manager, minimal_image, docker_client, test_owner):
    workspace = asyncio.run(manager.launch(owner=test_owner, profile="minimal", name="frozen"))
    container = docker_client.containers.get(workspace.container_id)
    try:
        container.pause()
        paused = asyncio.run(manager.get(owner=test_owner, workspace_id=workspace.id))
        assert paused.status is Status.PAUSED and "holds its GPUs" in paused.message
        container.unpause()
        assert asyncio.run(manager.get(owner=test_owner, workspace_id=workspace.id)).status is Status.RUNNING
    finally:
        asyncio.run(manager.delete(owner=test_owner, workspace_id=workspace.id, purge=True))
