"""The one path to the Docker SDK.

Every blocking SDK call goes through :meth:`DockerEngine.call`, which runs it in a worker thread
and turns an unreachable engine into :class:`EngineUnavailable`. :class:`DockerBackend` holds the
thin workspace operations built on it; what gets created is decided by the pure builders in
:mod:`workspace_launcher.engine.spec`.
"""

from __future__ import annotations

import asyncio
import functools
import glob
import inspect
import io
import logging
import os
import secrets
import shutil
import tarfile
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import docker
import requests
from docker.errors import APIError, DockerException, NotFound

from workspace_launcher.engine import images
from workspace_launcher.engine import spec as specs
from workspace_launcher.engine.firewall import (
    Firewall,
    Outcome,
    WorkspaceNetwork,
    bridge_on_this_host,
    engine_is_local,
    protect,
)
from workspace_launcher.engine.images import Image
from workspace_launcher.engine.objects import Container, EngineFacts, Network, Volume
from workspace_launcher.engine.reflector import ContainerReflector
from workspace_launcher.errors import EngineRefused, EngineUnavailable, GpuRuntimeMissing, LaunchFailed

T = TypeVar("T")
log = logging.getLogger(__name__)
#: Seconds a check of the firewall rules stands for (a launch checks, then starts at once).
PROTECTION_FRESH_S = 5.0


class DockerEngine:
    """A lazily connected Docker client plus the async helper every caller uses."""

    def __init__(self, client: docker.DockerClient | None = None, *, timeout: int = 120) -> None:
        self._client = client
        self._timeout = timeout

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker.from_env(timeout=self._timeout)
            except DockerException as e:
                raise EngineUnavailable(
                    f"cannot reach the Docker engine ({e}); start it, or run "
                    "'workspace-launcher doctor' to see what is missing"
                ) from e
        return self._client

    @property
    def api(self) -> docker.APIClient:
        return self.client.api

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking SDK call in a thread; connection failures become EngineUnavailable."""
        try:
            return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))
        except APIError:
            raise
        except (DockerException, requests.ConnectionError) as e:
            raise EngineUnavailable(
                f"the Docker engine did not answer ({e}); start it, or run 'workspace-launcher doctor' "
                "to see what is missing"
            ) from e

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def refusals_translated(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """The backend's boundary: an engine refusal leaves it as :class:`EngineRefused` (callers above
    the engine never see the SDK's exceptions)."""

    @functools.wraps(method)
    async def translated(*args: Any, **kwargs: Any) -> T:
        try:
            return await method(*args, **kwargs)
        except APIError as e:
            status = e.status_code
            what = ("the workspace's container is gone (removed while this request ran)" if status == 404
                    else f"the container engine refused: {e.explanation or e}")
            raise EngineRefused(f"{what}; list your workspaces and try again", engine_status=status) from e

    return translated


def _translating_refusals(cls: type) -> type:
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(member):
            setattr(cls, name, refusals_translated(member))
    return cls


#: Where the NVIDIA Container Toolkit writes its CDI specs, which the engine reads.
CDI_SPEC_PATTERNS = ("/etc/cdi/nvidia*.yaml", "/var/run/cdi/nvidia*.yaml")


def nvidia_runtime_source(info: Mapping, *, cdi_patterns: tuple[str, ...] = CDI_SPEC_PATTERNS) -> str | None:
    """How an engine (its ``info``) can hand NVIDIA GPUs to containers, or None: a registered
    ``nvidia`` runtime, the toolkit's hook on this host, or CDI specs. One rule for launches and
    ``doctor``."""
    if "nvidia" in (info.get("Runtimes") or {}):
        return "runtime nvidia"
    if hook := shutil.which("nvidia-container-runtime-hook") or shutil.which("nvidia-container-cli"):
        return f"hook {hook}"
    for pattern in cdi_patterns:
        if found := sorted(glob.glob(pattern)):
            return f"CDI {found[0]}"
    return None


