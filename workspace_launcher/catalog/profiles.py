"""Profiles: what a workspace image contains, declared as data next to its Dockerfile.

A profile is a directory under ``images/`` (or under an admin's own directory) holding a
``Dockerfile`` and a ``profile.json`` declaration. Admins add profiles from
``jupyter_server_config.py`` without touching the package, and restrict which ones users get.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from traitlets import Dict, List, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from workspace_launcher.errors import ConfigError, InvalidRequest, NotFound
from workspace_launcher.workspaces.validation import parse_size, validate_name

#: The directory of build contexts shipped with the package (``images/`` in the source tree).
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
PACKAGED_IMAGES_DIR = _PACKAGE_DIR / "_images"
if not PACKAGED_IMAGES_DIR.is_dir():  # running from a source checkout
    PACKAGED_IMAGES_DIR = _PACKAGE_DIR.parent / "images"

#: Shared build contexts that are not profiles.
SHARED_CONTEXTS = ("jupyter",)


@dataclass(frozen=True)
class Profile:
    """One kind of workspace: a build context plus what the UI and policy need to know."""

    name: str
    display_name: str
    context_dir: str
    framework: str = "none"
    cuda_version: str | None = None
    gpu_vendor: str | None = None
    description: str = ""
    #: Image reference of the OS base; ``None`` means ``ImageBuilder.base_image``.
    base_image: str | None = None
    #: Shared memory a workspace gets unless the launch asks otherwise (PyTorch loaders need it).
    default_shm_size: str = "1g"
    build_args: dict[str, str] = field(default_factory=dict)
    #: The notebook, relative to the work directory, that "open the demo" opens; None: no demo.
    demo: str | None = None
    #: Roughly what a first build takes, ``{"minutes": 12, "size": "9g"}``, said before a launch
    #: builds until a build on this host measures it.
    build_estimate: dict | None = None

    def __post_init__(self) -> None:
        if self.demo is not None and not _is_relative_notebook(self.demo):
            raise ConfigError(f"profile {self.name!r}: demo {self.demo!r} must be a relative path to "
                              "a .ipynb file, e.g. 'object-detection-train.ipynb'")
        if self.build_estimate is not None and not _is_estimate(self.build_estimate):
            raise ConfigError(f"profile {self.name!r}: build_estimate {self.build_estimate!r} must be "
                              '{"minutes": <a positive number>, "size": <a size such as "9g">}')

    def stated_build(self) -> tuple[float, int] | None:
        """(seconds, bytes) of the profile's stated build estimate, or None."""
        if not self.build_estimate:
            return None
        return float(self.build_estimate["minutes"]) * 60, parse_size(self.build_estimate["size"], field="build_estimate")

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "framework": self.framework,
            "cuda_version": self.cuda_version,
            "gpu_vendor": self.gpu_vendor,
            "description": self.description,
            "base_image": self.base_image,
            "demo": self.demo,
        }


def _is_relative_notebook(path: object) -> bool:
    parts = path.split("/") if isinstance(path, str) else []
    return bool(parts) and path.endswith(".ipynb") and all(p not in ("", ".", "..") for p in parts)


def _is_estimate(value: object) -> bool:
    if not isinstance(value, dict) or set(value) != {"minutes", "size"}:
        return False
    minutes = value["minutes"]
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes > 0:
        return False
    try:
        parse_size(value["size"], field="build_estimate")
    except InvalidRequest:
        return False
    return True


_PROFILE_KEYS = {f for f in Profile.__dataclass_fields__ if f not in ("name", "context_dir")}


def profile_from_declaration(name: str, declaration: dict, *, context_dir: str) -> Profile:
    """Build a :class:`Profile` from its JSON/dict declaration, rejecting unknown keys."""
    validate_name(name, field="profile")
    unknown = set(declaration) - _PROFILE_KEYS - {"name"}
    if unknown:
        raise ConfigError(
            f"profile {name!r} has unknown keys {sorted(unknown)}; allowed keys: {sorted(_PROFILE_KEYS)}"
        )
    if not os.path.isfile(os.path.join(context_dir, "Dockerfile")):
        raise ConfigError(f"profile {name!r}: {context_dir!r} has no Dockerfile")
    values = {k: v for k, v in declaration.items() if k != "name"}
    values.setdefault("display_name", name)
    return Profile(name=name, context_dir=str(context_dir), **values)


