"""Workspace images: content-addressed builds of the shared Jupyter layer and the profiles.

Every profile image is built in two steps with the engine's classic builder:

1. the shared Jupyter layer ``workspace-launcher/jupyter:<hash12>``, from the ``jupyter`` build
   context ``FROM`` the OS base image (build arg ``BASE_IMAGE`` = the base's image id);
2. the profile image ``workspace-launcher/<profile>:<hash12>``, from the profile's context
   ``FROM`` that layer (build arg ``JUPYTER_IMAGE`` = the layer's tag).

``<hash12>`` starts the sha256 of the rendered build context (files, the extra CA bundle, the
wheelhouse), the base reference, the resolved parent identity and the build args. An image with
that tag is reused without building, so a launch costs two image inspections and the hashing of
the (memoized) context files.

The OS base is found in the engine under its reference (or, for a tag recorded in the lock file,
under its locked digest); when it is missing and the reference names a registry (or a Docker
Hub mirror is set), it is pulled, by digest when pinned or locked. See :mod:`.lock` for pinning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from traitlets import Bool, Dict, Float, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from workspace_launcher import __version__
from workspace_launcher.catalog.profiles import PACKAGED_IMAGES_DIR, SHARED_CONTEXTS, Profile
from workspace_launcher.engine import labels as engine_labels
from workspace_launcher.engine.build import loop_emitter, run_build
from workspace_launcher.engine.docker import DockerEngine
from workspace_launcher.engine.images import Image, inspect_image, list_images, pull
from workspace_launcher.errors import ConfigError, ImageBuildError
from workspace_launcher.images.contexts import CA_FILE, WHEELS_DIR, Entries, _hash_entries, _walk, context_hash
from workspace_launcher.images.pinning import (
    LABEL_BASE_DIGEST,
    LABEL_BASE_ID,
    LABEL_BASE_IMAGE,
    Lock,
    LockEntry,
    default_lock_path,
    read_lock,
)
from workspace_launcher.images.pinning import check_base as _pin_policy
from workspace_launcher.images.references import (
    is_image_id,
    local_candidates,
    parse_reference,
    pull_reference,
    registry_of,
    repo_digest,
)

log = logging.getLogger(__name__)

LABEL_PROFILE = engine_labels.IMAGE_PROFILE
LABEL_HASH = engine_labels.IMAGE_CONTEXT_HASH
LABEL_VERSION = engine_labels.IMAGE_VERSION
LABEL_ROLE = engine_labels.ROLE
ROLE_JUPYTER, ROLE_PROFILE = "jupyter-layer", "profile"

IMAGE_REPO_PREFIX = "workspace-launcher/"
JUPYTER_CONTEXT = "jupyter"
#: Never part of a build context: the declaration (editing a description must not rebuild).
_NOT_CONTEXT = {"profile.json"}
#: Where Debian/Ubuntu, Fedora/RHEL and Alpine/macOS keep the system CA store.
HOST_CA_STORES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")
_RESERVED = set(SHARED_CONTEXTS) | {"base"}

@dataclass(frozen=True)
class BuiltImage:
    """A profile image that exists in the engine (``built``: this call built it)."""

    tag: str
    image_id: str
    context_hash: str
    profile: str
    built: bool


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


class ImageBuilder(LoggingConfigurable):
    """Builds and finds workspace images; every blocking engine call runs in a thread."""

    base_image = Unicode(
        "workspace-launcher/base:bookworm",
        help="""The OS base image every profile builds FROM unless its profile.json names its
        own base_image: an image reference, a pinned one (name@sha256:...), or a local image id
        (sha256:..., e.g. a bootstrapped base). When the engine lacks it and the reference names
        its registry (or is a Docker Hub one and registry_mirror is set), it is pulled, by digest
        when pinned or locked. The default is made by `workspace-launcher images
        bootstrap-base` (debootstrap, no registry needed) and is never pulled.
        Example: c.ImageBuilder.base_image = "registry.example.org/debian@sha256:0123..." """,
    ).tag(config=True)

    build_args = Dict(
        help="""Build args per profile, over the profile's own (profile.json "build_args") and
        its Dockerfile's ARG defaults: {profile: {ARG: value}}. An empty string blanks an ARG
        (e.g. an extra package index a CI machine cannot reach). Changing them rebuilds that
        profile. Example: c.ImageBuilder.build_args = {"pytorch-cu126": {"EXTRA_INDEX_URL": "",
        "TORCH_VERSION": "2.13.0"}}""",
    ).tag(config=True)

    lock_file = Unicode(
        help="""The lock file recording the exact base image (digest) of each profile, written by
        `workspace-launcher images lock`; commit it next to jupyter_server_config.py. A base
        missing from the engine is pulled by its locked digest. Default:
        <jupyter config dir>/workspace_launcher.lock.json.
        Example: c.ImageBuilder.lock_file = "/etc/jupyter/workspace_launcher.lock.json" """,
    ).tag(config=True)

    require_pinned_images = Bool(
        False,
        help="""Refuse to build a profile whose base image is neither pinned by digest nor
        recorded in the lock file, or whose base now resolves to another digest than the lock
        file says (the fix: `workspace-launcher images lock`, or pin the base by digest).
        Default False: drift is only logged. Example: c.ImageBuilder.require_pinned_images = True""",
    ).tag(config=True)

    registry_mirror = Unicode(
        "",
        help="""A registry (host[:port]) that mirrors Docker Hub: Docker Hub base images
        (unqualified names like debian@sha256:..., or docker.io/...) are pulled from it, e.g.
        debian@sha256:x as MIRROR/library/debian@sha256:x. Empty (the default): Docker Hub
        references are pulled only when they say docker.io/ explicitly.
        Example: c.ImageBuilder.registry_mirror = "mirror.example.org:5000" """,
    ).tag(config=True)

    registry_credentials = Dict(
        help="""Credentials for pulling base images, by registry host (as in the reference, or
        the mirror's; "docker.io" for Docker Hub): {host: {"username": ..., "password": ...}}.
        Registries not listed use the engine host's docker login (~/.docker/config.json).
        Example: c.ImageBuilder.registry_credentials = {"registry.example.org":
        {"username": "ci", "password": "..."}}""",
    ).tag(config=True)

    extra_ca_bundle = Unicode(
        "",
        help="""A PEM file of CA certificates trusted during image builds (apt, pip, Python)
        and inside the built images, for sites behind a TLS-intercepting proxy. Empty (the
        default) means the host's system CA store when trust_host_ca is on. Changing its
        content rebuilds every image.
        Example: c.ImageBuilder.extra_ca_bundle = "/etc/pki/corp/root-ca.pem" """,
    ).tag(config=True)

    trust_host_ca = Bool(
        True,
        help="""Builds trust this host's system CA store (the first of
        /etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt,
        /etc/ssl/cert.pem that exists), so a site whose TLS-intercepting proxy is trusted by
        the host builds without configuration. Ignored when extra_ca_bundle names a bundle.
        False: builds trust only the images' own CAs. Default: True.""",
    ).tag(config=True)

    @property
    def build_ca_bundle(self) -> str:
        """The CA bundle builds trust: the admin's, else the host's store, else none ("")."""
        if self.extra_ca_bundle:
            return self.extra_ca_bundle
        if self.trust_host_ca:
            return next((p for p in HOST_CA_STORES if os.path.isfile(p)), "")
        return ""

    wheelhouse = Unicode(
        "",
        help="""A directory of Python wheels copied into every build context (as wheels/) and
        offered to every pip install with --find-links, so air-gapped sites can build without
        PyPI. Empty (the default) adds none. Changing its files rebuilds every image; a profile
        image keeps a copy of the wheels in one of its layers.
        Example: c.ImageBuilder.wheelhouse = "/opt/wheels" """,
    ).tag(config=True)

    jupyter_context = Unicode(
        help="""The build context of the shared Jupyter layer (a directory with a Dockerfile
        taking ARG BASE_IMAGE). Defaults to the 'jupyter' context shipped with the package.""",
    ).tag(config=True)

    build_timeout = Float(
        3600.0,
        help="""Seconds one image build may take (and may stay silent) before it is abandoned
        and reported as failed. Default 3600. Example: c.ImageBuilder.build_timeout = 7200""",
    ).tag(config=True)

    def __init__(self, *, engine: DockerEngine, **kwargs) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self._locks: dict[str, list] = {}
        self._lock_cache: tuple[tuple, Lock] | None = None

    @default("jupyter_context")
    def _default_jupyter_context(self) -> str:
        return str(PACKAGED_IMAGES_DIR / JUPYTER_CONTEXT)

    @default("lock_file")
    def _default_lock_file(self) -> str:
        return default_lock_path()

    @validate("base_image")
    def _check_base_image(self, proposal) -> str:
        value = proposal["value"]
        if not _valid_reference(value):
            raise ConfigError(
                f"ImageBuilder.base_image {value!r} is not an image reference; use e.g. "
                "'workspace-launcher/base:bookworm', 'name@sha256:<digest>' or an image id 'sha256:<id>'"
            )
        return value

    @validate("build_args")
    def _check_build_args(self, proposal) -> dict:
        value = proposal["value"]
        for profile, args in value.items():
            if not isinstance(args, dict) or not all(
                isinstance(k, str) and k and isinstance(v, (str, int, float)) for k, v in args.items()
            ):
                raise ConfigError(
                    f"ImageBuilder.build_args[{profile!r}] must map ARG names to strings, e.g. "
                    '{"pytorch-cu126": {"EXTRA_INDEX_URL": ""}}'
                )
        return {p: {k: str(v) for k, v in args.items()} for p, args in value.items()}

    @validate("lock_file")
    def _check_lock_file(self, proposal) -> str:
        value = proposal["value"]
        if not value:
            raise ConfigError("ImageBuilder.lock_file must be a file path, e.g. /etc/jupyter/workspace_launcher.lock.json")
        return os.path.abspath(os.path.expanduser(value))

    @validate("registry_mirror")
    def _check_registry_mirror(self, proposal) -> str:
        value = proposal["value"].strip().removeprefix("https://").removeprefix("http://").rstrip("/")
        if value and (not re.match(r"^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._/-]+)?$", value)):
            raise ConfigError(
                f"ImageBuilder.registry_mirror {proposal['value']!r} is not a registry host; use "
                "e.g. 'mirror.example.org' or '127.0.0.1:5000'"
            )
        return value

    @validate("registry_credentials")
    def _check_registry_credentials(self, proposal) -> dict:
        for host, creds in proposal["value"].items():
            if not isinstance(creds, dict) or not all(isinstance(creds.get(k), str) for k in ("username", "password")):
                raise ConfigError(
                    f"ImageBuilder.registry_credentials[{host!r}] must be a dict with 'username' and "
                    "'password' strings"
                )
        return proposal["value"]

    @validate("extra_ca_bundle")
    def _check_ca_bundle(self, proposal) -> str:
        value = proposal["value"]
        if not value:
            return ""
        path = os.path.abspath(os.path.expanduser(value))
        if not os.path.isfile(path):
            raise ConfigError(
                f"ImageBuilder.extra_ca_bundle {value!r} is not a file; point it at a PEM bundle "
                "(e.g. /etc/ssl/certs/ca-certificates.crt) or set it to '' to add no CA"
            )
        with open(path, "rb") as f:
            if b"-----BEGIN CERTIFICATE-----" not in f.read():
                raise ConfigError(
                    f"ImageBuilder.extra_ca_bundle {value!r} holds no PEM certificate "
                    "('-----BEGIN CERTIFICATE-----'); convert it with `openssl x509 -inform der`"
                )
        return path

    @validate("wheelhouse")
    def _check_wheelhouse(self, proposal) -> str:
        value = proposal["value"]
        if not value:
            return ""
        path = os.path.abspath(os.path.expanduser(value))
        if not os.path.isdir(path):
            raise ConfigError(
                f"ImageBuilder.wheelhouse {value!r} is not a directory; create it and put wheels "
                "in it (pip download/pip wheel -d DIR ...), or set it to '' for none"
            )
        return path

    @validate("jupyter_context")
    def _check_jupyter_context(self, proposal) -> str:
        value = proposal["value"]
        if not os.path.isfile(os.path.join(value, "Dockerfile")):
            raise ConfigError(f"ImageBuilder.jupyter_context {value!r} has no Dockerfile")
        return value

    @validate("build_timeout")
    def _check_build_timeout(self, proposal) -> float:
        if proposal["value"] <= 0:
            raise ConfigError("ImageBuilder.build_timeout must be a positive number of seconds")
        return proposal["value"]

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

    def profile_build_args(self, profile: Profile) -> dict[str, str]:
        """The build args a profile is built with: its declaration's, then the admin's."""
        return {**{k: str(v) for k, v in profile.build_args.items()}, **self.build_args.get(profile.name, {})}

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
            if pull_reference(ref, mirror) or locked:
                how = "it was pulled but the engine still does not show it"
            elif is_image_id(ref):
                how = "an image id cannot be pulled; load the image (docker load) or re-create it"
            else:
                how = ("its name has no registry, so it is not pulled; create it with `workspace-launcher "
                       "images bootstrap-base`, load it (docker load), name its registry "
                       "(registry.example.org/...), or set ImageBuilder.registry_mirror")
            raise BaseImageMissing(
                f"the base image {ref!r} is not in the Docker engine: {how}; or set "
                "ImageBuilder.base_image (or the profile's base_image) to an image the engine has"
            )
        digest = repo_digest(info.repo_digests, ref, mirror) or (
            repo_digest(info.repo_digests, locked, mirror) if locked else None)
        return ResolvedBase(ref, info.id, digest or info.id, pulled)

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

    async def check_base(self, profile: Profile, *, on_log: Callable[[str], None] | None = None) -> ResolvedBase:
        """Resolve the profile's base (pulling it if missing) and apply the pinning policy.

        Raises :class:`~workspace_launcher.images.pinning.UnpinnedBaseImage` or
        :class:`~workspace_launcher.images.pinning.BaseImageDrift` when ``require_pinned_images`` refuses
        it; with the setting off, drift is logged as a warning.
        """
        if profile.name in _RESERVED:
            raise ConfigError(f"profile name {profile.name!r} is reserved; rename the profile")
        base_ref = profile.base_image or self.base_image
        lock = self.lock()
        resolved = await self.resolve_base(base_ref, entry=lock.entry_for(profile.name, base_ref), on_log=on_log)
        warning = _pin_policy(profile.name, base_ref, resolved.digest, resolved.image_id, lock,
                             require=self.require_pinned_images, lock_path=self.lock_file)
        if warning:
            log.warning("%s", warning)
        return resolved

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
            if profile.name in _RESERVED:
                return None
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
            _pin_policy(profile.name, base_ref, digest, info.id, lock,
                       require=self.require_pinned_images, lock_path=self.lock_file)
        except (ImageBuildError, ConfigError):
            return None
        plan = await asyncio.to_thread(self._plan, profile, base_ref, info.id, digest)
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

    @contextlib.asynccontextmanager
    async def _exclusive(self, key: str):
        """One build per tag at a time in this process; the lock is dropped when unused."""
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(key, None)

    async def ensure(self, profile: Profile, *, on_log: Callable[[str], None] | None = None) -> BuiltImage:
        """The profile's image, building the Jupyter layer and the profile only if missing.

        ``on_log`` receives each build log line, called on the event loop.
        """
        emit = loop_emitter(on_log)
        plan = await self._make_plan(profile, on_log=emit)
        image_id = await self._lookup(plan.profile_tag, plan.profile_hash)
        if image_id is not None:
            return BuiltImage(plan.profile_tag, image_id, plan.profile_hash, profile.name, False)
        async with self._exclusive(plan.profile_tag):
            image_id = await self._lookup(plan.profile_tag, plan.profile_hash)
            if image_id is not None:  # built by a concurrent call while we waited
                return BuiltImage(plan.profile_tag, image_id, plan.profile_hash, profile.name, False)
            async with self._exclusive(plan.jupyter_tag):
                if await self._lookup(plan.jupyter_tag, plan.jupyter_hash) is None:
                    await asyncio.to_thread(
                        self._build, self.jupyter_context, tag=plan.jupyter_tag, args=plan.jupyter_args,
                        labels=self._labels(JUPYTER_CONTEXT, ROLE_JUPYTER, plan.jupyter_hash, plan),
                        what=f"the shared Jupyter layer for profile {profile.name!r}", emit=emit,
                    )
            image_id = await asyncio.to_thread(
                self._build, profile.context_dir, tag=plan.profile_tag, args=plan.profile_args,
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

    def _build(self, context_dir: str, *, tag: str, args: dict, labels: dict, what: str,
               emit: Callable[[str], None]) -> str:
        """Render and build one image (blocking; runs in a worker thread)."""
        with tempfile.TemporaryDirectory(prefix="wl-build-") as tmp:
            self.render_context(context_dir, Path(tmp))
            return run_build(self.engine.api, tmp, tag=tag, args=args, labels=labels, what=what, emit=emit,
                             timeout=self.build_timeout)


def _valid_reference(value: str) -> bool:
    if is_image_id(value):
        return True
    try:
        parse_reference(value)
    except ValueError:
        return False
    return True


__all__ = [
    "LABEL_BASE_DIGEST",
    "LABEL_BASE_ID",
    "LABEL_BASE_IMAGE",
    "BaseImageMissing",
    "BuiltImage",
    "ImageBuilder",
    "ResolvedBase",
    "context_hash",
]
