"""The engine protocol: everything the workspace manager asks of a container engine.

The Docker backend (:class:`~workspace_launcher.engine.docker.DockerBackend`) is the first
implementation; a Swarm engine and the broker's client implement the same methods. Every answer
is a typed object of :mod:`workspace_launcher.engine.objects` or a plain value, never an engine's
own description, and every name and label is the vocabulary of
:mod:`workspace_launcher.engine.labels`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from workspace_launcher.engine.images import Image
from workspace_launcher.engine.objects import Container, Network, Volume
from workspace_launcher.engine.spec import WorkspaceSpec


@runtime_checkable
class ContainerWatch(Protocol):
    """The engine's workspace containers kept current from its event stream (list, then watch,
    with a periodic resync). Read only while :attr:`synced`; otherwise ask the engine."""

    @property
    def synced(self) -> bool: ...

    def containers(self, *, owner: str | None = None, workspace_id: str | None = None) -> list[Container]: ...

    def get(self, container_id: str) -> Container | None: ...

    async def refresh(self, container_id: str) -> None:
        """Re-read one container now: what this process just changed reads back at once."""

    def forget(self, container_id: str) -> None: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class WorkspaceEngine(Protocol):
    """Workspace containers, their volumes and network, and snapshots, on one engine.

    Errors: :class:`~workspace_launcher.errors.EngineUnavailable` when the engine does not answer,
    :class:`~workspace_launcher.errors.GpuRuntimeMissing` and
    :class:`~workspace_launcher.errors.LaunchFailed` from :meth:`start`.
    """

    # -- containers ---------------------------------------------------------------------------
    async def create(self, spec: WorkspaceSpec) -> str:
        """Create, not start, the workspace's container; its id."""

    async def start(self, container_id: str) -> None: ...

    async def stop(self, container_id: str, *, timeout: int = 10) -> None: ...

    async def remove(self, container_id: str, *, wait: float = 30.0) -> None:
        """Remove it; returns once it is gone (a removal already under way is waited for)."""

    async def inspect(self, container_id: str) -> Container | None:
        """The container now; ``None`` once it is gone."""

    async def list_workspaces(self, *, owner: str | None = None, workspace_id: str | None = None) -> list[Container]:
        """The launcher's containers, newest first, straight from the engine."""

    async def logs(self, container_id: str, *, tail: int | str = 200) -> str: ...

    async def copy_into(self, container_id: str, target: str, source_dir: str, *, uid: int, gid: int) -> None:
        """Copy a host directory's files into a created container (its volumes included)."""

    async def commit(self, container: Container, *, repository: str, tag: str, labels: Mapping[str, str],
                     message: str) -> str:
        """Save the container's file system as an image with ``labels``, secrets replaced; its id."""

    def watch(self, *, resync_interval: float) -> ContainerWatch:
        """A view of the workspace containers kept current from the engine's events (not started)."""

    # -- volumes, network, images, capabilities ------------------------------------------------
    async def ensure_volume(self, name: str, labels: Mapping[str, str]) -> bool:
        """Create the volume unless it exists; True when this call created it."""

    async def remove_volume(self, name: str) -> bool:
        """Remove it; False when already gone. A volume in use raises."""

    async def list_volumes(self, labels: Mapping[str, str]) -> list[Volume]: ...

    async def volume_exists(self, name: str) -> bool: ...

    async def ensure_network(self) -> Network:
        """The workspace network, made if missing, its firewall rules in place where possible."""

    async def image_labels(self, reference: str) -> dict[str, str] | None:
        """An image's labels; ``None`` when the engine has no such image."""

    async def list_images(self, labels: Mapping[str, str]) -> list[Image]:
        """The images carrying every one of ``labels``."""

    async def remove_image(self, reference: str) -> bool:
        """Untag the image (and remove it with its last tag); False when there was none. An image
        a container uses raises (409)."""

    async def has_nvidia_runtime(self) -> bool:
        """Whether the engine can hand NVIDIA GPUs to containers."""
