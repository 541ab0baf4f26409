"""Launches: the ones in flight, kept by workspace id, and the straight line one runs down.

A launch goes down the house once: the validated request (launch_request, pure), the image plan
(the builder, pinning inside it, or the owner's snapshot), the GPU reservation and volumes under
the reservation lock, the container spec (engine.spec, pure), the engine, and readiness. A
launch that fails or is cancelled at any phase removes what it made; only the owner's model
volume stays, since it is the owner's and not the launch's.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workspace_launcher import __version__
from workspace_launcher.engine import spec as specs
from workspace_launcher.engine.gpu_devices import render_group_ids
from workspace_launcher.errors import Conflict, GpuRuntimeMissing, LauncherError
from workspace_launcher.gpus.choices import owner_holds
from workspace_launcher.gpus.model import Gpu
from workspace_launcher.images.pinning import check_launch
from workspace_launcher.workspaces.build_reporting import BuildReporter, describe_estimate
from workspace_launcher.workspaces.launch_request import LaunchRequest
from workspace_launcher.workspaces.model import PhaseReporter, ProgressCallback, Status, Workspace
from workspace_launcher.workspaces.readiness import container_log_tail, wait_ready
from workspace_launcher.workspaces.snapshots import owner_snapshot_labels
from workspace_launcher.workspaces.volumes import model_volume_of

if TYPE_CHECKING:
    from workspace_launcher.workspaces.manager import WorkspaceManager

DEMO_TARGET = "/home/jovyan/work"
CANCELLED = "the launch was cancelled: the workspace was stopped or deleted, or its server shut down"


@dataclass
class Made:
    """What a launch has made so far, for its clean-up to remove."""

    gpus: list[Gpu] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    spec: specs.WorkspaceSpec | None = None
    container_id: str | None = None


class Launches:
    """The launches of one manager: those in flight (and failed ones whose containers are gone),
    their tasks, and the pipeline each runs."""

    def __init__(self, manager: WorkspaceManager) -> None:
        self.manager = manager
        #: Launches in flight, and failed launches whose containers are gone, by workspace id.
        self.pending: dict[str, Workspace] = {}
        #: Their tasks by workspace id, so delete/stop (and shutdown) can cancel them.
        self.tasks: dict[str, asyncio.Task] = {}

    @property
    def log(self):
        return self.manager.log

    # -- in flight ----------------------------------------------------------------------------
    def register(self, request: LaunchRequest) -> Workspace:
        """Register a validated launch as pending, so lists show it before its container exists."""
        workspace = Workspace(
            id=request.workspace_id, name=request.name, owner=request.owner, profile=request.profile.name,
            status=Status.PENDING, message="queued", datasets=[d.name for d in request.datasets],
            created=request.created, base_url=self.manager.workspace_base_url(request.workspace_id),
            demo_notebook=request.demo_notebook,
            image=request.snapshot or "",  # so a snapshot's delete waits for launches from it too
        )
        return self.pending.setdefault(request.workspace_id, workspace)

    def in_flight(self, workspace_id: str) -> bool:
        return workspace_id in self.tasks

    def spawn(self, request: LaunchRequest, on_progress: ProgressCallback | None,
              reserved: asyncio.Future | None = None) -> asyncio.Task:
        """Run a launch as a task kept by workspace id (cancel reaches it)."""
        task = asyncio.create_task(self.run(request, on_progress=on_progress, reserved=reserved))
        self.tasks[request.workspace_id] = task
        task.add_done_callback(lambda _: self.tasks.pop(request.workspace_id, None))
        return task

    async def start(self, request: LaunchRequest, on_progress: ProgressCallback | None) -> Workspace:
        """Launch in the background; returns the pending workspace.

        With GPUs asked and nothing to build, the reservation is made before answering, so losing
        a race to another launch (of any server) is this request's 409, not a failure later."""
        workspace = self.register(request)
        reserved = asyncio.get_running_loop().create_future() if await self._reserves_now(request) else None
        task = self.spawn(request, on_progress, reserved)
        task.add_done_callback(self._log_background_failure)
        if reserved is not None:
            await asyncio.wait([reserved, task], return_when=asyncio.FIRST_COMPLETED)
            if not reserved.done() and not task.cancelled() and isinstance(task.exception(), Conflict):
                self.pending.pop(request.workspace_id, None)
                raise task.exception()
        return workspace

    async def _reserves_now(self, request: LaunchRequest) -> bool:
        if request.gpus.kind == "none":
            return False
        return request.snapshot is not None or await self.manager.builder.find(request.profile) is not None

    async def cancel(self, workspace_id: str) -> bool:
        """Cancel a launch in flight at whatever phase it is in and wait until what it made is
        removed. True when there was one."""
        task = self.tasks.get(workspace_id)
        if task is None or task.done():
            return False
        task.cancel()
        await asyncio.wait([task])
        return True

    async def cancel_all(self) -> None:
        await asyncio.gather(*(self.cancel(i) for i in list(self.tasks)))

    def _log_background_failure(self, task: asyncio.Task) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            level = self.log.info if isinstance(error, LauncherError) else self.log.error
            level("background launch failed: %s", error, exc_info=not isinstance(error, LauncherError))

    # -- before anything is made ----------------------------------------------------------------
    async def check(self, request: LaunchRequest) -> None:
        """Checks that need the engine but change nothing: a clear 409 now beats a failed launch.

        The reservation itself is repeated under the lock when the container is created."""
        manager = self.manager
        for other in await manager.list(owner=request.owner):
            if other.name == request.name and other.id != request.workspace_id and other.status is not Status.FAILED:
                raise Conflict(f"you already have a workspace named {request.name!r}; choose another name", field="name")
        if request.snapshot is not None:
            await owner_snapshot_labels(manager.backend, owner=request.owner, image=request.snapshot)
        if request.gpus.kind == "none":
            return
        gpus = manager.allocator.select(request.gpus, {}, vendor=request.profile.gpu_vendor)
        if any(g.vendor == "nvidia" for g in gpus) and not await manager.backend.has_nvidia_runtime():
            raise GpuRuntimeMissing(
                "GPUs were requested but this host has no NVIDIA container runtime; run "
                "'workspace-launcher doctor' to see how to install it, or launch with gpus=0"
            )
        await self.reserve_gpus(request)  # raises Conflict when they are taken

    # -- the pipeline ---------------------------------------------------------------------------
    async def run(self, request: LaunchRequest, *, on_progress: ProgressCallback | None = None,
                  reserved: asyncio.Future | None = None) -> Workspace:
        """Build or find the image, reserve GPUs, create, start and wait until Jupyter answers;
        ``reserved`` (if given) is resolved once the GPUs are reserved and the container made."""
        manager = self.manager
        workspace = self.register(request)
        report = PhaseReporter(workspace, on_progress, self.log)
        report(Status.PENDING, "queued")
        made = Made()
        try:
            image = await self.image_for(request, report)
            report(Status.STARTING, "reserving GPUs and creating the container")
            await self._reserve_and_create(request, image, made)
            if reserved is not None and not reserved.done():
                reserved.set_result(made.container_id)
            if specs.work_volume_name(request.workspace_id) in made.volumes and manager.demo_dir:
                # Only into a new work volume: the demos never overwrite a user's files.
                await manager.backend.copy_into(made.container_id, DEMO_TARGET, manager.demo_dir, uid=1000, gid=100)
            workspace.container_id = made.container_id
            workspace.gpus = [g.uuid for g in made.gpus]
            report(Status.STARTING, "starting Jupyter", progress=70)
            await manager.backend.start(made.container_id)
            await manager.changed(made.container_id)
            await wait_ready(manager.backend, manager.routes, made.container_id, base_url=made.spec.base_url,
                             token=made.spec.token, timeout=manager.launch_timeout)
        except BaseException as e:
            await self._clean_up(e, workspace, made)
            report(Status.FAILED, workspace.error)
            raise
        report(Status.RUNNING, "running")
        self.pending.pop(request.workspace_id, None)
        return await manager.get(owner=request.owner, workspace_id=request.workspace_id)

    async def _clean_up(self, error: BaseException, workspace: Workspace, made: Made) -> None:
        """Remove what the failed launch made and keep why it failed on the workspace."""
        manager = self.manager
        log_tail = getattr(error, "log_tail", "") or ""
        if made.container_id is not None:
            log_tail = log_tail or await container_log_tail(manager.backend, made.container_id)
            await manager.backend.remove(made.container_id)
            manager.changed_now_gone(made.container_id)
        await manager.volumes.remove(made.volumes)
        workspace.container_id = None
        if isinstance(error, asyncio.CancelledError):
            workspace.error = CANCELLED
        else:
            workspace.error = getattr(error, "message", None) or str(error) or type(error).__name__
        workspace.log_tail = log_tail

    @staticmethod
    async def _tick(building: BuildReporter, interval: float = 2.0) -> None:
        """Keep the bar moving through a silent build step, at the estimate's pace."""
        while True:
            await asyncio.sleep(interval)
            building.tick()

    async def image_for(self, request: LaunchRequest, report: PhaseReporter) -> str:
        """The image plan: the owner's snapshot, or the profile's image built when missing; with
        pinning required, either must match the lock."""
        builder = self.manager.builder
        if request.snapshot is not None:
            labels = await owner_snapshot_labels(self.manager.backend, owner=request.owner, image=request.snapshot)
            if builder.require_pinned_images:
                check_launch(labels, builder.lock(), labels.get(specs.label("profile"), request.profile.name))
            return request.snapshot
        estimate = None
        if await builder.find(request.profile) is None:
            estimate = await builder.build_estimate(request.profile, image_missing=True)
            said = describe_estimate(estimate)
            report(Status.BUILDING, f"building the {request.profile.name} image" + (f": {said}" if said else ""))
        building = BuildReporter(report, builder.history, estimate)
        ticker = asyncio.create_task(self._tick(building))
        try:
            built = await builder.ensure(request.profile, on_log=building.line, on_stage=building.stage)
        finally:
            ticker.cancel()
        if builder.require_pinned_images:  # an image built before the lock changed
            check_launch(await self.manager.backend.image_labels(built.tag), builder.lock(), request.profile)
        return built.tag

    async def _reserve_and_create(self, request: LaunchRequest, image: str, made: Made) -> None:
        """Reserve GPUs (under the reservation lock) and create the volumes and the container,
        recording each in ``made`` as soon as it exists."""
        manager = self.manager
        # Published on loopback only where the host cannot reach the network (upstream.py).
        network = await manager.backend.ensure_network()
        publish_port = not manager.routes.uses_network(network.gateway)
        work = asyncio.ensure_future(self.create(request, image, made, publish_port=publish_port))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            # Engine calls run in threads and finish anyway: wait, so clean-up knows what they made.
            await asyncio.wait([work])
            raise

    async def create(self, request: LaunchRequest, image: str, made: Made, *, publish_port: bool) -> None:
        """Reserve the GPUs under the reservation lock (held until the container records them)
        and create the volumes and the container."""
        manager = self.manager
        if request.gpus.kind == "none":  # nothing to reserve: no lock, no engine-wide read
            await self._create_container(request, image, publish_port, made)
            return
        async with manager.allocator.reservation_lock():
            made.gpus = await self.reserve_gpus(request)
            await self._create_container(request, image, publish_port, made)

    async def _create_container(self, request: LaunchRequest, image: str, publish_port: bool, made: Made) -> None:
        manager = self.manager
        made.volumes = await manager.volumes.ensure_for(request)
        made.spec = self.spec(request, image, made.gpus, publish_port=publish_port)
        made.container_id = await manager.backend.create(made.spec)
        await manager.changed(made.container_id)

    async def reserve_gpus(self, request: LaunchRequest) -> list[Gpu]:
        """The GPUs this launch gets, against the engine's newest count (other servers' too)."""
        if request.gpus.kind == "none":
            return []
        containers = await self.manager.backend.list_workspaces()
        held = specs.gpus_held(containers)
        mine = {c.workspace_id for c in containers if c.owner == request.owner}
        return self.manager.allocator.select(request.gpus, held, vendor=request.profile.gpu_vendor,
                                             owner_holds=owner_holds(held, mine))

    def spec(self, request: LaunchRequest, image: str, gpus: list[Gpu], *, publish_port: bool) -> specs.WorkspaceSpec:
        """The engine's description of this workspace's container (a fresh token each launch)."""
        manager = self.manager
        return specs.WorkspaceSpec(
            workspace_id=request.workspace_id, owner=request.owner, name=request.name,
            profile=request.profile.name, image=image, token=secrets.token_urlsafe(32),
            base_url=manager.workspace_base_url(request.workspace_id),
            model_volume=model_volume_of(request.owner), work_volume=specs.work_volume_name(request.workspace_id),
            created=request.created, gpus=tuple(gpus), datasets=request.datasets, limits=request.limits,
            demo_notebook=request.demo_notebook, environment=request.environment,
            gpu_group_ids=tuple(render_group_ids()) if any(g.vendor == "amd" for g in gpus) else (),
            version=__version__, publish_port=publish_port, launch_deadline=time.time() + manager.launch_timeout,
        )
