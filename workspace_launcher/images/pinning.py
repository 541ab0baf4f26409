"""The base-image lock file: which exact base image each profile builds on.

``workspace-launcher images lock`` resolves every profile's base reference (a tag such as
``registry.example.org/debian:bookworm``, or the locally bootstrapped
``workspace-launcher/base:bookworm``) to what it means now, and writes it to
``ImageBuilder.lock_file``, which the admin commits next to ``jupyter_server_config.py``::

    {
      "version": 1,
      "profiles": {
        "minimal": {
          "base_image": "registry.example.org/debian:bookworm",
          "digest": "registry.example.org/debian@sha256:...",
          "image_id": "sha256:...",
          "locked_at": "2026-11-23T16:00:00Z"
        }
      }
    }

``digest`` is the image's registry digest for that repository when it has one, else its
image id (a bootstrapped or loaded base). With the lock, a missing base is pulled by its locked
digest rather than by its tag; with ``ImageBuilder.require_pinned_images`` a build refuses a
base that is neither pinned nor locked, or that now resolves to another digest (drift), and a
launch refuses an image built on another base than the lock says (:func:`check_launch`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from workspace_launcher import __version__
from workspace_launcher.engine import labels as engine_labels
from workspace_launcher.errors import ConfigError, ImageBuildError
from workspace_launcher.images.references import digest_of, is_image_id, is_pinned, parse_reference

LOCK_VERSION = 1
LOCK_FILE_NAME = "workspace_launcher.lock.json"
#: Labels every launcher image carries about its OS base (set by ImageBuilder).
LABEL_BASE_IMAGE = engine_labels.BASE_IMAGE
LABEL_BASE_DIGEST = engine_labels.BASE_DIGEST
LABEL_BASE_ID = engine_labels.BASE_ID
LOCK_COMMAND = "workspace-launcher images lock"


class UnpinnedBaseImage(ImageBuildError):
    """``require_pinned_images`` is on and a profile's base is neither pinned nor locked."""

    status_code = 409


class BaseImageDrift(ImageBuildError):
    """A base (or an image's recorded base) differs from what the lock file says."""

    status_code = 409


@dataclass(frozen=True)
class LockEntry:
    """What one profile's base reference resolved to when it was locked."""

    base_image: str
    #: ``repo@sha256:...`` (the registry digest) or, for a base with none, its image id.
    digest: str
    image_id: str
    locked_at: str

    def matches(self, digest: str | None, image_id: str | None) -> bool:
        """Whether an image with this digest or image id is the locked one."""
        if digest and digest_of(digest) == digest_of(self.digest):
            return True
        return bool(image_id) and image_id == self.image_id

    @property
    def pullable_digest(self) -> str | None:
        """``repo@sha256:...`` to pull the locked image by, when the digest is a registry one."""
        return None if is_image_id(self.digest) or "@" not in self.digest else self.digest

    def to_dict(self) -> dict:
        return {"base_image": self.base_image, "digest": self.digest, "image_id": self.image_id,
                "locked_at": self.locked_at}


@dataclass(frozen=True)
class Lock:
    """The lock file's content: one :class:`LockEntry` per profile name."""

    profiles: Mapping[str, LockEntry] = field(default_factory=dict)

    def entry_for(self, profile: str, base_image: str) -> LockEntry | None:
        """The profile's entry if it was locked for this same base reference."""
        entry = self.profiles.get(profile)
        return entry if entry is not None and entry.base_image == base_image else None

    def to_dict(self) -> dict:
        return {
            "version": LOCK_VERSION,
            "generated_by": f"workspace-launcher {__version__}",
            "profiles": {name: self.profiles[name].to_dict() for name in sorted(self.profiles)},
        }

    @classmethod
    def from_dict(cls, data: object, *, source: str = "the lock file") -> Lock:
        fix = f"fix it by hand or delete it and run '{LOCK_COMMAND}'"
        if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
            raise ConfigError(f"{source} is not a workspace-launcher lock file (no 'profiles' object); {fix}")
        if data.get("version", LOCK_VERSION) != LOCK_VERSION:
            raise ConfigError(f"{source} has lock version {data.get('version')!r}; this launcher reads "
                              f"version {LOCK_VERSION}: run '{LOCK_COMMAND}' to rewrite it")
        entries = {}
        for name, value in data["profiles"].items():
            keys = ("base_image", "digest", "image_id", "locked_at")
            if not isinstance(value, dict) or not all(isinstance(value.get(k), str) and value.get(k) for k in keys):
                raise ConfigError(f"{source}: the entry of profile {name!r} needs the string keys "
                                  f"{', '.join(keys)}; {fix}")
            entries[name] = LockEntry(**{k: value[k] for k in keys})
        return cls(entries)


def default_lock_path() -> str:
    """``<jupyter config dir>/workspace_launcher.lock.json``."""
    from jupyter_core.paths import jupyter_config_dir

    return os.path.join(jupyter_config_dir(), LOCK_FILE_NAME)


