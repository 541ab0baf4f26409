"""The launch pipeline on an in-memory engine: what a failed or cancelled launch made is removed
(the owner's model volume stays), and the container spec carries the request."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from tests.unit.workspaces.fakes import manager  # noqa: F401 (a fixture)
from workspace_launcher.engine import spec as specs
from workspace_launcher.engine.objects import Network
from workspace_launcher.engine.protocol import WorkspaceEngine
from workspace_launcher.errors import Conflict, LaunchFailed
from workspace_launcher.workspaces.model import Status
from workspace_launcher.workspaces.volumes import model_volume_of

SNAPSHOT = "workspace-launcher/snapshot-alice:v1"


class MemoryEngine:
    """The engine protocol in memory: records what exists; ``start`` fails with ``start_error``,
    and ``create`` waits for ``create_gate`` when one is set."""

    def __init__(self) -> None:
        self.containers: dict[str, specs.WorkspaceSpec] = {}
        self.volumes: dict[str, Mapping[str, str]] = {}
        self.start_error: Exception | None = None
        self.create_gate: asyncio.Event | None = None
        self.create_entered = asyncio.Event()

    async def create(self, spec):
        self.create_entered.set()
        if self.create_gate is not None:
            await self.create_gate.wait()
        container_id = f"c{len(self.containers)}"
        self.containers[container_id] = spec
        return container_id

    async def start(self, container_id):
        if self.start_error is not None:
            raise self.start_error

    async def stop(self, container_id, *, timeout=10):
        pass

    async def remove(self, container_id, *, wait=30.0):
        self.containers.pop(container_id, None)

    async def inspect(self, container_id):
        return None

    async def list_workspaces(self, *, owner=None, workspace_id=None):
        return []

    async def logs(self, container_id, *, tail=200):
        return "the container's last words"

    async def copy_into(self, container_id, target, source_dir, *, uid, gid):
        pass

    async def commit(self, container, *, repository, tag, labels, message):
        pass

    def watch(self, *, resync_interval):
        raise NotImplementedError

    async def ensure_volume(self, name, labels):
        made = name not in self.volumes
        self.volumes.setdefault(name, labels)
        return made

    async def remove_volume(self, name):
        return self.volumes.pop(name, None) is not None

    async def list_volumes(self, labels):
        return []

    async def volume_exists(self, name):
        return name in self.volumes

    async def ensure_network(self):
        return Network(name="workspace-launcher", gateway=None)

    async def image_labels(self, reference):
        if reference == SNAPSHOT:
            return {specs.label("role"): "snapshot", specs.label("owner"): "alice", specs.label("profile"): "minimal"}
        return None

    async def list_images(self, labels):
        return []

    async def remove_image(self, reference):
        return False

    async def has_nvidia_runtime(self):
        return True


@pytest.fixture
def engine(manager):
    assert isinstance(MemoryEngine(), WorkspaceEngine)  # the fake keeps to the protocol
    manager.backend = MemoryEngine()
    manager.demo_dir = ""
    return manager.backend


def test_a_launch_that_fails_to_start_removes_its_container_and_work_volume(manager, engine):
    engine.start_error = LaunchFailed("Jupyter did not start")
    request = manager.validate_launch(owner="alice", profile="minimal", snapshot=SNAPSHOT)

    with pytest.raises(LaunchFailed):
        asyncio.run(manager.launches.run(request))
    assert engine.containers == {}
    assert list(engine.volumes) == [model_volume_of("alice")]  # the owner's, not the launch's
    failed = manager.launches.pending[request.workspace_id]
    assert failed.status is Status.FAILED and failed.error == "Jupyter did not start"
    assert failed.log_tail == "the container's last words" and failed.container_id is None


def test_a_launch_cancelled_while_its_container_is_being_made_removes_it_once_made(manager, engine):
    """The engine call finishes anyway (it runs in a thread): the clean-up waits for it."""
    request = manager.validate_launch(owner="alice", profile="minimal", snapshot=SNAPSHOT)

    async def scenario():
        engine.create_gate = asyncio.Event()
        task = manager.launches.spawn(request, None)
        await engine.create_entered.wait()
        task.cancel()
        await asyncio.sleep(0.01)
        engine.create_gate.set()  # the container appears after the cancel
        with pytest.raises(asyncio.CancelledError):
            await task
        assert manager.launches.tasks == {}

    asyncio.run(scenario())
    assert engine.containers == {}
    assert list(engine.volumes) == [model_volume_of("alice")]
    assert "cancelled" in manager.launches.pending[request.workspace_id].error


def test_cancelling_what_is_not_launching_is_false(manager, engine):
    assert asyncio.run(manager.launches.cancel("0123456789ab")) is False


def test_a_registered_launch_is_listed_before_its_container_exists(manager, engine):
    request = manager.validate_launch(owner="alice", profile="minimal", name="early")
    manager.launches.register(request)
    (listed,) = asyncio.run(manager.list(owner="alice"))
    assert (listed.id, listed.name, listed.status) == (request.workspace_id, "early", Status.PENDING)
    assert asyncio.run(manager.list(owner="bob")) == []


def test_the_smallest_cpu_limit_reaches_the_engine_as_a_limit(manager):
    request = manager.validate_launch(owner="alice", profile="minimal", cpus=0.01)
    assert request.limits.cpus == 0.01
    spec = manager.launches.spec(request, "img", [], publish_port=False)
    assert specs.container_spec(spec)["nano_cpus"] == 10_000_000


def test_each_launch_gets_a_fresh_token_and_the_owners_model_volume(manager):
    request = manager.validate_launch(owner="alice", profile="minimal")
    first = manager.launches.spec(request, "img", [], publish_port=False)
    second = manager.launches.spec(request, "img", [], publish_port=False)
    assert first.token != second.token and len(first.token) >= 40
    assert first.model_volume == model_volume_of("alice")
    assert first.work_volume == specs.work_volume_name(request.workspace_id)
    assert first.base_url == manager.workspace_base_url(request.workspace_id)


def test_a_pending_launch_from_a_snapshot_holds_the_snapshot(manager, engine):
    """Before its container exists, a launch from a snapshot already counts as using it: the
    snapshot's delete is refused instead of pulling the image from under the launch."""
    request = manager.validate_launch(owner="alice", profile="minimal", snapshot=SNAPSHOT, name="early")
    manager.launches.register(request)
    (listed,) = asyncio.run(manager.list(owner="alice"))
    assert listed.image == SNAPSHOT
    with pytest.raises(Conflict, match="the image of your workspace early"):
        asyncio.run(manager.delete_snapshot(owner="alice", tag="v1"))