def load_profile_dir(path: str | os.PathLike) -> Profile:
    """Read ``profile.json`` from a profile's build-context directory."""
    path = Path(path)
    try:
        declaration = json.loads((path / "profile.json").read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {path / 'profile.json'}: {e}") from e
    return profile_from_declaration(declaration.get("name", path.name), declaration, context_dir=str(path))


def discover_profiles(images_dir: str | os.PathLike) -> dict[str, Profile]:
    """Every directory under ``images_dir`` that has a ``profile.json``."""
    found = {}
    for child in sorted(Path(images_dir).iterdir()):
        if child.name not in SHARED_CONTEXTS and (child / "profile.json").is_file():
            profile = load_profile_dir(child)
            found[profile.name] = profile
    return found


class ProfileRegistry(LoggingConfigurable):
    """The profiles users may launch, and the admin's additions and restrictions."""

    extra_profiles = Dict(
        help="""Profiles added by the admin, by name. Each value is either the path of a
        directory holding a Dockerfile and a profile.json, or a dict with the profile's keys
        (display_name, framework, cuda_version, gpu_vendor, description, base_image,
        default_shm_size, build_args, demo, build_estimate) plus "context_dir", the directory with its Dockerfile.
        A name equal to a packaged profile replaces it. "demo" names the notebook, relative to
        the work directory (where WorkspaceManager.demo_dir is copied), that "open the demo"
        opens; a profile without it offers no demo. "build_estimate" ({"minutes": 12,
        "size": "9g"}) is what a launch says a first build takes, until one is measured here.
        Example: c.ProfileRegistry.extra_profiles = {"jax": "/srv/launcher/profiles/jax"}""",
    ).tag(config=True)

    allowed_profiles = List(
        Unicode(),
        help="""Names of the profiles users may launch. Empty (the default) allows every
        packaged and extra profile. Example: ["minimal", "pytorch"]""",
    ).tag(config=True)

    images_dir = Unicode(
        help="""Directory of packaged build contexts (one sub-directory per profile plus the
        shared 'jupyter' layer). Defaults to the images shipped with the package.""",
    ).tag(config=True)

    @default("images_dir")
    def _default_images_dir(self) -> str:
        return str(PACKAGED_IMAGES_DIR)

    @validate("extra_profiles")
    def _check_extra_profiles(self, proposal):
        for name, value in proposal["value"].items():
            self._load_extra(name, value)  # raises ConfigError with the fix
        return proposal["value"]

    @staticmethod
    def _load_extra(name: str, value) -> Profile:
        if isinstance(value, str):
            return load_profile_dir(value)
        if isinstance(value, dict) and "context_dir" in value:
            declaration = {k: v for k, v in value.items() if k != "context_dir"}
            return profile_from_declaration(name, declaration, context_dir=value["context_dir"])
        raise ConfigError(
            f"ProfileRegistry.extra_profiles[{name!r}] must be a directory path or a dict with "
            "a 'context_dir' key"
        )

    def all(self) -> dict[str, Profile]:
        """Every profile users may launch, by name."""
        profiles = discover_profiles(self.images_dir)
        for name, value in self.extra_profiles.items():
            profiles[name] = self._load_extra(name, value)
        if self.allowed_profiles:
            profiles = {n: p for n, p in profiles.items() if n in self.allowed_profiles}
        return profiles

    def get(self, name: object) -> Profile:
        """The named profile, or a 400 saying which profiles exist."""
        if not isinstance(name, str) or not name:
            raise InvalidRequest("profile is required: name one of the profiles", field="profile")
        profiles = self.all()
        if name not in profiles:
            raise InvalidRequest(
                f"unknown profile {name!r}; available profiles: {', '.join(sorted(profiles)) or 'none'}",
                field="profile",
            )
        return profiles[name]


__all__ = ["Profile", "ProfileRegistry", "NotFound", "discover_profiles", "load_profile_dir"]
