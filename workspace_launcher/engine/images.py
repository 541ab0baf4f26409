"""The engine's side of images: inspecting, listing, pulling and importing them.

Blocking functions of a :class:`~workspace_launcher.engine.docker.DockerEngine`, run through its
``call``; answers are :class:`Image` objects, never the engine's own descriptions.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from docker.errors import APIError, ImageNotFound

from workspace_launcher.errors import ImageBuildError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Image:
    """One image as the launcher reads it."""

    id: str
    labels: Mapping[str, str] = field(default_factory=dict)
    #: ``repository@sha256:...`` for each registry the image was pulled from.
    repo_digests: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    #: ISO 8601, UTC.
    created: str = ""
    size: int = 0

    @classmethod
    def from_attrs(cls, attrs: Mapping) -> Image:
        """From an image inspection or a row of the image list (their shapes differ a little)."""
        labels = attrs.get("Labels") if "Labels" in attrs else (attrs.get("Config") or {}).get("Labels")
        created = attrs.get("Created", "")
        if isinstance(created, (int, float)):  # the list gives seconds since the epoch
            created = datetime.fromtimestamp(created, timezone.utc).isoformat()
        return cls(id=attrs["Id"], labels=dict(labels or {}), repo_digests=tuple(attrs.get("RepoDigests") or ()),
                   tags=tuple(t for t in attrs.get("RepoTags") or () if t != "<none>:<none>"),
                   created=created, size=attrs.get("Size", 0))


def inspect_image(engine, reference: str) -> Image | None:
    """The image ``reference`` names; ``None`` when the engine has none."""
    try:
        return Image.from_attrs(engine.api.inspect_image(reference))
    except ImageNotFound:
        return None


def list_images(engine, *, label: str | list[str]) -> list[Image]:
    """Every image carrying ``label`` (each of them, for a list; ``key=value`` matches a value)."""
    return [Image.from_attrs(row) for row in engine.api.images(filters={"label": label})]


def remove_image(engine, reference: str) -> bool:
    """Untag ``reference`` (its layers go with its last tag); False when there was none. An
    image a container still uses is refused by the engine (409), never forced."""
    try:
        engine.api.remove_image(reference)
    except ImageNotFound:
        return False
    return True


def pull(engine, ref: str, *, auth_config: dict | None = None,
         on_log: Callable[[str], None] | None = None) -> None:
    """Pull ``ref`` (a tag or ``@sha256:`` digest); blocking. Raises :class:`ImageBuildError`
    with the engine's message and the end of the pull's log."""
    emit = on_log or (lambda line: None)
    tail: deque[str] = deque(maxlen=20)
    error = None
    log.info("pulling %s", ref)
    emit(f"pulling {ref}")
    try:
        for item in engine.api.pull(ref, stream=True, decode=True, auth_config=auth_config or None):
            if "error" in item or "errorDetail" in item:
                error = error or item.get("error") or (item.get("errorDetail") or {}).get("message")
                continue
            line = " ".join(str(item[k]) for k in ("id", "status", "progress") if item.get(k))
            if line:
                tail.append(line)
                if "progress" not in item:
                    emit(line)
    except APIError as e:
        error = e.explanation or str(e)
    if error:
        raise ImageBuildError(f"pulling {ref} failed: {error}", log_tail="\n".join(tail))


def import_rootfs(engine, tarball: str, *, repository: str, tag: str, changes: list[str]) -> tuple[str, object]:
    """Import a root file system tarball as ``repository:tag``; (image id, the engine's answer)."""
    try:
        answer = engine.api.import_image_from_file(tarball, repository=repository, tag=tag, changes=changes)
        return engine.api.inspect_image(f"{repository}:{tag}")["Id"], answer
    except APIError as e:
        raise ImageBuildError(f"importing the root file system failed: {e.explanation or e}") from e