def read_lock(path: str | os.PathLike) -> Lock:
    """The lock file at ``path``; an empty :class:`Lock` when there is no file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Lock()
    except OSError as e:
        raise ConfigError(f"cannot read the lock file {path}: {e}") from e
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"the lock file {path} is not valid JSON ({e}); fix it or delete it and "
                          f"run '{LOCK_COMMAND}'") from e
    return Lock.from_dict(data, source=f"the lock file {path}")


def write_lock(path: str | os.PathLike, lock: Lock) -> None:
    """Write ``lock`` to ``path`` atomically (sorted keys, stable diff for version control)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(lock.to_dict(), f, indent=2, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _now() -> str:
    now = datetime.now(timezone.utc)  # noqa: UP017 - Python 3.10 is supported
    return now.replace(microsecond=0).isoformat().replace("+00:00", "Z")


async def resolve_locks(builder, profiles: Iterable, *, pull: bool = False, previous: Lock | None = None) -> Lock:
    """Resolve each profile's base reference to what it means now; returns the new :class:`Lock`.

    ``builder`` is the :class:`~workspace_launcher.images.builder.ImageBuilder`; ``profiles`` are
    :class:`~workspace_launcher.catalog.profiles.Profile` objects. A base missing from the engine is
    pulled when its reference is pullable (see ``ImageBuilder.registry_mirror``); with
    ``pull=True`` every pullable tag is pulled first, so the lock takes the registry's current
    image. An entry whose base and digest did not change keeps its ``locked_at`` from
    ``previous`` (the file stays unchanged when nothing changed).
    """
    previous = previous or Lock()
    entries = {}
    for profile in profiles:
        ref = profile.base_image or builder.base_image
        resolved = await builder.resolve_base(ref, refresh=pull)
        old = previous.entry_for(profile.name, ref)
        locked_at = old.locked_at if old is not None and old.digest == resolved.digest else _now()
        entries[profile.name] = LockEntry(ref, resolved.digest, resolved.image_id, locked_at)
    return Lock(entries)


def _pin_hint(ref: str, digest: str) -> str:
    if is_image_id(digest):
        return f"set its base_image to the image id {digest!r}"
    try:
        repo = parse_reference(ref).familiar
    except ValueError:
        return f"set its base_image to {digest!r}"
    return f"pin it by digest: base_image = '{repo}@{digest_of(digest)}'"


def check_base(profile: str, ref: str, digest: str, image_id: str, lock: Lock, *, require: bool,
               lock_path: str) -> str | None:
    """The pinning policy for one build; raises when ``require`` and the base is refused.

    Returns a warning (drift seen while ``require`` is off) or None.
    """
    entry = lock.entry_for(profile, ref)
    if entry is not None and not entry.matches(digest, image_id):
        message = (
            f"the base image {ref!r} of profile {profile!r} now resolves to {digest}, but the lock "
            f"file {lock_path} (locked {entry.locked_at}) says {entry.digest}. Run '{LOCK_COMMAND}' "
            f"to accept the new base, or {_pin_hint(ref, entry.digest)} to keep the locked one"
        )
        if require:
            raise BaseImageDrift(message)
        return message
    if require and entry is None and not is_pinned(ref):
        raise UnpinnedBaseImage(
            f"profile {profile!r} builds on {ref!r}, which is not pinned, and ImageBuilder."
            f"require_pinned_images is on: run '{LOCK_COMMAND}' to record its current digest "
            f"({digest}) in {lock_path}, or {_pin_hint(ref, digest)}"
        )
    return None


def check_launch(image_labels: Mapping[str, str] | None, lock: Lock, profile) -> None:
    """Refuse to launch an image whose recorded base differs from the profile's lock entry.

    Pure. ``image_labels`` are the image's labels (``Config.Labels`` of its inspection);
    ``profile`` is a :class:`~workspace_launcher.catalog.profiles.Profile` or a profile name. A profile
    without a lock entry passes (the build refuses unpinned bases). Raises
    :class:`BaseImageDrift` (HTTP 409) with how to fix it.
    """
    name = profile if isinstance(profile, str) else profile.name
    entry = lock.profiles.get(name)
    if entry is None:
        return
    labels = image_labels or {}
    digest, image_id = labels.get(LABEL_BASE_DIGEST), labels.get(LABEL_BASE_ID)
    if not digest and not image_id:
        raise BaseImageDrift(
            f"the image of profile {name!r} records no base image, so it cannot be checked against "
            f"the lock file: rebuild it with 'workspace-launcher images build {name}'"
        )
    if entry.matches(digest, image_id):
        return
    raise BaseImageDrift(
        f"the image of profile {name!r} was built on {digest or image_id} "
        f"({labels.get(LABEL_BASE_IMAGE, 'unknown base')}), but the lock file says "
        f"{entry.base_image} = {entry.digest}: rebuild it with 'workspace-launcher images build "
        f"{name}', or run '{LOCK_COMMAND}' to accept the base it was built on"
    )


def pinned_digest(profile, builder, lock: Lock) -> str | None:
    """The ``sha256:...`` a profile's base is pinned to (by reference or by the lock), else None.

    Pure: for the REST API's ``pinned_digest``. A reference with ``@sha256:`` or an image id is
    pinned by itself; a tag is pinned when the lock has an entry for this profile and reference.
    """
    ref = profile.base_image or builder.base_image
    if is_pinned(ref):
        return digest_of(ref)
    entry = lock.entry_for(profile.name, ref)
    return digest_of(entry.digest) if entry is not None else None


__all__ = [
    "LABEL_BASE_DIGEST",
    "LABEL_BASE_ID",
    "LABEL_BASE_IMAGE",
    "BaseImageDrift",
    "Lock",
    "LockEntry",
    "UnpinnedBaseImage",
    "check_base",
    "check_launch",
    "default_lock_path",
    "pinned_digest",
    "read_lock",
    "resolve_locks",
    "write_lock",
]
