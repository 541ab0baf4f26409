"""Image references, registry mirrors and pulls of base images.

Pure helpers parse references the way the engine does (``debian`` is
``docker.io/library/debian``; the first path component is a registry when it has a ``.`` or a
``:`` or is ``localhost``), rewrite Docker Hub references to a mirror, and find an image's
registry digest for a reference. :func:`pull` is the one blocking pull, with credentials.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
_IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


@dataclass(frozen=True)
class Reference:
    """A parsed image reference: ``registry/path[:tag][@digest]``."""

    registry: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """The fully qualified repository, e.g. ``docker.io/library/debian``."""
        return f"{self.registry}/{self.path}"

    @property
    def familiar(self) -> str:
        """The repository as the engine shows it (``debian``, ``127.0.0.1:5000/x/y``)."""
        if self.registry == DOCKER_HUB:
            return self.path.removeprefix("library/")
        return self.repository

    def with_registry(self, registry: str) -> Reference:
        return Reference(registry, self.path, self.tag, self.digest)

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_image_id(ref: str) -> bool:
    """``sha256:<64 hex>``: a local image id, content-addressed but not pullable."""
    return bool(_IMAGE_ID.match(ref))


def parse_reference(ref: str) -> Reference:
    """Parse ``ref``; ValueError for an image id or a malformed reference."""
    if is_image_id(ref) or not ref or any(c.isspace() for c in ref):
        raise ValueError(f"{ref!r} is not a repository reference")
    name, _, digest = ref.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ValueError(f"{ref!r} has a malformed digest")
    tag = None
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG.match(tag):
            raise ValueError(f"{ref!r} has a malformed tag")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, name
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not path or path != path.lower() or "//" in path or path.endswith("/"):
        raise ValueError(f"{ref!r} has a malformed repository name")
    return Reference(registry, path, tag, digest or None)


def is_pinned(ref: str) -> bool:
    """A reference that always means the same content: ``name@sha256:...`` or an image id."""
    if is_image_id(ref):
        return True
    try:
        return parse_reference(ref).digest is not None
    except ValueError:
        return False


def digest_of(pinned: str) -> str:
    """``sha256:...`` of ``repo@sha256:...`` or of an image id (returned as is)."""
    return pinned.rsplit("@", 1)[-1]


def is_hub(ref: str) -> bool:
    """Whether ``ref`` names a Docker Hub repository (explicitly or by default)."""
    try:
        return parse_reference(ref).registry == DOCKER_HUB
    except ValueError:
        return False


def _explicit_registry(ref: str) -> bool:
    first, sep, _ = ref.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def pull_reference(ref: str, mirror: str = "") -> str | None:
    """The reference to pull ``ref`` as, or None when it is not pullable.

    Docker Hub references go to ``mirror`` when one is set (``debian@sha256:x`` ->
    ``MIRROR/library/debian@sha256:x``). Without a mirror, only references naming their
    registry (``docker.io/...``, ``registry.example.org/...``, ``127.0.0.1:5000/...``) are
    pulled: an unqualified name like ``workspace-launcher/base:bookworm`` is a local image.
    Image ids are never pullable.
    """
    if is_image_id(ref):
        return None
    try:
        parsed = parse_reference(ref)
    except ValueError:
        return None
    if parsed.digest:  # by digest only: a tag next to it would only be checked, not used
        parsed = Reference(parsed.registry, parsed.path, None, parsed.digest)
    if parsed.registry == DOCKER_HUB and mirror:
        return str(parsed.with_registry(mirror.rstrip("/")))
    if not _explicit_registry(ref):
        return None
    return str(parsed)


def local_candidates(ref: str, mirror: str = "") -> list[str]:
    """References under which the engine may already hold ``ref`` (itself, then mirrored)."""
    candidates = [ref]
    mirrored = pull_reference(ref, mirror) if mirror and is_hub(ref) else None
    if mirrored and mirrored not in candidates:
        candidates.append(mirrored)
    return candidates


def repo_digest(repo_digests: Iterable[str], ref: str, mirror: str = "") -> str | None:
    """The image's registry digest for ``ref``'s repository, as ``familiar-repo@sha256:...``.

    ``repo_digests`` are the image's ``repository@sha256:...`` entries. A digest recorded under the mirror's copy of a
    Docker Hub repository counts as the Docker Hub one (a manifest digest does not depend on
    the registry that serves it). None when the image has no digest for that repository (a
    locally built or imported image, or one loaded with ``docker load``).
    """
    try:
        wanted = parse_reference(ref)
    except ValueError:
        return None
    repos = {wanted.repository}
    if mirror and wanted.registry == DOCKER_HUB:
        repos.add(wanted.with_registry(mirror.rstrip("/")).repository)
    for entry in repo_digests:
        name, _, digest = entry.rpartition("@")
        try:
            if parse_reference(name).repository in repos and digest:
                return f"{wanted.familiar}@{digest}"
        except ValueError:
            continue
    return None


def registry_of(ref: str) -> str:
    """The registry host a pull of ``ref`` talks to (``docker.io`` for Docker Hub)."""
    return parse_reference(ref).registry


__all__ = [
    "Reference", "digest_of", "is_hub", "is_image_id", "is_pinned", "local_candidates",
    "parse_reference", "pull_reference", "registry_of", "repo_digest",
]
