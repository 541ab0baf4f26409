"""WorkspaceManager: sequences the lifecycle of workspaces on one engine, and nothing else.

State lives in the engine (container and volume labels), so a restarted host server, or two
host servers sharing one engine, see the same workspaces. Only launches still in flight (and
the failures of launches whose containers were cleaned up) are held in memory (launches.py).
The admin's settings are :class:`~workspace_launcher.workspaces.settings.WorkspaceSettings`;
each collaborator is a trait with a default, so configuration or a test can replace it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from traitlets import Bool, Enum, Float, Instance, default
from traitlets.config import LoggingConfigurable

from workspace_launcher.catalog.datasets import DatasetCatalog
from workspace_launcher.catalog.profiles import ProfileRegistry
from workspace_launcher.engine import spec as specs
from workspace_launcher.engine.docker import DockerBackend, DockerEngine
from workspace_launcher.engine.objects import Container
from workspace_launcher.engine.protocol import ContainerWatch, WorkspaceEngine
from workspace_launcher.errors import Conflict, InvalidRequest, NotFound
from workspace_launcher.gpus.allocator import GpuAllocator
from workspace_launcher.gpus.inventory import GpuInventory
from workspace_launcher.gpus.request import busy_gpus
from workspace_launcher.images.builder import ImageBuilder
from workspace_launcher.workspaces.connections import ConnectionCache
from workspace_launcher.workspaces.launch_request import LaunchRequest, validate_launch
from workspace_launcher.workspaces.launches import Launches
from workspace_launcher.workspaces.model import (
    ProgressCallback,
    ProgressEvent,
    Status,
    Workspace,
    workspace_from_container,
)
from workspace_launcher.workspaces.readiness import wait_ready
from workspace_launcher.workspaces.settings import WorkspaceSettings
from workspace_launcher.workspaces.snapshots import (
    Snapshot,
    commit_snapshot,
    list_snapshots,
    remove_snapshot,
    snapshot_tag,
)
from workspace_launcher.workspaces.upstream import ROUTES, RouteChooser, Upstream
from workspace_launcher.workspaces.validation import validate_workspace_id
from workspace_launcher.workspaces.volumes import WorkspaceVolumes

EVENT_SCHEMA_ID = "https://events.jupyter.org/workspace_launcher/workspace-progress/v1"


class WorkspaceManager(WorkspaceSettings, LoggingConfigurable):
    """Launches, lists, stops, starts, snapshots and deletes workspaces on one engine."""

    upstream_route = Enum(
        ROUTES,
        default_value="auto",
        help="""How the proxy (and idle culling) reach a workspace's Jupyter. "network": at the
        container's address on the workspace network, with no port published at all (fastest,
        and closed to the LAN even on engines that forward to published container ports; needs
        a rootful engine on this host). "published-port": at a port published on 127.0.0.1 only
        (works wherever the engine runs, rootless too). "auto" (the default): the network when
        the network's gateway is an address of this host, else the published port. Applies to
        workspaces launched from then on; older ones are reached whichever way they offer.""",
    ).tag(config=True)

    watch_events = Bool(
        True,
        help="""Keep workspace state from the engine's event stream in a server (status polls,
        lists and proxy lookups then cost no engine call). False asks the engine on every
        read (the behaviour before the reflector). Default: True.""",
    ).tag(config=True)

    resync_interval = Float(
        60.0,
        help="""Seconds between full re-reads of the engine's containers. Between them, a
        server keeps workspace state current from the engine's event stream, so status polls
        and lists cost no engine call; the re-read repairs anything a lost event missed.
        Default: 60.""",
    ).tag(config=True)

    engine = Instance(DockerEngine, help="The Docker engine connection (set by the app).")

    @default("engine")
    def _default_engine(self) -> DockerEngine:
        return DockerEngine()

    # -- collaborators: each replaceable by configuration or by a test ------------------------
    backend = Instance(WorkspaceEngine, help="The container engine workspaces run on (engine.protocol).")

    @default("backend")
    def _default_backend(self) -> WorkspaceEngine:
        return DockerBackend(self.engine, parent=self)

    profiles = Instance(ProfileRegistry, help="The profiles users launch (ProfileRegistry.*).")

    @default("profiles")
    def _default_profiles(self) -> ProfileRegistry:
        return ProfileRegistry(parent=self)

    datasets = Instance(DatasetCatalog, help="The shared datasets workspaces mount (DatasetCatalog.*).")

    @default("datasets")
    def _default_datasets(self) -> DatasetCatalog:
        return DatasetCatalog(parent=self)

    builder = Instance(ImageBuilder, help="Builds and finds the profiles' images (ImageBuilder.*).")

    @default("builder")
    def _default_builder(self) -> ImageBuilder:
        return ImageBuilder(parent=self, engine=self.engine)

    inventory = Instance(GpuInventory, help="This host's GPUs (GpuInventory.*).")

    @default("inventory")
    def _default_inventory(self) -> GpuInventory:
        return GpuInventory(parent=self)

    allocator = Instance(GpuAllocator, help="Who may have which GPU (GpuAllocator.*).")

    @default("allocator")
    def _default_allocator(self) -> GpuAllocator:
        return GpuAllocator(parent=self, inventory=self.inventory)


    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.launches = Launches(self)
        #: Upstreams the proxy asked for (cached briefly) and its idle clock, for culling.
        self._connections = ConnectionCache()
        self.routes = RouteChooser(self.upstream_route, self.log)
        #: Called with a workspace's id when it stops or is deleted (the proxy ends its browser
        #: sessions there); set by the extension app, so the manager never imports the proxy.
        self.ended_callbacks: list[Callable[[str], None]] = []
        #: The server's jupyter_events EventLogger, set by the extension app.
        self.event_logger = None
        #: Container state kept current from the engine's events (watch_engine; servers only).
        self.reflector: ContainerWatch | None = None

    @property
    def volumes(self) -> WorkspaceVolumes:
        """The work and model volumes, on whichever engine is the backend now."""
        return WorkspaceVolumes(self.backend, self.log)

    # -- engine state: from the reflector while it is synced, else from the engine -------------
    def watch_engine(self) -> None:
        """Keep container state from the engine's event stream (a server calls this at start)."""
        if self.reflector is None and self.watch_events:
            self.reflector = self.backend.watch(resync_interval=self.resync_interval)
            self.reflector.start()

    async def _containers(self, *, owner: str | None = None, workspace_id: str | None = None) -> list[Container]:
        if self.reflector is not None and self.reflector.synced:
            return self.reflector.containers(owner=owner, workspace_id=workspace_id)
        return await self.backend.list_workspaces(owner=owner, workspace_id=workspace_id)

    def _cached(self, container_id: str) -> Container | None:
        if self.reflector is not None and self.reflector.synced:
            return self.reflector.get(container_id)
        return None

    async def changed(self, container_id: str) -> None:
        """After this manager changed a container: its own next read sees the change."""
        if self.reflector is not None:
            await self.reflector.refresh(container_id)

    def changed_now_gone(self, container_id: str) -> None:
        if self.reflector is not None:
            self.reflector.forget(container_id)

    def record_activity(self, workspace_id: str) -> None:
        """Called by the proxy on every request and WebSocket message."""
        self._connections.record_activity(workspace_id)

    def proxy_idle_seconds(self, workspace_id: str) -> float | None:
        """Seconds since the proxy last carried traffic for the workspace (None: never)."""
        return self._connections.idle_seconds(workspace_id)

    def emit(self, event: ProgressEvent) -> None:
        """Publish a phase change on the server's event bus (when running inside a server)."""
        if self.event_logger is not None and event.log_line is None:
            data = event.to_dict()
            data.pop("log_line", None)
            self.event_logger.emit(schema_id=EVENT_SCHEMA_ID, data=data)

    def _announce(self, workspace: Workspace, status: Status, message: str) -> None:
        self.emit(ProgressEvent(workspace.id, workspace.name, status, 100, message, owner=workspace.owner))

    # -- launch -------------------------------------------------------------------------------
    def validate_launch(self, *, owner: str, **fields: object) -> LaunchRequest:
        """Check a launch request (see :func:`~workspace_launcher.workspaces.launch_request.validate_launch`)."""
        return validate_launch(fields, owner=owner, policy=self.launch_policy(), profiles=self.profiles,
                               datasets=self.datasets, allocator=self.allocator)

    async def launch(self, *, owner: str, on_progress: ProgressCallback | None = None, **request) -> Workspace:
        """Validate, build (or reuse) the image, reserve GPUs, start, and wait until ready."""
        validated = self.validate_launch(owner=owner, **request)
        await self.launches.check(validated)
        return await self.launches.spawn(validated, on_progress)

    async def start_launch(self, *, owner: str, **request) -> Workspace:
        """Validate and pre-check now (so bad input is a 4xx), then launch in the background.

        Returns the pending workspace; progress goes to the event log and to ``get``/``list``.
        """
        validated = self.validate_launch(owner=owner, **request)
        await self.launches.check(validated)
        return await self.launches.start(validated, self.emit)

    async def shutdown(self) -> None:
        """Cancel every launch in flight and wait for their clean-up, then stop watching the
        engine (server shutdown)."""
        await self.launches.cancel_all()
        if self.reflector is not None:
            await self.reflector.stop()
            self.reflector = None

    # -- who holds what -----------------------------------------------------------------------
    async def gpu_holders(self, *, owner: str) -> tuple[dict[str, list[str]], dict[str, str]]:
        """(GPU uuid -> ids of the workspaces holding it, id -> name of the owner's own ones)."""
        containers = await self._containers()
        names = {w.id: w.name for w in map(workspace_from_container, containers) if w.owner == owner}
        return specs.gpus_held(containers), names

    # -- lifecycle ------------------------------------------------------------------------
    async def list(self, *, owner: str | None = None) -> list[Workspace]:
        """Every workspace (of an owner), from the engine plus launches still in flight."""
        found = {w.id: w for w in map(workspace_from_container, await self._containers(owner=owner))}
        for workspace_id, workspace in self.launches.pending.items():
            if owner is None or workspace.owner == owner:
                # A launch in flight knows better than the engine (running != ready yet).
                found[workspace_id] = workspace
        return sorted(found.values(), key=lambda w: w.created, reverse=True)

    async def get(self, *, owner: str | None, workspace_id: str) -> Workspace:
        """One workspace of the owner (``None``: any owner); NotFound for others' ids."""
        validate_workspace_id(workspace_id)
        containers = await self._containers(workspace_id=workspace_id)
        if workspace_id in self.launches.pending:
            workspace = self.launches.pending[workspace_id]
        elif containers:
            workspace = workspace_from_container(containers[0])
        else:
            raise NotFound(f"no workspace {workspace_id}")
        if owner is not None and workspace.owner != owner:
            raise NotFound(f"no workspace {workspace_id}")
        return workspace

    async def _container_of(self, owner: str | None, workspace_id: str) -> tuple[Workspace, str]:
        workspace = await self.get(owner=owner, workspace_id=workspace_id)
        if workspace.container_id is None:
            raise Conflict(f"workspace {workspace_id} has no container ({workspace.status.value})")
        return workspace, workspace.container_id

    async def stop(self, *, owner: str | None, workspace_id: str) -> Workspace:
        """Stop the container; its GPUs are free for others, its volumes and token stay.

        A launch in flight is cancelled instead: what it made is removed and it ends failed."""
        workspace = await self.get(owner=owner, workspace_id=workspace_id)
        if await self.launches.cancel(workspace_id):
            workspace.error = workspace.message = "stopped during its launch; launch it again, or delete it"
            self._announce(workspace, Status.FAILED, workspace.message)
            return workspace
        _, container_id = await self._container_of(owner, workspace_id)
        self._ended(workspace_id)
        await self.backend.stop(container_id)
        await self.changed(container_id)
        workspace = await self.get(owner=owner, workspace_id=workspace_id)
        self._announce(workspace, Status.STOPPED, "stopped")
        return workspace

    async def start(self, *, owner: str | None, workspace_id: str) -> Workspace:
        """Start a stopped workspace on the same GPUs, if nobody else took them meanwhile."""
        workspace, container_id = await self._container_of(owner, workspace_id)
        if workspace.status is Status.RUNNING:
            return workspace
        if self.launches.in_flight(workspace_id):  # its launch is still starting it
            raise Conflict(f"workspace {workspace.name} is still launching ({workspace.status.value}); wait until it runs")
        self._forget_connection(workspace_id)  # a start is a new generation: no stale upstream
        before = await self.backend.inspect(container_id)
        self.datasets.recheck_binds(before.binds if before else ())
        async with self.allocator.reservation_lock():
            held = specs.gpus_held(await self.backend.list_workspaces(), exclude=workspace_id)
            busy = busy_gpus(workspace.gpus, held)
            if busy and not self.allocator.allow_sharing:
                holders = "; ".join(f"{uuid} by {', '.join(ids)}" for uuid, ids in busy.items())
                raise Conflict(
                    f"cannot start {workspace.name}: its GPUs are now held ({holders}); stop those "
                    "workspaces, or snapshot this one and launch the snapshot on other GPUs"
                )
            await self.backend.start(container_id)
        await self.changed(container_id)
        started = await self.backend.inspect(container_id)
        if started is None:
            raise NotFound(f"no workspace {workspace_id}")  # removed while it started
        await wait_ready(self.backend, self.routes, container_id, base_url=workspace.base_url,
                         token=started.env["JUPYTER_TOKEN"], timeout=self.launch_timeout)
        workspace = await self.get(owner=owner, workspace_id=workspace_id)
        self._announce(workspace, Status.RUNNING, "running")
        return workspace

    async def delete(self, *, owner: str | None, workspace_id: str, purge: bool = False) -> list[str]:
        """Remove the container (cancelling its launch if one is in flight); with ``purge`` also
        its own work volume. The owner's model volume is never touched here (see
        remove_model_volume). Returns the removed volumes."""
        workspace = await self.get(owner=owner, workspace_id=workspace_id)
        await self.launches.cancel(workspace_id)
        self.launches.pending.pop(workspace_id, None)
        self._ended(workspace_id)
        for container in await self.backend.list_workspaces(workspace_id=workspace_id):
            await self.backend.remove(container.id)
            self.changed_now_gone(container.id)
        self._announce(workspace, Status.DELETED, "deleted" + (" with its work volume" if purge else ", volumes kept"))
        return await self.volumes.purge_work(workspace_id) if purge else []

    async def model_volumes(self) -> list[dict]:
        """Every owner's model volume: name, owner, and the workspaces that mount it."""
        return await self.volumes.model_volumes(await self.list())

    async def remove_model_volume(self, *, owner: str) -> str:
        """Delete the owner's model volume: every model they saved under /models. Refused while
        any workspace of theirs exists (running, stopped or launching)."""
        return await self.volumes.remove_model(owner, await self.list(owner=owner))

    async def logs(self, *, owner: str | None, workspace_id: str, tail: int = 200) -> str:
        if isinstance(tail, bool) or not isinstance(tail, int) or tail <= 0:
            raise InvalidRequest("tail must be a positive number of lines", field="tail")
        workspace = await self.get(owner=owner, workspace_id=workspace_id)
        if workspace.container_id is None:
            return workspace.log_tail or ""
        return await self.backend.logs(workspace.container_id, tail=tail)

    async def snapshot(self, *, owner: str | None, workspace_id: str, tag: str | None = None) -> str:
        """Commit the workspace's container (not its volumes) as a launchable image."""
        workspace, container_id = await self._container_of(owner, workspace_id)
        now = datetime.now(timezone.utc)
        tag = snapshot_tag(workspace.name, tag, now)
        container = await self.backend.inspect(container_id)
        if container is None:  # removed since it was looked up
            raise NotFound(f"no workspace {workspace_id}")
        return await commit_snapshot(self.backend, container, workspace, tag=tag, now=now)

    async def snapshots(self, *, owner: str) -> list[Snapshot]:
        """The owner's snapshots, newest first (never another owner's: they hold that user's home)."""
        return await list_snapshots(self.backend, owner=owner)

    async def delete_snapshot(self, *, owner: str, tag: str) -> str:
        """Remove the owner's snapshot ``tag``; its reference. Refused while a workspace runs from it."""
        return await remove_snapshot(self.backend, lambda: self.list(owner=owner), owner=owner, tag=tag)

    async def connection(self, *, owner: str | None, workspace_id: str) -> Upstream:
        """Where the host reaches a running workspace's Jupyter, and its token, for the proxy.

        Cached for ``CONNECTION_TTL`` seconds per (owner, id), so proxied requests do not each
        pay two engine round trips; this manager's own stop/start/delete drop the entry at once.
        """
        if (cached := self._connections.get(owner, workspace_id)) is not None:
            return cached
        workspace, container_id = await self._container_of(owner, workspace_id)
        container = self._cached(container_id) or await self.backend.inspect(container_id)
        found = None
        if container and workspace.status is Status.RUNNING:
            found = self.routes.upstream(container, base_url=workspace.base_url, token=container.env["JUPYTER_TOKEN"])
        if found is None:
            raise Conflict(f"workspace {workspace.name} is {workspace.status.value}, not running; start it first")
        self._connections.put(owner, workspace_id, found)
        return found

    def _forget_connection(self, workspace_id: str) -> None:
        self._connections.forget(workspace_id)

    def _ended(self, workspace_id: str) -> None:
        """The workspace stopped or is going: nothing may reach it through an old route or session."""
        self._forget_connection(workspace_id)
        for callback in self.ended_callbacks:
            callback(workspace_id)
