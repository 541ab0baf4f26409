"""Snapshots: a workspace's container (not its volumes) committed as an image its owner can
launch again. A snapshot holds its owner's home, so only its owner ever sees or launches it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from workspace_launcher.engine import spec as specs
from workspace_launcher.engine.images import Image
from workspace_launcher.engine.objects import Container
from workspace_launcher.engine.protocol import WorkspaceEngine
from workspace_launcher.errors import Conflict, InvalidRequest, NotFound
from workspace_launcher.workspaces.model import Workspace
from workspace_launcher.workspaces.validation import owner_slug

SNAPSHOT_REPOSITORY = "workspace-launcher/snapshot"
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,127}$")


def snapshot_tag(workspace_name: str, tag: object, now: datetime) -> str:
    """The tag asked for, or one made of the workspace's name and the time; InvalidRequest
    names what a valid tag is."""
    tag = tag or f"{workspace_name}-{now:%Y%m%d%H%M%S}"
    if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
        raise InvalidRequest(
            f"tag {tag!r} is not valid: use up to 128 lowercase letters, digits, '.', '_' and '-'",
            field="tag",
        )
    return tag


def snapshot_repository(owner: str) -> str:
    return f"{SNAPSHOT_REPOSITORY}-{owner_slug(owner)}"


def _is_owners_snapshot(labels: dict[str, str] | None, owner: str) -> bool:
    return bool(labels) and labels.get(specs.label("role")) == "snapshot" and labels.get(specs.label("owner")) == owner


def _no_snapshot(name: object, field: str = "snapshot") -> NotFound:
    return NotFound(f"no snapshot {name!r} of yours; list them with 'workspace-launcher snapshots list'", field=field)


async def owner_snapshot_labels(backend: WorkspaceEngine, *, owner: str, image: str | None) -> dict[str, str]:
    """The labels of the owner's snapshot ``image``; NotFound for unknown images and others'
    snapshots (those hold another user's home) alike."""
    labels = await backend.image_labels(image) if image else None
    if not _is_owners_snapshot(labels, owner):
        raise _no_snapshot(image)
    return labels


async def commit_snapshot(backend: WorkspaceEngine, container: Container, workspace: Workspace, *,
                          tag: str, now: datetime) -> str:
    """Commit the container as ``<repository>:<tag>`` (a tag :func:`snapshot_tag` made) and
    return that reference."""
    repository = snapshot_repository(workspace.owner)
    await backend.commit(
        container,
        repository=repository,
        tag=tag,
        labels=specs.snapshot_labels(container.labels, created=now.isoformat(timespec="seconds")),
        message=f"snapshot of workspace {workspace.name} ({workspace.id})",
    )
    return f"{repository}:{tag}"


@dataclass(frozen=True)
class Snapshot:
    """One of an owner's snapshots, as the dialog, the panel and the CLI list it."""

    tag: str
    #: What a launch's ``snapshot`` field takes: ``<repository>:<tag>``.
    image: str
    workspace_id: str
    workspace_name: str
    profile: str
    #: ISO 8601, when it was committed.
    created: str
    size_bytes: int

    def to_dict(self) -> dict:
        return asdict(self)


def snapshots_of(images: Iterable[Image], *, owner: str) -> list[Snapshot]:
    """The owner's snapshots among ``images``, newest first; one per tag of their repository."""
    repository = snapshot_repository(owner)
    found = []
    for image in images:
        labels = image.labels
        if not _is_owners_snapshot(labels, owner):
            continue
        for reference in image.tags:
            name, _, tag = reference.rpartition(":")
            if name == repository:
                found.append(Snapshot(
                    tag=tag, image=reference, workspace_id=labels.get(specs.label("snapshot-of"), ""),
                    workspace_name=labels.get(specs.label("snapshot-name"), ""),
                    profile=labels.get(specs.label("profile"), ""),
                    created=labels.get(specs.label("created"), "") or image.created, size_bytes=image.size,
                ))
    return sorted(found, key=lambda s: (s.created, s.tag), reverse=True)


async def list_snapshots(backend: WorkspaceEngine, *, owner: str) -> list[Snapshot]:
    images = await backend.list_images({specs.label("role"): "snapshot", specs.label("owner"): owner})
    return snapshots_of(images, owner=owner)


async def remove_snapshot(backend: WorkspaceEngine, owners_workspaces: Callable[[], Awaitable[Iterable[Workspace]]],
                          *, owner: str, tag: str) -> str:
    """Remove the owner's snapshot ``tag`` and return its reference. Refused (409) while one of
    the owner's workspaces (``owners_workspaces()``, asked only for a tag that names a snapshot)
    was launched from it: its container still needs the image."""
    if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
        raise InvalidRequest(f"{tag!r} is not a snapshot tag; list yours with 'workspace-launcher snapshots list'",
                             field="tag")
    reference = f"{snapshot_repository(owner)}:{tag}"
    await owner_snapshot_labels(backend, owner=owner, image=reference)
    if users := sorted(w.name for w in await owners_workspaces() if w.image == reference):
        raise Conflict(f"snapshot {tag} is the image of your workspace {', '.join(users)}; delete "
                       f"{'it' if len(users) == 1 else 'them'} first", field="tag")
    if not await backend.remove_image(reference):
        raise _no_snapshot(tag, field="tag")
    return reference
