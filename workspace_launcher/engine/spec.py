"""Pure builders of what the engine is asked to create. No I/O: tested directly.

The container spec is a function of (profile image, request, policy): everything that shapes a
workspace's security and resources is decided here, in one place, where a test can read it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from docker.types import DeviceRequest, Mount

from workspace_launcher.engine.gpu_devices import amd_devices, nvidia_device_ids
from workspace_launcher.engine.labels import BRIDGE_NAME, JUPYTER_PORT, LABEL, MANAGED_LABEL, NETWORK_NAME, label  # noqa: F401  (re-exported: the spec's vocabulary)
from workspace_launcher.engine.objects import HOLDING_STATES, Container
from workspace_launcher.gpus.model import Gpu

#: Jupyter's runtime files (server info with the live token, the cookie secret) live on a
#: tmpfs here, so neither reaches a snapshot's committed layer.
RUNTIME_DIR = "/run/jupyter"
#: Environment variables never copied into a snapshot image or a log.
SECRET_ENV = ("JUPYTER_TOKEN",)
#: Seconds a container without a deadline label may stay "created" before it counts as abandoned.
DEFAULT_LAUNCH_GRACE = 600.0


@dataclass(frozen=True)
class DatasetMount:
    """A catalog dataset resolved for mounting: a host directory or an engine volume."""

    name: str
    source: str
    kind: str = "bind"  # "bind" (host directory) or "volume" (existing engine volume)
    description: str = ""

    @property
    def target(self) -> str:
        return f"/datasets/{self.name}"


@dataclass(frozen=True)
class Limits:
    """Resource limits of one workspace; ``None`` means no limit."""

    cpus: float | None = None
    memory: int | None = None
    shm_size: int = 1024**3
    pids: int | None = 4096


@dataclass(frozen=True)
class WorkspaceSpec:
    """Everything a workspace container is made from."""

    workspace_id: str
    owner: str
    name: str
    profile: str
    image: str
    token: str
    base_url: str
    model_volume: str
    work_volume: str
    created: str
    gpus: tuple[Gpu, ...] = ()
    datasets: tuple[DatasetMount, ...] = ()
    limits: Limits = field(default_factory=Limits)
    environment: Mapping[str, str] = field(default_factory=dict)
    network: str = NETWORK_NAME
    #: The notebook (relative to the work directory) the workspace opens on; "" opens its lab.
    demo_notebook: str = ""
    #: Numeric group ids that let the user open AMD render nodes (render/video on the host).
    gpu_group_ids: tuple[int, ...] = ()
    version: str = ""
    #: Publish Jupyter's port on 127.0.0.1, for hosts that cannot reach the network (upstream.py).
    publish_port: bool = True
    #: Epoch seconds after which a container still "created" is an abandoned launch.
    launch_deadline: float = 0.0


def container_name(workspace_id: str) -> str:
    return f"workspace-launcher-{workspace_id}"


def work_volume_name(workspace_id: str) -> str:
    return f"workspace-launcher-work-{workspace_id}"


def model_volume_name(owner_slug: str) -> str:
    return f"workspace-launcher-models-{owner_slug}"


def jupyter_command(base_url: str) -> list[str]:
    """The workspace's Jupyter: served under the proxy's prefix, token taken from the env."""
    return [
        "jupyter",
        "lab",
        "--ip=0.0.0.0",
        f"--port={JUPYTER_PORT}",
        "--no-browser",
        f"--ServerApp.base_url={base_url}",
        # Reached only through the host's published loopback port, by the host's proxy.
        "--ServerApp.allow_remote_access=True",
        "--ServerApp.root_dir=/home/jovyan/work",
    ]


def workspace_labels(spec: WorkspaceSpec) -> dict[str, str]:
    """The labels that make the engine the source of truth about a workspace."""
    vendors = sorted({g.vendor for g in spec.gpus})
    labels = {
        MANAGED_LABEL: spec.workspace_id,
        label("owner"): spec.owner,
        label("name"): spec.name,
        label("profile"): spec.profile,
        label("image"): spec.image,
        label("gpus"): ",".join(g.uuid for g in spec.gpus),
        label("gpu-vendor"): ",".join(vendors),
        label("datasets"): ",".join(d.name for d in spec.datasets),
        label("work-volume"): spec.work_volume,
        label("model-volume"): spec.model_volume,
        label("created"): spec.created,
        label("base-url"): spec.base_url,
        label("version"): spec.version,
        label("open-demo"): spec.demo_notebook,
        label("launch-deadline"): f"{spec.launch_deadline:.0f}",
    }
    return labels


def _mounts(spec: WorkspaceSpec) -> list[Mount]:
    mounts = [
        Mount(target=d.target, source=d.source, type=d.kind, read_only=True) for d in spec.datasets
    ]
    mounts.append(Mount(target="/models", source=spec.model_volume, type="volume", read_only=False))
    mounts.append(
        Mount(target="/home/jovyan/work", source=spec.work_volume, type="volume", read_only=False)
    )
    return mounts


def _gpu_options(gpus: Iterable[Gpu], group_ids: Iterable[int]) -> dict:
    gpus = list(gpus)
    nvidia = [g for g in gpus if g.vendor == "nvidia"]
    amd = [g for g in gpus if g.vendor == "amd"]
    options: dict = {}
    if nvidia:
        options["device_requests"] = [
            DeviceRequest(driver="nvidia", device_ids=nvidia_device_ids(nvidia), capabilities=[["gpu"]])
        ]
    if amd:
        options["devices"] = amd_devices(amd)
        options["group_add"] = [str(g) for g in group_ids]
    return options


def container_spec(spec: WorkspaceSpec) -> dict:
    """Keyword arguments for ``docker.containers.create`` for one workspace."""
    environment = dict(spec.environment)
    environment.update(
        {
            "JUPYTER_TOKEN": spec.token,
            "JUPYTER_RUNTIME_DIR": RUNTIME_DIR,
            "WORKSPACE_ID": spec.workspace_id,
            "WORKSPACE_NAME": spec.name,
        }
    )
    kwargs: dict = {
        "image": spec.image,
        "command": jupyter_command(spec.base_url),
        "name": container_name(spec.workspace_id),
        "hostname": spec.name,
        "user": "1000",
        "environment": environment,
        "labels": workspace_labels(spec),
        "mounts": _mounts(spec),
        "network": spec.network,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "privileged": False,
        "shm_size": spec.limits.shm_size,
        "tmpfs": {RUNTIME_DIR: "rw,nosuid,nodev,noexec,size=16m,uid=1000,gid=100,mode=0700"},
        "detach": True,
    }
    if spec.limits.cpus:
        kwargs["nano_cpus"] = int(spec.limits.cpus * 1e9)
    if spec.limits.memory:
        kwargs["mem_limit"] = spec.limits.memory
    if spec.limits.pids:
        kwargs["pids_limit"] = spec.limits.pids
    if spec.publish_port:  # loopback only: reachable from this host, never from outside
        kwargs["ports"] = {f"{JUPYTER_PORT}/tcp": ("127.0.0.1", None)}
    kwargs.update(_gpu_options(spec.gpus, spec.gpu_group_ids))
    return kwargs


def network_spec(*, bridge_name: str | None = BRIDGE_NAME, internal: bool = False, name: str = NETWORK_NAME) -> dict:
    """The dedicated bridge: workspaces cannot talk to each other (no inter-container traffic);
    its host interface has a fixed name, which the firewall rules match (engine/firewall_rules.py;
    ``None``: Docker's br-<id>); ``internal``: no route out at all."""
    options = {"com.docker.network.bridge.enable_icc": "false"}
    if bridge_name:
        options["com.docker.network.bridge.name"] = bridge_name
    return {
        "name": name,
        "driver": "bridge",
        "internal": internal,
        "options": options,
        "labels": {label("role"): "network"},
    }


def snapshot_config(container: Container, labels: Mapping[str, str], *, token_placeholder: str) -> dict:
    """The image config of a snapshot: the container's, minus its secrets, plus snapshot labels.

    The engine merges this into the container's config key by key, so a secret cannot be
    dropped, only overwritten: it is replaced by a fresh random value that no workspace uses
    (never by an empty token, which would make a bare ``docker run`` of the snapshot open).
    """
    env = [f"{key}={value}" for key, value in container.env.items() if key not in SECRET_ENV]
    env.extend(f"{key}={token_placeholder}" for key in SECRET_ENV)
    return {"Env": env, "Labels": dict(labels)}


#: Labels that describe one workspace, blanked in snapshots (which are images, not workspaces).
_PER_WORKSPACE_LABELS = ("id", "name", "gpus", "gpu-vendor", "datasets", "work-volume", "base-url")


def snapshot_labels(container_labels: Mapping[str, str], *, created: str) -> dict[str, str]:
    labels = {label(key): "" for key in _PER_WORKSPACE_LABELS}
    labels.update(
        {
            label("role"): "snapshot",
            label("snapshot-of"): container_labels.get(MANAGED_LABEL, ""),
            label("snapshot-name"): container_labels.get(label("name"), ""),
            label("owner"): container_labels.get(label("owner"), ""),
            label("profile"): container_labels.get(label("profile"), ""),
            label("created"): created,
        }
    )
    return labels


def launch_abandoned(container: Container, *, now: float) -> bool:
    """A container still "created" after its launch deadline: the host server that launched it
    stopped (or lost it) before starting it, and no live manager will. Decided from the
    container alone, so every host server sharing the engine agrees."""
    if container.state != "created":
        return False
    try:
        deadline = float(container.labels.get(label("launch-deadline")) or 0)
    except ValueError:
        deadline = 0.0
    if not deadline:
        deadline = container.created_epoch + DEFAULT_LAUNCH_GRACE
    return now > deadline


def holds_gpus(container: Container, *, now: float) -> bool:
    """Whether a workspace container keeps its GPUs from others now."""
    return container.state in HOLDING_STATES and not launch_abandoned(container, now=now)


def gpus_held(
    containers: Iterable[Container], *, exclude: str | None = None, now: float | None = None
) -> dict[str, list[str]]:
    """GPU uuid -> ids of the workspaces holding it, read from containers' labels.

    Stopped workspaces hold nothing; a created-but-not-started one does (it is starting)
    until its launch deadline passes.
    """
    now = time.time() if now is None else now
    held: dict[str, list[str]] = {}
    for container in containers:
        workspace_id = container.workspace_id
        if not workspace_id or workspace_id == exclude or not holds_gpus(container, now=now):
            continue
        for uuid in filter(None, container.labels.get(label("gpus"), "").split(",")):
            held.setdefault(uuid, []).append(workspace_id)
    return held
