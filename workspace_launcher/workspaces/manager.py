"""WorkspaceManager: the only place that sequences images, GPUs, volumes and containers.

State lives in the engine (container and volume labels), so a restarted host server, or two
host servers sharing one engine, see the same workspaces. Only launches still in flight (and
the failures of launches whose containers were cleaned up) are held in memory.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Iterable
from datetime import datetime, timezone

from traitlets import Bool, Enum, Float, Instance, Int, List, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from workspace_launcher import __version__
from workspace_launcher.catalog.datasets import DatasetCatalog
from workspace_launcher.catalog.profiles import PACKAGED_IMAGES_DIR, ProfileRegistry
from workspace_launcher.engine import spec as specs
from workspace_launcher.engine.docker import DockerBackend, DockerEngine
from workspace_launcher.engine.gpu_devices import render_group_ids
from workspace_launcher.engine.objects import Container
from workspace_launcher.engine.protocol import ContainerWatch, WorkspaceEngine
from workspace_launcher.errors import (
    Conflict,
    EngineRefused,
    GpuRuntimeMissing,
    InvalidRequest,
    LauncherError,
    NotFound,
)
from workspace_launcher.gpus.allocator import GpuAllocator
from workspace_launcher.gpus.choices import owner_holds
from workspace_launcher.gpus.inventory import GpuInventory
from workspace_launcher.gpus.model import Gpu
from workspace_launcher.gpus.request import busy_gpus
from workspace_launcher.images.builder import ImageBuilder
from workspace_launcher.images.pinning import check_launch
from workspace_launcher.proxy.sessions import WorkspaceSessions
from workspace_launcher.workspaces.connections import ConnectionCache
from workspace_launcher.workspaces.launch_request import LaunchPolicy, LaunchRequest, validate_launch
from workspace_launcher.workspaces.model import (
    PhaseReporter,
    ProgressCallback,
    ProgressEvent,
    Status,
    Workspace,
    workspace_from_container,
)
from workspace_launcher.workspaces.readiness import container_log_tail, wait_ready
from workspace_launcher.workspaces.upstream import ROUTES, RouteChooser, Upstream
from workspace_launcher.workspaces.validation import (
    owner_slug,
    parse_size,
    validate_workspace_id,
)

_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")
SNAPSHOT_REPOSITORY = "workspace-launcher/snapshot"
DEMO_TARGET = "/home/jovyan/work"
EVENT_SCHEMA_ID = "https://events.jupyter.org/workspace_launcher/workspace-progress/v1"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class WorkspaceManager(LoggingConfigurable):
    """Launches, lists, stops, starts, snapshots and deletes workspaces on one engine."""

    base_url = Unicode(
        "/",
        help="""The host Jupyter server's base URL; workspaces are served under
        <base_url>workspace-launcher/workspaces/<id>/. Set from the server automatically.""",
    ).tag(config=True)

    launch_timeout = Float(
        120.0,
        help="""Seconds a new workspace's Jupyter has to answer /api/status before the launch
        fails (with the container's log tail) and the container is removed. Image builds do
        not count against it. Default: 120.""",
    ).tag(config=True)

    default_cpus = Float(
        0.0,
        help="""CPUs a workspace may use when the launch does not say (fractions allowed).
        0 (the default) means no limit. Example: 4""",
    ).tag(config=True)

    max_cpus = Float(
        0.0,
        help="""The most CPUs a launch may ask for. 0 (the default) means up to the host's
        CPU count.""",
    ).tag(config=True)

    default_memory = Unicode(
        "",
        help="""Memory limit of a workspace when the launch does not say, e.g. "16g".
        Empty (the default) means no limit.""",
    ).tag(config=True)

    max_memory = Unicode(
        "",
        help="""The most memory a launch may ask for, e.g. "64g". Empty (the default) means
        no policy limit.""",
    ).tag(config=True)

    max_shm_size = Unicode(
        "",
        help="""The largest /dev/shm a launch may ask for (shm_size), e.g. "16g". Shared memory
        is charged to the host's RAM, so it is never above the workspace's memory limit either.
        Empty (the default) means half of this host's memory.""",
    ).tag(config=True)

    pids_limit = Int(
        4096,
        help="""Most processes and threads one workspace may run (protects the host from fork
        bombs). 0 disables the limit. Default: 4096.""",
    ).tag(config=True)

    demo_dir = Unicode(
        help="""Directory copied into every new workspace's work directory (the demo
        notebooks). Copied only into a freshly created work volume, never over a user's
        files. Default: the demos shipped with the package; "" copies nothing.""",
    ).tag(config=True)

    @default("demo_dir")
    def _default_demo_dir(self) -> str:
        return str(PACKAGED_IMAGES_DIR / "demos")

    allowed_env = List(
        Unicode(),
        help="""Environment variables users may set at launch (the 'env' field), as names or
        shell patterns. Default: none. The launcher's own variables (JUPYTER_*, WORKSPACE_*,
        NVIDIA_*, CUDA_VISIBLE_DEVICES, LD_*, PATH, HOME) can never be set.
        Example: ["WANDB_*", "HF_HOME", "OMP_NUM_THREADS"]""",
    ).tag(config=True)

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

    sessions = Instance(
        WorkspaceSessions,
        help="The browser sessions of workspaces (ended when a workspace stops or goes away).",
    )

    @default("sessions")
    def _default_sessions(self) -> WorkspaceSessions:
        return WorkspaceSessions(parent=self)

    @validate("default_memory", "max_memory", "max_shm_size")
    def _check_memory(self, proposal):
        if proposal["value"]:
            parse_size(proposal["value"], field=f"WorkspaceManager.{proposal['trait'].name}")
        return proposal["value"]

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
        #: Launches in flight, and failed launches whose containers are gone, by id.
        self._launches: dict[str, Workspace] = {}
        #: Upstreams the proxy asked for (cached briefly) and its idle clock, for culling.
        self._connections = ConnectionCache()
        self.routes = RouteChooser(self.upstream_route, self.log)
        #: Launches in flight by workspace id, so delete/stop (and shutdown) can cancel them.
        self._launch_tasks: dict[str, asyncio.Task] = {}
        #: The server's jupyter_events EventLogger, set by the extension app.
        self.event_logger = None
        #: Container state kept current from the engine's events (watch_engine; servers only).
        self.reflector: ContainerWatch | None = None

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

    async def _changed(self, container_id: str) -> None:
        """After this manager changed a container: its own next read sees the change."""
        if self.reflector is not None:
            await self.reflector.refresh(container_id)

    def _changed_now_gone(self, container_id: str) -> None:
        if self.reflector is not None:
            self.reflector.forget(container_id)

    def record_activity(self, workspace_id: str) -> None:
        """Called by the proxy on every request and WebSocket message."""
        self._connections.record_activity(workspace_id)

    def proxy_idle_seconds(self, workspace_id: str) -> float | None:
        """Seconds since the proxy last carried traffic for the workspace (None: never)."""
        return self._connections.idle_seconds(workspace_id)

    # -- validation: everything that can be wrong with the input, before any side effect ----
    def launch_policy(self) -> LaunchPolicy:
        """This manager's settings as the limits of one launch."""
        return LaunchPolicy(
            default_cpus=self.default_cpus, max_cpus=self.max_cpus, default_memory=self.default_memory,
            max_memory=self.max_memory, max_shm_size=self.max_shm_size, pids_limit=self.pids_limit,
            allowed_env=tuple(self.allowed_env),
        )

    def validate_launch(self, *, owner: str, **fields: object) -> LaunchRequest:
        """Check a launch request (see :func:`~workspace_launcher.workspaces.launch_request.validate_launch`)."""
        return validate_launch(fields, owner=owner, policy=self.launch_policy(), profiles=self.profiles,
                               datasets=self.datasets, allocator=self.allocator)

    # -- launch ---------------------------------------------------------------------------
    async def launch(self, *, owner: str, on_progress: ProgressCallback | None = None, **request) -> Workspace:
        """Validate, build (or reuse) the image, reserve GPUs, start, and wait until ready."""
        validated = self.validate_launch(owner=owner, **request)
        await self.check_launchable(validated)
        return await self._spawn_launch(validated, on_progress)

    async def start_launch(self, *, owner: str, **request) -> Workspace:
        """Validate and pre-check now (so bad input is a 4xx), then launch in the background.

        Returns the pending workspace; progress goes to the event log and to ``get``/``list``.
        """
        validated = self.validate_launch(owner=owner, **request)
        await self.check_launchable(validated)
        workspace = self.pending_workspace(validated)
        # With GPUs asked and nothing to build, the reservation is made before answering, so
        # losing a race to another launch (of any server) is this request's 409, not a failure later.
        reserved = asyncio.get_running_loop().create_future() if await self._reserves_now(validated) else None
        task = self._spawn_launch(validated, self.emit, reserved)
        task.add_done_callback(self._log_background_failure)
        if reserved is not None:
            await asyncio.wait([reserved, task], return_when=asyncio.FIRST_COMPLETED)
            if not reserved.done() and not task.cancelled() and isinstance(task.exception(), Conflict):
                self._launches.pop(validated.workspace_id, None)
                raise task.exception()
        return workspace

    async def _reserves_now(self, request: LaunchRequest) -> bool:
        if request.gpus.kind == "none":
            return False
        return request.snapshot is not None or await self.builder.find(request.profile) is not None

    def _spawn_launch(
        self, request: LaunchRequest, on_progress: ProgressCallback | None, reserved: asyncio.Future | None = None
    ) -> asyncio.Task:
        """Run a launch as a task kept by workspace id (cancel_launch reaches it)."""
        task = asyncio.create_task(self.run_launch(request, on_progress=on_progress, reserved=reserved))
        self._launch_tasks[request.workspace_id] = task
        task.add_done_callback(lambda _: self._launch_tasks.pop(request.workspace_id, None))
        return task

    async def cancel_launch(self, workspace_id: str) -> bool:
        """Cancel a launch in flight at whatever phase it is in and wait until what it made is
        removed. True when there was one."""
        task = self._launch_tasks.get(workspace_id)
        if task is None or task.done():
            return False
        task.cancel()
        await asyncio.wait([task])
        return True

    async def shutdown(self) -> None:
        """Cancel every launch in flight and wait for their clean-up, then stop watching the
        engine (server shutdown)."""
        await asyncio.gather(*(self.cancel_launch(i) for i in list(self._launch_tasks)))
        if self.reflector is not None:
            await self.reflector.stop()
            self.reflector = None

    def _log_background_failure(self, task: asyncio.Task) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            level = self.log.info if isinstance(error, LauncherError) else self.log.error
            level("background launch failed: %s", error, exc_info=not isinstance(error, LauncherError))

    def emit(self, event: ProgressEvent) -> None:
        """Publish a phase change on the server's event bus (when running inside a server)."""
        if self.event_logger is not None and event.log_line is None:
            data = event.to_dict()
            data.pop("log_line", None)
            self.event_logger.emit(schema_id=EVENT_SCHEMA_ID, data=data)

    def _announce(self, workspace: Workspace, status: Status, message: str) -> None:
        self.emit(ProgressEvent(workspace.id, workspace.name, status, 100, message, owner=workspace.owner))

    async def check_launchable(self, request: LaunchRequest) -> None:
        """Checks that need the engine but change nothing: a clear 409 now beats a failed launch.

        The reservation itself is repeated under the lock when the container is created.
        """
        await self._check_name_free(request)
        if request.snapshot is not None:
            await self._snapshot_labels(request)
        if request.gpus.kind == "none":
            return
        gpus = self.allocator.select(request.gpus, {}, vendor=request.profile.gpu_vendor)
        if any(g.vendor == "nvidia" for g in gpus) and not await self.backend.has_nvidia_runtime():
            raise GpuRuntimeMissing(
                "GPUs were requested but this host has no NVIDIA container runtime; run "
                "'workspace-launcher doctor' to see how to install it, or launch with gpus=0"
            )
        await self._reserve_gpus(request)  # raises Conflict when they are taken

    def pending_workspace(self, request: LaunchRequest) -> Workspace:
        """Register a validated launch as pending, so lists show it before its container exists."""
        workspace = Workspace(
            id=request.workspace_id,
            name=request.name,
            owner=request.owner,
            profile=request.profile.name,
            status=Status.PENDING,
            message="queued",
            datasets=[d.name for d in request.datasets],
            created=_now(),
            base_url=self.workspace_base_url(request.workspace_id),
            open_demo=request.open_demo,
        )
        self._launches.setdefault(request.workspace_id, workspace)
        return self._launches[request.workspace_id]

    async def run_launch(
        self, request: LaunchRequest, *, on_progress: ProgressCallback | None = None, reserved: asyncio.Future | None = None
    ) -> Workspace:
        """Build or find the image, reserve GPUs, create, start and wait until Jupyter answers;
        ``reserved`` (if given) is resolved once the GPUs are reserved and the container made."""
        workspace = self.pending_workspace(request)
        report = PhaseReporter(workspace, on_progress, self.log)
        report(Status.PENDING, "queued")
        created_volumes: list[str] = []
        container_id: str | None = None
        try:
            image = await self._image_for(request, report)
            report(Status.STARTING, "reserving GPUs and creating the container")
            # Published on loopback only where the host cannot reach the network (upstream.py).
            network = await self.backend.ensure_network()
            publish_port = not self.routes.uses_network(network.gateway)
            made = asyncio.ensure_future(self._reserve_and_create(request, image, publish_port))
            try:
                gpus, created_volumes, spec, container_id = await asyncio.shield(made)
            except asyncio.CancelledError:
                # Engine calls run in threads and finish anyway: wait, so clean-up knows what they made.
                await asyncio.wait([made])
                if not made.cancelled() and made.exception() is None:
                    gpus, created_volumes, spec, container_id = made.result()
                raise
            if reserved is not None and not reserved.done():
                reserved.set_result(container_id)
            if specs.work_volume_name(request.workspace_id) in created_volumes and self.demo_dir:
                # Only into a new work volume: the demos never overwrite a user's files.
                await self.backend.copy_into(container_id, DEMO_TARGET, self.demo_dir, uid=1000, gid=100)
            workspace.container_id = container_id
            workspace.gpus = [g.uuid for g in gpus]
            report(Status.STARTING, "starting Jupyter", progress=70)
            await self.backend.start(container_id)
            await self._changed(container_id)
            await wait_ready(self.backend, self.routes, container_id, base_url=spec.base_url, token=spec.token,
                             timeout=self.launch_timeout)
        except BaseException as e:
            log_tail = getattr(e, "log_tail", "") or ""
            if container_id is not None:
                log_tail = log_tail or await container_log_tail(self.backend, container_id)
                await self.backend.remove(container_id)
                self._changed_now_gone(container_id)
            await self._remove_volumes(created_volumes)
            workspace.container_id = None
            if isinstance(e, asyncio.CancelledError):
                workspace.error = "the launch was cancelled: the workspace was stopped or deleted, or its server shut down"
            else:
                workspace.error = getattr(e, "message", None) or str(e) or type(e).__name__
            workspace.log_tail = log_tail
            report(Status.FAILED, workspace.error)
            raise
        report(Status.RUNNING, "running")
        self._launches.pop(request.workspace_id, None)
        return await self.get(owner=request.owner, workspace_id=request.workspace_id)

    async def _reserve_and_create(
        self, request: LaunchRequest, image: str, publish_port: bool
    ) -> tuple[list[Gpu], list[str], specs.WorkspaceSpec, str]:
        """Reserve GPUs (under the reservation lock) and create the volumes and the container."""
        if request.gpus.kind == "none":  # nothing to reserve: no lock, no engine-wide read
            return await self._create(request, image, [], publish_port)
        async with self.allocator.reservation_lock():
            return await self._create(request, image, await self._reserve_gpus(request), publish_port)

    async def _create(
        self, request: LaunchRequest, image: str, gpus: list[Gpu], publish_port: bool
    ) -> tuple[list[Gpu], list[str], specs.WorkspaceSpec, str]:
        created_volumes = await self._ensure_volumes(request)
        spec = self._workspace_spec(request, image, gpus, publish_port=publish_port)
        try:
            container_id = await self.backend.create(spec)
            await self._changed(container_id)
        except BaseException:
            await self._remove_volumes(created_volumes)
            raise
        return gpus, created_volumes, spec, container_id

    async def _check_name_free(self, request: LaunchRequest) -> None:
        for other in await self.list(owner=request.owner):
            if other.name == request.name and other.id != request.workspace_id and other.status is not Status.FAILED:
                raise Conflict(f"you already have a workspace named {request.name!r}; choose another name", field="name")

    async def _image_for(self, request: LaunchRequest, report: PhaseReporter) -> str:
        if request.snapshot is not None:
            labels = await self._snapshot_labels(request)
            if self.builder.require_pinned_images:
                check_launch(labels, self.builder.lock(), labels.get(specs.label("profile"), request.profile.name))
            return request.snapshot
        if await self.builder.find(request.profile) is None:
            report(Status.BUILDING, f"building the {request.profile.name} image")
        built = await self.builder.ensure(request.profile, on_log=report.build_log)
        if self.builder.require_pinned_images:  # an image built before the lock changed
            check_launch(await self.backend.image_labels(built.tag), self.builder.lock(), request.profile)
        return built.tag

    async def _snapshot_labels(self, request: LaunchRequest) -> dict[str, str]:
        """The labels of the owner's snapshot; NotFound for unknown images and others' snapshots
        (those hold another user's home) alike."""
        labels = await self.backend.image_labels(request.snapshot) if request.snapshot else None
        if (
            labels is None
            or labels.get(specs.label("role")) != "snapshot"
            or labels.get(specs.label("owner")) != request.owner
        ):
            raise NotFound(
                f"no snapshot {request.snapshot!r} of yours; list them with 'workspace-launcher images list'",
                field="snapshot",
            )
        return labels

    async def _reserve_gpus(self, request: LaunchRequest) -> list[Gpu]:
        if request.gpus.kind == "none":
            return []
        containers = await self.backend.list_workspaces()  # fresh: other servers' newest count
        held = specs.gpus_held(containers)
        mine = {c.workspace_id for c in containers if c.owner == request.owner}
        return self.allocator.select(request.gpus, held, vendor=request.profile.gpu_vendor,
                                     owner_holds=owner_holds(held, mine))

    async def _ensure_volumes(self, request: LaunchRequest) -> list[str]:
        """The owner's model volume (made if missing, never removed by a launch: it is the
        owner's, not the launch's) and this workspace's work volume; returns the work volume
        when this call made it, for a failed launch to remove."""
        base = {specs.label("owner"): request.owner}
        model = specs.model_volume_name(owner_slug(request.owner))
        await self.backend.ensure_volume(model, {**base, specs.label("role"): "models"})
        work = specs.work_volume_name(request.workspace_id)
        labels = {**base, specs.label("role"): "work", specs.MANAGED_LABEL: request.workspace_id}
        return [work] if await self.backend.ensure_volume(work, labels) else []

    async def _remove_volumes(self, names: Iterable[str]) -> None:
        for name in names:
            try:
                await self.backend.remove_volume(name)
            except EngineRefused as e:  # in use by another workspace of the owner: keep it
                self.log.warning("kept volume %s: %s", name, e)

    def _workspace_spec(
        self, request: LaunchRequest, image: str, gpus: list[Gpu], *, publish_port: bool
    ) -> specs.WorkspaceSpec:
        return specs.WorkspaceSpec(
            workspace_id=request.workspace_id,
            owner=request.owner,
            name=request.name,
            profile=request.profile.name,
            image=image,
            token=secrets.token_urlsafe(32),
            base_url=self.workspace_base_url(request.workspace_id),
            model_volume=specs.model_volume_name(owner_slug(request.owner)),
            work_volume=specs.work_volume_name(request.workspace_id),
            created=_now(),
            gpus=tuple(gpus),
            datasets=request.datasets,
            limits=request.limits,
            open_demo=request.open_demo,
            environment=request.environment,
            gpu_group_ids=tuple(render_group_ids()) if any(g.vendor == "amd" for g in gpus) else (),
            version=__version__,
            publish_port=publish_port,
            launch_deadline=time.time() + self.launch_timeout,
        )

    def workspace_base_url(self, workspace_id: str) -> str:
        base = self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        return f"{base}workspace-launcher/workspaces/{workspace_id}/"

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
        for workspace_id, workspace in self._launches.items():
            if owner is None or workspace.owner == owner:
                # A launch in flight knows better than the engine (running != ready yet).
                found[workspace_id] = workspace
        return sorted(found.values(), key=lambda w: w.created, reverse=True)

    async def get(self, *, owner: str | None, workspace_id: str) -> Workspace:
        """One workspace of the owner (``None``: any owner); NotFound for others' ids."""
        validate_workspace_id(workspace_id)
        containers = await self._containers(workspace_id=workspace_id)
        if workspace_id in self._launches:
            workspace = self._launches[workspace_id]
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
        if await self.cancel_launch(workspace_id):
            workspace.error = workspace.message = "stopped during its launch; launch it again, or delete it"
            self._announce(workspace, Status.FAILED, workspace.message)
            return workspace
        _, container_id = await self._container_of(owner, workspace_id)
        self._forget_connection(workspace_id)
        self.sessions.revoke(workspace_id)
        await self.backend.stop(container_id)
        await self._changed(container_id)
        workspace = await self.get(owner=owner, workspace_id=workspace_id)
        self._announce(workspace, Status.STOPPED, "stopped")
        return workspace

    async def start(self, *, owner: str | None, workspace_id: str) -> Workspace:
        """Start a stopped workspace on the same GPUs, if nobody else took them meanwhile."""
        workspace, container_id = await self._container_of(owner, workspace_id)
        if workspace.status is Status.RUNNING:
            return workspace
        if workspace_id in self._launch_tasks:  # its launch is still starting it
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
        await self._changed(container_id)
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
        await self.cancel_launch(workspace_id)
        self._launches.pop(workspace_id, None)
        self._forget_connection(workspace_id)
        self.sessions.revoke(workspace_id)
        for container in await self.backend.list_workspaces(workspace_id=workspace_id):
            await self.backend.remove(container.id)
            self._changed_now_gone(container.id)
        self._announce(workspace, Status.DELETED, "deleted" + (" with its work volume" if purge else ", volumes kept"))
        if not purge:
            return []
        name = specs.work_volume_name(workspace_id)
        for attempt in range(3):
            try:
                return [name] if await self.backend.remove_volume(name) else []
            except EngineRefused as e:  # mounted by another container (a backup job, one started by hand): kept
                if attempt == 2:
                    self.log.info("kept volume %s, still in use: %s", name, e)
                    return []
                await asyncio.sleep(0.5)  # or by this workspace's container, its removal just finishing
        return []

    async def model_volumes(self) -> list[dict]:
        """Every owner's model volume: name, owner, and the workspaces that mount it."""
        volumes = await self.backend.list_volumes({specs.label("role"): "models"})
        users: dict[str, list[str]] = {}
        for workspace in await self.list():
            users.setdefault(specs.model_volume_name(owner_slug(workspace.owner)), []).append(workspace.id)
        return sorted(
            (
                {"name": v.name, "owner": v.labels.get(specs.label("owner"), ""),
                 "created": v.created, "workspaces": users.get(v.name, [])}
                for v in volumes
            ),
            key=lambda v: v["owner"],
        )

    async def remove_model_volume(self, *, owner: str) -> str:
        """Delete the owner's model volume: every model they saved under /models. Refused while
        any workspace of theirs exists (running, stopped or launching)."""
        name = specs.model_volume_name(owner_slug(owner))
        remaining = await self.list(owner=owner)
        if remaining:
            names = ", ".join(f"{w.name} ({w.id}, {w.status.value})" for w in remaining)
            raise Conflict(
                f"{owner} still has workspaces that mount {name}: {names}; delete them first",
                field="owner",
            )
        try:
            removed = await self.backend.remove_volume(name)
        except EngineRefused as e:  # mounted by a container outside the launcher
            raise Conflict(f"volume {name} is in use outside the launcher: {e}") from e
        if not removed:
            raise NotFound(f"{owner} has no model volume ({name})", field="owner")
        return name

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
        tag = tag or f"{workspace.name}-{datetime.now(timezone.utc):%Y%m%d%H%M%S}"
        if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
            raise InvalidRequest(
                f"tag {tag!r} is not valid: use up to 128 lowercase letters, digits, '.', '_' and '-'",
                field="tag",
            )
        container = await self.backend.inspect(container_id)
        if container is None:  # removed since it was looked up
            raise NotFound(f"no workspace {workspace_id}")
        repository = f"{SNAPSHOT_REPOSITORY}-{owner_slug(workspace.owner)}"
        await self.backend.commit(
            container,
            repository=repository,
            tag=tag,
            labels=specs.snapshot_labels(container.labels, created=_now()),
            message=f"snapshot of workspace {workspace.name} ({workspace_id})",
        )
        return f"{repository}:{tag}"

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
