"""The build pipeline: content-addressed builds of the shared Jupyter layer and the profiles.

Every profile image is built in two steps with the engine's classic builder:

1. the shared Jupyter layer ``workspace-launcher/jupyter:<hash12>``, from the ``jupyter`` build
   context ``FROM`` the OS base image (build arg ``BASE_IMAGE`` = the base's image id);
2. the profile image ``workspace-launcher/<profile>:<hash12>``, from the profile's context
   ``FROM`` that layer (build arg ``JUPYTER_IMAGE`` = the layer's tag).

``<hash12>`` starts the sha256 of the rendered build context (files, the extra CA bundle, the
wheelhouse), the base reference, the resolved parent identity and the build args. An image with
that tag is reused without building, so a launch costs two image inspections and the hashing of
the (memoized) context files. This module owns rendering contexts, planning the two tags,
finding, listing and ensuring images; the base comes from :mod:`workspace_launcher.images.base_images`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workspace_launcher import __version__
from workspace_launcher.catalog.profiles import Profile
from workspace_launcher.engine import labels as engine_labels
from workspace_launcher.engine.build import loop_emitter, run_build
from workspace_launcher.engine.images import inspect_image, list_images
from workspace_launcher.errors import ConfigError, ImageBuildError
from workspace_launcher.images.base_images import RESERVED_PROFILE_NAMES, BaseImageResolver
from workspace_launcher.images.build_history import BuildEstimate, estimate, stated_estimate
from workspace_launcher.images.contexts import CA_FILE, WHEELS_DIR, Entries, _hash_entries, _walk
from workspace_launcher.images.pinning import LABEL_BASE_DIGEST, LABEL_BASE_ID, LABEL_BASE_IMAGE

LABEL_PROFILE = engine_labels.IMAGE_PROFILE
LABEL_HASH = engine_labels.IMAGE_CONTEXT_HASH
LABEL_VERSION = engine_labels.IMAGE_VERSION
LABEL_ROLE = engine_labels.ROLE
ROLE_JUPYTER, ROLE_PROFILE = "jupyter-layer", "profile"

IMAGE_REPO_PREFIX = "workspace-launcher/"
JUPYTER_CONTEXT = "jupyter"
#: Never part of a build context: the declaration (editing a description must not rebuild).
_NOT_CONTEXT = {"profile.json"}


@dataclass(frozen=True)
class BuiltImage:
    """A profile image that exists in the engine (``built``: this call built it)."""

    tag: str
    image_id: str
    context_hash: str
    profile: str
    built: bool


@dataclass(frozen=True)
class _Plan:
    base_ref: str
    base_id: str
    base_digest: str
    jupyter_hash: str
    jupyter_tag: str
    jupyter_args: dict
    profile_hash: str
    profile_tag: str
    profile_args: dict


class ImagePipeline(BaseImageResolver):
    """Renders, plans, finds and builds profile images; every blocking engine call runs in a thread."""

    # Configurable traits (and a property) of ImageBuilder, declared there with their help and checks.
    build_args: dict
    build_ca_bundle: str
    wheelhouse: str
    jupyter_context: str
    build_timeout: float

    # -- build contexts ---------------------------------------------------------------------

    def _context_entries(self, context_dir: str | os.PathLike) -> Entries:
        """What :meth:`render_context` writes, without writing it (for the fast path)."""
        entries = _walk(Path(context_dir), skip_top=_NOT_CONTEXT | {CA_FILE, WHEELS_DIR})
        bundle = self.build_ca_bundle
        entries[CA_FILE] = ("f", Path(bundle) if bundle else b"")
        entries[WHEELS_DIR] = ("d", None)
        if self.wheelhouse:
            for p in sorted(Path(self.wheelhouse).iterdir()):
                if p.is_file():
                    entries[f"{WHEELS_DIR}/{p.name}"] = ("x" if p.stat().st_mode & stat.S_IXUSR else "f", p)
        return entries

    def render_context(self, context: Profile | str | os.PathLike, dest: Path) -> None:
        """Copy a build context plus ``build-ca.crt`` and ``wheels/`` into ``dest``."""
        context_dir = context.context_dir if isinstance(context, Profile) else context
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for rel, (kind, src) in sorted(self._context_entries(context_dir).items()):
            target = dest / rel
            if kind == "d":
                target.mkdir(exist_ok=True)
            elif isinstance(src, bytes) or rel == CA_FILE:
                target.write_bytes(src if isinstance(src, bytes) else src.read_bytes())
                target.chmod(0o644)
            else:
                try:  # wheels can be big: a hard link costs nothing
                    os.link(src, target)
                except OSError:
                    shutil.copy2(src, target)

    # -- planning and lookup ----------------------------------------------------------------

    def profile_build_args(self, profile: Profile) -> dict[str, str]:
        """The build args a profile is built with: its declaration's, then the admin's."""
        return {**{k: str(v) for k, v in profile.build_args.items()}, **self.build_args.get(profile.name, {})}

    def _plan(self, profile: Profile, base_ref: str, base_id: str, base_digest: str) -> _Plan:
        j_args = {"BASE_IMAGE": base_id}
        j_hash = _hash_entries(
            self._context_entries(self.jupyter_context), base_ref=base_ref, base_id=base_id, build_args=j_args
        )
        j_tag = f"{IMAGE_REPO_PREFIX}{JUPYTER_CONTEXT}:{j_hash[:12]}"
        p_args = {**self.profile_build_args(profile), "JUPYTER_IMAGE": j_tag}
        p_hash = _hash_entries(
            self._context_entries(profile.context_dir), base_ref=j_tag, base_id=j_hash, build_args=p_args
        )
        return _Plan(base_ref, base_id, base_digest, j_hash, j_tag, j_args, p_hash,
                     f"{IMAGE_REPO_PREFIX}{profile.name}:{p_hash[:12]}", p_args)

    async def _make_plan(self, profile: Profile, *, on_log: Callable[[str], None] | None = None) -> _Plan:
        resolved = await self.check_base(profile, on_log=on_log)
        return await asyncio.to_thread(self._plan, profile, resolved.ref, resolved.image_id, resolved.digest)

    async def _lookup(self, tag: str, context_hash: str) -> str | None:
        """The id of the image tagged ``tag`` if it carries ``context_hash``."""
        info = await self.engine.call(inspect_image, self.engine, tag)
        if info is None:
            return None
        return info.id if info.labels.get(LABEL_HASH) == context_hash else None

    async def find(self, profile: Profile) -> BuiltImage | None:
        """The profile's current image if it is built (None too when the base is missing or refused).

        Never pulls: a base missing from the engine means "not built".
        """
        try:
            if profile.name in RESERVED_PROFILE_NAMES:
                return None
            base = await self.find_base(profile)
            if base is None:
                return None
        except (ImageBuildError, ConfigError):
            return None
        plan = await asyncio.to_thread(self._plan, profile, base.ref, base.image_id, base.digest)
        image_id = await self._lookup(plan.profile_tag, plan.profile_hash)
        if image_id is None:
            return None
        return BuiltImage(plan.profile_tag, image_id, plan.profile_hash, profile.name, False)

    async def list_images(self) -> list[dict]:
        """Every image carrying the launcher's role label (bases, Jupyter layers, profiles)."""
        out = []
        for image in await self.engine.call(list_images, self.engine, label=LABEL_ROLE):
            labels, tags = image.labels, list(image.tags)
            out.append({
                "tag": tags[0] if tags else None,
                "tags": tags,
                "id": image.id,
                "profile": labels.get(LABEL_PROFILE),
                "role": labels.get(LABEL_ROLE),
                "context_hash": labels.get(LABEL_HASH),
                "base_image": labels.get(LABEL_BASE_IMAGE),
                "version": labels.get(LABEL_VERSION),
                "created": image.created,
                "size": image.size,
            })
        out.sort(key=lambda r: (r["role"] or "", r["profile"] or "", r["created"]))
        return out

    # -- building ---------------------------------------------------------------------------

    async def contexts_to_build(self, profile: Profile, *, image_missing: bool = False) -> list[str]:
        """The build contexts a launch of ``profile`` builds now, in order ([] when its image
        exists; ``image_missing``: the caller just found it missing): the shared Jupyter layer
        when it is missing too, then the profile."""
        if not image_missing and await self.find(profile) is not None:
            return []
        base = None
        try:
            base = await self.find_base(profile)
        except (ImageBuildError, ConfigError):
            pass
        if base is not None:
            plan = await asyncio.to_thread(self._plan, profile, base.ref, base.image_id, base.digest)
            if await self._lookup(plan.jupyter_tag, plan.jupyter_hash) is not None:
                return [profile.name]
        return [JUPYTER_CONTEXT, profile.name]

    async def build_estimate(self, profile: Profile, *, image_missing: bool = False) -> BuildEstimate | None:
        """Roughly how long a launch of ``profile`` builds and how large its image is, or None
        when nothing is to build or nothing is known."""
        contexts = await self.contexts_to_build(profile, image_missing=image_missing)
        if not contexts:
            return None
        return estimate(self.history, contexts, stated_estimate(profile))

    async def ensure(self, profile: Profile, *, on_log: Callable[[str], None] | None = None,
                     on_stage: Callable[[str, list[str]], None] | None = None) -> BuiltImage:
        """The profile's image, building the Jupyter layer and the profile only if missing.

        ``on_log`` receives each build log line, and ``on_stage`` (context, every context this
        call builds) before each image it builds; both called on the event loop.
        """
        emit = loop_emitter(on_log)
        stage = on_stage or (lambda context, contexts: None)
        plan = await self._make_plan(profile, on_log=emit)
        image_id = await self._lookup(plan.profile_tag, plan.profile_hash)
        if image_id is not None:
            return BuiltImage(plan.profile_tag, image_id, plan.profile_hash, profile.name, False)
        async with self._exclusive(plan.profile_tag):
            image_id = await self._lookup(plan.profile_tag, plan.profile_hash)
            if image_id is not None:  # built by a concurrent call while we waited
                return BuiltImage(plan.profile_tag, image_id, plan.profile_hash, profile.name, False)
            async with self._exclusive(plan.jupyter_tag):
                contexts = [profile.name]
                if await self._lookup(plan.jupyter_tag, plan.jupyter_hash) is None:
                    contexts.insert(0, JUPYTER_CONTEXT)
                    stage(JUPYTER_CONTEXT, contexts)
                    await self._timed_build(
                        JUPYTER_CONTEXT, self.jupyter_context, tag=plan.jupyter_tag, args=plan.jupyter_args,
                        labels=self._labels(JUPYTER_CONTEXT, ROLE_JUPYTER, plan.jupyter_hash, plan),
                        what=f"the shared Jupyter layer for profile {profile.name!r}", emit=emit,
                    )
            stage(profile.name, contexts)
            image_id = await self._timed_build(
                profile.name, profile.context_dir, tag=plan.profile_tag, args=plan.profile_args,
                labels=self._labels(profile.name, ROLE_PROFILE, plan.profile_hash, plan),
                what=f"profile {profile.name!r}", emit=emit,
            )
        return BuiltImage(plan.profile_tag, image_id, plan.profile_hash, profile.name, True)

    @staticmethod
    def _labels(profile: str, role: str, context_hash: str, plan: _Plan) -> dict[str, str]:
        return {
            LABEL_PROFILE: profile,
            LABEL_HASH: context_hash,
            LABEL_BASE_IMAGE: plan.base_ref,
            LABEL_BASE_DIGEST: plan.base_digest,
            LABEL_BASE_ID: plan.base_id,
            LABEL_VERSION: __version__,
            LABEL_ROLE: role,
        }

    async def _timed_build(self, context: str, context_dir: str, **build) -> str:
        """Build one image and keep how long it took and how large it is, for the estimates."""
        started = time.monotonic()
        image_id = await asyncio.to_thread(self._build, context_dir, **build)
        info = await self.engine.call(inspect_image, self.engine, build["tag"])
        self.history.record(context, seconds=time.monotonic() - started, size_bytes=info.size if info else 0)
        return image_id

    def _build(self, context_dir: str, *, tag: str, args: dict, labels: dict, what: str,
               emit: Callable[[str], None]) -> str:
        """Render and build one image (blocking; runs in a worker thread)."""
        with tempfile.TemporaryDirectory(prefix="wl-build-") as tmp:
            self.render_context(context_dir, Path(tmp))
            return run_build(self.engine.api, tmp, tag=tag, args=args, labels=labels, what=what, emit=emit,
                             timeout=self.build_timeout)


__all__ = ["IMAGE_REPO_PREFIX", "JUPYTER_CONTEXT", "LABEL_HASH", "BuiltImage", "ImagePipeline"]
