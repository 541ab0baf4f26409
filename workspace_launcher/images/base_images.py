"""Base-image resolution: what a profile's OS base reference means in the engine now.

The OS base is found in the engine under its reference (or, for a tag recorded in the lock file,
under its locked digest); when it is missing and the reference names a registry (or a Docker
Hub mirror is set), it is pulled, by digest when pinned or locked, with the registry's
credentials. :meth:`BaseImageResolver.check_base` then applies the pinning policy of
:mod:`workspace_launcher.images.pinning`. The settings read here are ``ImageBuilder``'s
configurable traits (:mod:`workspace_launcher.images.builder`), which owns their help and checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from traitlets.config import LoggingConfigurable

from workspace_launcher.catalog.profiles import SHARED_CONTEXTS, Profile
from workspace_launcher.engine.docker import DockerEngine
from workspace_launcher.engine.images import Image, inspect_image, pull
from workspace_launcher.errors import ConfigError, ImageBuildError
from workspace_launcher.images.pinning import Lock, LockEntry, read_lock
from workspace_launcher.images.pinning import check_base as pin_policy
from workspace_launcher.images.references import (
    is_image_id,
    local_candidates,
    pull_reference,
    registry_of,
    repo_digest,
)

log = logging.getLogger(__name__)

#: Image names of the launcher's own that no profile may take.
RESERVED_PROFILE_NAMES = set(SHARED_CONTEXTS) | {"base"}


class BaseImageMissing(ImageBuildError):
    """The OS base image is not in the engine and cannot be pulled."""


@dataclass(frozen=True)
class ResolvedBase:
    """What a base reference means in the engine now."""

    ref: str
    image_id: str
    #: ``repo@sha256:...`` when the image has a registry digest for ``ref``'s repository, else
    #: the image id: what the lock file records and the ``base-digest`` label carries.
    digest: str
    #: True when this call pulled it.
    pulled: bool = False


class BaseImageResolver(LoggingConfigurable):
    """Finds (and pulls) profiles' base images and applies the pinning policy to them."""

    # Configurable traits of ImageBuilder, declared there with their help and checks.
    base_image: str
    lock_file: str
    require_pinned_images: bool
    registry_mirror: str
    registry_credentials: dict

    def __init__(self, *, engine: DockerEngine, **kwargs) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self._locks: dict[str, list] = {}
        self._lock_cache: tuple[tuple, Lock] | None = None

    @contextlib.asynccontextmanager
    async def _exclusive(self, key: str) -> AsyncIterator[None]:
        """One holder per key (a base pull, a build per tag) at a time in this process; the
        lock is dropped when unused."""
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(key, None)

    def lock(self) -> Lock:
        """The lock file's content (empty when there is none), re-read when the file changes."""
        try:
            st = os.stat(self.lock_file)
            key = (self.lock_file, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            return Lock()
        except OSError as e:
            raise ConfigError(f"cannot read the lock file {self.lock_file}: {e}") from e
        if self._lock_cache is None or self._lock_cache[0] != key:
            self._lock_cache = (key, read_lock(self.lock_file))
        return self._lock_cache[1]

    def _auth_for(self, ref: str) -> dict | None:
        host = registry_of(ref)
        names = [host] + (["index.docker.io", "https://index.docker.io/v1/"] if host == "docker.io" else [])
        for name in names:
            if name in self.registry_credentials:
                return dict(self.registry_credentials[name])
        return None

    async def _inspect_first(self, refs: list[str]) -> Image | None:
        for ref in refs:
            if (found := await self.engine.call(inspect_image, self.engine, ref)) is not None:
                return found
        return None

    async def _pull(self, ref: str, emit: Callable[[str], None]) -> None:
        try:
            await self.engine.call(pull, self.engine, ref, auth_config=self._auth_for(ref), on_log=emit)
        except ImageBuildError as e:
            host = registry_of(ref)
            raise ImageBuildError(
                f"{e.message}. Check that {host} is reachable from the Docker engine and holds that "
                f"image; set ImageBuilder.registry_credentials[{host!r}] if it needs a login, "
                "ImageBuilder.registry_mirror to pull Docker Hub images through a mirror, or load "
                "the image into the engine yourself",
                log_tail=e.log_tail,
            ) from e

    async def resolve_base(self, ref: str, *, entry: LockEntry | None = None, refresh: bool = False,
                           on_log: Callable[[str], None] | None = None) -> ResolvedBase:
        """What the base reference ``ref`` means in the engine now, pulling it when missing.

        Looks for ``ref`` (and its mirror copy) in the engine; when absent, a lock ``entry``
        for it is looked for and pulled by its locked digest; else ``ref`` itself is pulled when
        pullable (a registry is named, or a Docker Hub reference with ``registry_mirror`` set).
        ``refresh`` pulls a pullable tag first, so a moved tag is seen. ``on_log`` is called
        from a worker thread. Raises :class:`BaseImageMissing` with the fix.
        """
        emit = on_log or (lambda line: None)
        mirror = self.registry_mirror
        pulled = False
        async with self._exclusive(f"base:{ref}"):
            if refresh and not is_image_id(ref) and "@" not in ref and (source := pull_reference(ref, mirror)):
                await self._pull(source, emit)
                pulled = True
            info = await self._inspect_first(local_candidates(ref, mirror))
            locked = entry.pullable_digest if entry is not None and entry.base_image == ref else None
            if info is None and locked:
                info = await self._inspect_first(local_candidates(locked, mirror))
                if info is None and (source := pull_reference(locked, mirror)):
                    await self._pull(source, emit)
                    pulled = True
                    info = await self._inspect_first(local_candidates(locked, mirror))
            if info is None and (source := pull_reference(ref, mirror)):
                await self._pull(source, emit)
                pulled = True
                info = await self._inspect_first(local_candidates(ref, mirror))
        if info is None:
            raise BaseImageMissing(_missing_message(ref, pullable=bool(pull_reference(ref, mirror) or locked)))
        digest = repo_digest(info.repo_digests, ref, mirror) or (
            repo_digest(info.repo_digests, locked, mirror) if locked else None)
        return ResolvedBase(ref, info.id, digest or info.id, pulled)

    async def check_base(self, profile: Profile, *, on_log: Callable[[str], None] | None = None) -> ResolvedBase:
        """Resolve the profile's base (pulling it if missing) and apply the pinning policy.

        Raises :class:`~workspace_launcher.images.pinning.UnpinnedBaseImage` or
        :class:`~workspace_launcher.images.pinning.BaseImageDrift` when ``require_pinned_images`` refuses
        it; with the setting off, drift is logged as a warning.
        """
        if profile.name in RESERVED_PROFILE_NAMES:
            raise ConfigError(f"profile name {profile.name!r} is reserved; rename the profile")
        base_ref = profile.base_image or self.base_image
        lock = self.lock()
        resolved = await self.resolve_base(base_ref, entry=lock.entry_for(profile.name, base_ref), on_log=on_log)
        warning = pin_policy(profile.name, base_ref, resolved.digest, resolved.image_id, lock,
                             require=self.require_pinned_images, lock_path=self.lock_file)
        if warning:
            log.warning("%s", warning)
        return resolved

    async def find_base(self, profile: Profile) -> ResolvedBase | None:
        """The profile's base as the engine has it now, or None when missing; never pulls.

        Raises what :meth:`check_base` raises when the pinning policy refuses the base (a
        drift warning is not logged: finding is a question, not a build).
        """
        base_ref = profile.base_image or self.base_image
        lock = self.lock()
        entry = lock.entry_for(profile.name, base_ref)
        refs = local_candidates(base_ref, self.registry_mirror)
        if entry is not None and entry.pullable_digest:
            refs += local_candidates(entry.pullable_digest, self.registry_mirror)
        info = await self._inspect_first(refs)
        if info is None:
            return None
        digest = repo_digest(info.repo_digests, base_ref, self.registry_mirror) or info.id
        pin_policy(profile.name, base_ref, digest, info.id, lock,
                   require=self.require_pinned_images, lock_path=self.lock_file)
        return ResolvedBase(base_ref, info.id, digest)


def _missing_message(ref: str, *, pullable: bool) -> str:
    """Why the base ``ref`` is not in the engine, and how to get it there."""
    if pullable:
        how = "it was pulled but the engine still does not show it"
    elif is_image_id(ref):
        how = "an image id cannot be pulled; load the image (docker load) or re-create it"
    else:
        how = ("its name has no registry, so it is not pulled; create it with `workspace-launcher "
               "images bootstrap-base`, load it (docker load), name its registry "
               "(registry.example.org/...), or set ImageBuilder.registry_mirror")
    return (f"the base image {ref!r} is not in the Docker engine: {how}; or set "
            "ImageBuilder.base_image (or the profile's base_image) to an image the engine has")


__all__ = ["RESERVED_PROFILE_NAMES", "BaseImageMissing", "BaseImageResolver", "ResolvedBase"]