def is_gpu_driver_error(error: APIError) -> bool:
    """The engine's answer when a GPU device request has no runtime to serve it."""
    text = str(error.explanation or error)
    return "could not select device driver" in text or "nvidia-container-cli" in text


@_translating_refusals
class DockerBackend:
    """Workspace containers, volumes and the workspace network on one Docker engine: the
    :class:`~workspace_launcher.engine.protocol.WorkspaceEngine` of Docker."""

    def __init__(self, engine: DockerEngine, *, network: WorkspaceNetwork | None = None,
                 parent=None, firewall: Firewall | None = None) -> None:
        self.engine = engine
        #: The admin's network settings (WorkspaceNetwork.*, read from ``parent``'s config).
        self.network = network if network is not None else WorkspaceNetwork(parent=parent)
        self.firewall = firewall or Firewall()
        self._said: set[str] = set()  # findings already logged (once each, not at every launch)
        self._protected_at = float("-inf")  # monotonic time the rules were last found in place

    # -- network and volumes ------------------------------------------------------------
    async def ensure_network(self) -> Network:
        """The workspace network, made first if missing; its firewall rules installed or
        refreshed (see :meth:`protect_network`)."""
        attrs = await self.create_network()
        await self.protect_network(attrs)
        return Network.from_attrs(attrs)

    async def create_network(self) -> Mapping:
        """The workspace network's attrs, the network made first if missing (no firewall step)."""
        bridge = self.network.bridge_name
        if engine_is_local(str(getattr(self.engine.api, "base_url", ""))) and bridge_on_this_host(bridge):
            # Another engine's bridge (Docker would take it over, addresses and all): let this
            # engine name its own (br-<id>), which the rules follow just the same.
            self._say_once("warning", (
                f"an interface named {bridge} exists on this host but this engine has no workspace network: "
                f"it belongs to another engine; making the network with a bridge named by Docker (set "
                f"WorkspaceNetwork.bridge_name to a name of this engine's own)"))
            bridge = None
        wanted = specs.network_spec(bridge_name=bridge, internal=self.network.internal)
        # Looked up first: older engines do not refuse a second network with the same name.
        existing = await self.engine.call(self.engine.client.networks.list, names=[wanted["name"]])
        if found := next((n for n in existing if n.name == wanted["name"]), None):
            if bool(found.attrs.get("Internal")) != wanted["internal"]:
                self._say_once("warning", (
                    f"the workspace network exists with internal={bool(found.attrs.get('Internal'))}, but "
                    f"WorkspaceNetwork.internal is {wanted['internal']}: remove it with no workspace running "
                    f"('docker network rm {wanted['name']}'); the next launch recreates it"))
            return found.attrs
        try:
            return (await self.engine.call(self.engine.client.networks.create, **wanted)).attrs
        except APIError as e:
            if e.status_code != 409:  # another host server made it first
                raise
        return await self.engine.call(self.engine.client.api.inspect_network, wanted["name"])

    async def network_description(self) -> Mapping | None:
        """The workspace network as the engine describes it, for the firewall's rules (``None``:
        not made yet)."""
        try:
            return await self.engine.call(self.engine.api.inspect_network, specs.NETWORK_NAME)
        except NotFound:
            return None

    @property
    def engine_url(self) -> str:
        return str(getattr(self.engine.api, "base_url", ""))

    async def protect_network(self, attrs: Mapping) -> Outcome:
        """Install or refresh the rules that keep workspaces off this host, the metadata address
        and the admin's blocked ranges (one ``iptables-save`` when they are in place already).
        Skipped, with a log line, where the engine is not local or iptables may not be run:
        a launch never fails for it (``workspace-launcher doctor`` reports it)."""
        try:
            outcome = await asyncio.to_thread(
                protect, self.network, attrs, engine_url=str(getattr(self.engine.api, "base_url", "")),
                firewall=self.firewall,
            )
        except Exception as e:  # never a reason to fail a launch; said, and doctor reports it
            outcome = Outcome("unavailable", f"could not check the rules: {e}", reason="failed")
        if outcome.level == "ok":
            self._protected_at = time.monotonic()
        if outcome.level == "unavailable":
            self._say_once("warning", f"workspace firewall not in place: {outcome.message}")
        elif outcome.level == "skipped":
            self._say_once("info", f"workspace firewall: {outcome.message}")
        elif outcome.applied:
            self.network.log.info("workspace firewall: %s (%s)", outcome.message, "; ".join(outcome.applied))
        return outcome

    async def _refresh_protection(self) -> None:
        """protect_network for the workspace network as it is, unless done a moment ago (a
        launch's ensure_network has just run)."""
        if time.monotonic() - self._protected_at < PROTECTION_FRESH_S:
            return
        try:
            attrs = await self.engine.call(self.engine.api.inspect_network, specs.NETWORK_NAME)
        except NotFound:
            return  # nothing attached to it can start; the launch's ensure_network makes it
        await self.protect_network(attrs)

    def _say_once(self, level: str, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            getattr(self.network.log, level)("workspace_launcher: %s", message)

    async def ensure_volume(self, name: str, labels: Mapping[str, str]) -> bool:
        """Create the volume unless it exists; True when this call created it."""
        try:
            await self.engine.call(self.engine.client.volumes.get, name)
            return False
        except NotFound:
            await self.engine.call(self.engine.client.volumes.create, name=name, labels=dict(labels))
            return True

    async def remove_volume(self, name: str) -> bool:
        """Remove a volume; False when it was already gone. A volume in use raises (409)."""
        try:
            volume = await self.engine.call(self.engine.client.volumes.get, name)
        except NotFound:
            return False
        await self.engine.call(volume.remove)
        return True

    async def list_volumes(self, labels: Mapping[str, str]) -> list[Volume]:
        """The volumes carrying every one of ``labels``."""
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        volumes = await self.engine.call(self.engine.client.volumes.list, filters=filters)
        return [Volume.from_attrs(v.attrs) for v in volumes]

    async def volume_exists(self, name: str) -> bool:
        try:
            await self.engine.call(self.engine.client.volumes.get, name)
            return True
        except NotFound:
            return False

    async def has_nvidia_runtime(self) -> bool:
        """Whether the engine can hand NVIDIA GPUs to containers (runtime, hook or CDI specs)."""
        return nvidia_runtime_source(await self.engine.call(self.engine.client.info)) is not None

    async def facts(self) -> EngineFacts:
        """The engine's version, storage root and NVIDIA runtime, as ``doctor`` reports them."""
        info = await self.engine.call(self.engine.client.info)
        version = await self.engine.call(self.engine.client.version)
        return EngineFacts(version=version.get("Version", "?"), api_version=version.get("ApiVersion", "?"),
                           root_dir=info.get("DockerRootDir") or "/var/lib/docker",
                           nvidia_runtime=nvidia_runtime_source(info))

    async def image_present(self, reference: str) -> bool:
        return await self.image_labels(reference) is not None

    # -- containers ---------------------------------------------------------------------
    def watch(self, *, resync_interval: float) -> ContainerReflector:
        """The workspace containers kept current from this engine's events (call ``start``)."""
        return ContainerReflector(self.engine, resync_interval=resync_interval)

    async def list_workspaces(self, *, owner: str | None = None, workspace_id: str | None = None) -> list[Container]:
        """The launcher's containers, newest first."""
        filters = {"label": [specs.MANAGED_LABEL if workspace_id is None else f"{specs.MANAGED_LABEL}={workspace_id}"]}
        if owner is not None:
            filters["label"].append(f"{specs.label('owner')}={owner}")
        # ignore_removed: the SDK inspects each listed container; one removed in between (a failed
        # launch's clean-up, a delete) is simply no longer listed, instead of failing the listing.
        containers = await self.engine.call(self.engine.client.containers.list, all=True, filters=filters,
                                            ignore_removed=True)
        # Containers run from a snapshot image by hand inherit a blank id label: not ours.
        found = (Container.from_attrs(c.attrs) for c in containers)
        return [c for c in found if c.workspace_id]

    async def create(self, spec: specs.WorkspaceSpec) -> str:
        """Create (not start) the workspace's container; its id."""
        container = await self.engine.call(self.engine.client.containers.create, **specs.container_spec(spec))
        return container.id

    async def start(self, container_id: str) -> None:
        # A start of a stopped workspace (after a reboot, which flushes the firewall, say) gets
        # the rules back too, not only a launch's ensure_network.
        await self._refresh_protection()
        try:
            await self.engine.call(self.engine.api.start, container_id)
        except APIError as e:
            if is_gpu_driver_error(e):
                raise GpuRuntimeMissing(
                    "GPUs were requested but this host has no NVIDIA container runtime "
                    f"({e.explanation}); run 'workspace-launcher doctor' to see how to install it, "
                    "or launch with gpus=0"
                ) from e
            raise LaunchFailed(f"the engine could not start the workspace: {e.explanation}") from e

    async def copy_into(self, container_id: str, target: str, source_dir: str, *, uid: int, gid: int) -> None:
        """Copy a host directory's files into a created container (its volumes included)."""
        data = await asyncio.to_thread(_tar_of, source_dir, uid, gid)
        await self.engine.call(self.engine.api.put_archive, container_id, target, data)

    async def inspect(self, container_id: str) -> Container | None:
        try:
            return Container.from_attrs(await self.engine.call(self.engine.api.inspect_container, container_id))
        except NotFound:
            return None

    async def stop(self, container_id: str, *, timeout: int = 10) -> None:
        await self.engine.call(self.engine.api.stop, container_id, timeout=timeout)

    async def remove(self, container_id: str, *, wait: float = 30.0) -> None:
        """Remove a container; returns once it is gone. A removal already under way (a launch's
        clean-up, another server's delete) is waited for, so what follows (a purge of its
        volume) never finds it still mounted."""
        try:
            await self.engine.call(self.engine.api.remove_container, container_id, force=True)
            return
        except NotFound:
            return
        except APIError as e:
            if e.status_code != 409:
                raise
        deadline = asyncio.get_running_loop().time() + wait
        while await self.inspect(container_id) is not None:
            if asyncio.get_running_loop().time() > deadline:
                raise EngineUnavailable(f"the engine did not finish removing container {container_id[:12]} in {wait:g} s")
            await asyncio.sleep(0.1)

    async def logs(self, container_id: str, *, tail: int | str = 200) -> str:
        data = await self.engine.call(self.engine.api.logs, container_id, tail=tail, stdout=True, stderr=True)
        return data.decode("utf-8", "replace")

    async def commit(self, container: Container, *, repository: str, tag: str, labels: Mapping[str, str],
                     message: str) -> str:
        """Save the container's file system as an image with ``labels``, its secrets replaced
        (see :func:`~workspace_launcher.engine.spec.snapshot_config`); the image's id."""
        conf = specs.snapshot_config(container, labels, token_placeholder=secrets.token_urlsafe(32))
        result = await self.engine.call(
            self.engine.api.commit, container.id, repository=repository, tag=tag, conf=conf, message=message
        )
        return result["Id"]

    async def image_labels(self, reference: str) -> dict[str, str] | None:
        try:
            attrs = await self.engine.call(self.engine.api.inspect_image, reference)
        except NotFound:
            return None
        return attrs["Config"].get("Labels") or {}

    async def list_images(self, labels: Mapping[str, str]) -> list[Image]:
        return await self.engine.call(images.list_images, self.engine, label=[f"{k}={v}" for k, v in labels.items()])

    async def remove_image(self, reference: str) -> bool:
        return await self.engine.call(images.remove_image, self.engine, reference)


def _tar_of(source_dir: str, uid: int, gid: int) -> bytes:
    """An in-memory tar of a small directory, owned by the workspace user."""
    buffer = io.BytesIO()

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if "__pycache__" in info.name or info.name.endswith(".pyc"):
            return None
        info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
        return info

    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for entry in sorted(os.listdir(source_dir)):
            archive.add(os.path.join(source_dir, entry), arcname=entry, filter=owned)
    return buffer.getvalue()

