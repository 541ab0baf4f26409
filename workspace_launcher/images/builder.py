"""The ImageBuilder: the admin's image settings, their help and their checks.

``ImageBuilder`` is what ``jupyter_server_config.py`` configures (``c.ImageBuilder.<name>``):
the OS base image, build args, the lock file and pinning policy, the registry mirror and
credentials, the CA bundle and wheelhouse builds trust and use, the Jupyter layer's context and
the build timeout. Each setting is checked when it is set, so a mistake is refused at start-up
with the fix. What it does with them it inherits: base-image resolution and pinning from
:mod:`workspace_launcher.images.base_images`, rendering, planning and building from
:mod:`workspace_launcher.images.pipeline` (see there for how images are content-addressed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from traitlets import Bool, Dict, Float, Unicode, default, validate

from workspace_launcher.catalog.profiles import PACKAGED_IMAGES_DIR
from workspace_launcher.errors import ConfigError
from workspace_launcher.images.build_history import BuildHistory
from workspace_launcher.images.pinning import default_lock_path
from workspace_launcher.images.pipeline import JUPYTER_CONTEXT, ImagePipeline
from workspace_launcher.images.references import is_image_id, parse_reference

#: Where Debian/Ubuntu, Fedora/RHEL and Alpine/macOS keep the system CA store.
HOST_CA_STORES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")


class ImageBuilder(ImagePipeline):
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

    build_history_file = Unicode(
        help="""JSON file where the duration and image size of each context's last build are
        kept: a launch that must build says beforehand roughly how long it takes and how large
        it is, and its progress bar keeps that pace. Default: workspace-launcher-builds.json in
        the Jupyter data directory.
        Example: c.ImageBuilder.build_history_file = "/var/lib/workspace-launcher/builds.json"
        """,
    ).tag(config=True)

    @default("build_history_file")
    def _default_build_history_file(self) -> str:
        from jupyter_core.paths import jupyter_data_dir

        return os.path.join(jupyter_data_dir(), "workspace-launcher-builds.json")

    @property
    def history(self) -> BuildHistory:
        """The last build of each context (read fresh each time: other servers may build too)."""
        return BuildHistory(self.build_history_file)

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
        path = _configured_path(proposal["value"], os.path.isfile, "ImageBuilder.extra_ca_bundle {!r} is not a file; "
                                "point it at a PEM bundle (e.g. /etc/ssl/certs/ca-certificates.crt) or set it to '' "
                                "to add no CA")
        if path:
            with open(path, "rb") as f:
                if b"-----BEGIN CERTIFICATE-----" not in f.read():
                    raise ConfigError(
                        f"ImageBuilder.extra_ca_bundle {proposal['value']!r} holds no PEM certificate "
                        "('-----BEGIN CERTIFICATE-----'); convert it with `openssl x509 -inform der`"
                    )
        return path

    @validate("wheelhouse")
    def _check_wheelhouse(self, proposal) -> str:
        return _configured_path(proposal["value"], os.path.isdir, "ImageBuilder.wheelhouse {!r} is not a directory; "
                                "create it and put wheels in it (pip download/pip wheel -d DIR ...), or set it to '' "
                                "for none")

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


def _valid_reference(value: str) -> bool:
    if is_image_id(value):
        return True
    try:
        parse_reference(value)
    except ValueError:
        return False
    return True


__all__ = ["HOST_CA_STORES", "ImageBuilder"]


def _configured_path(value: str, exists: Callable[[str], bool], missing: str) -> str:
    """An admin's path setting made absolute ('' stays '': none); ``missing`` says what to fix."""
    if not value:
        return ""
    path = os.path.abspath(os.path.expanduser(value))
    if not exists(path):
        raise ConfigError(missing.format(value))
    return path
