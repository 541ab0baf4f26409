"""A launch request, validated: every field checked against the admin's policy before any side
effect. Pure: the profiles, datasets and GPU policy it reads are the admin's catalog, not the
engine's state (whether GPUs are free now is the reservation's question, not this one's).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from workspace_launcher.catalog.datasets import DatasetCatalog
from workspace_launcher.catalog.profiles import Profile, ProfileRegistry
from workspace_launcher.engine import spec as specs
from workspace_launcher.errors import InvalidFields, InvalidRequest
from workspace_launcher.gpus.allocator import GpuAllocator
from workspace_launcher.gpus.model import GpuRequest
from workspace_launcher.gpus.request import parse_gpu_request
from workspace_launcher.workspaces.environment import launch_environment
from workspace_launcher.workspaces.validation import (
    owner_slug,
    parse_cpus,
    parse_size,
    validate_image_reference,
    validate_name,
)

#: The fields of a launch, as the REST body, the CLI and the widget send them (openapi.json's
#: LaunchRequest; tests check the two agree).
LAUNCH_FIELDS = ("profile", "gpus", "datasets", "name", "cpus", "memory", "shm_size", "snapshot", "open_demo",
                 "deterministic", "seed", "env")
T = TypeVar("T")

#: The engine refuses memory limits below 6 MiB.
MIN_MEMORY = 6 * 1024**2


@dataclass(frozen=True)
class LaunchRequest:
    """A launch whose input has been validated; running it has no validation left to fail."""

    workspace_id: str
    owner: str
    name: str
    profile: Profile
    gpus: GpuRequest
    datasets: tuple[specs.DatasetMount, ...]
    limits: specs.Limits
    snapshot: str | None = None
    #: The profile's demo notebook when the launch asked to open it, else "".
    demo_notebook: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    #: When the launch was asked for: the workspace's creation time, before and after its build.
    created: str = ""


@dataclass(frozen=True)
class LaunchPolicy:
    """The admin's limits on what one launch may ask for (``WorkspaceManager``'s settings)."""

    default_cpus: float = 0.0
    max_cpus: float = 0.0
    default_memory: str = ""
    max_memory: str = ""
    max_shm_size: str = ""
    pids_limit: int = 4096
    allowed_env: tuple[str, ...] = ()
    #: This host's CPUs and memory: the ceilings when the admin sets none.
    host_cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    host_memory: int = field(default_factory=lambda: host_memory())


def host_memory() -> int:
    """Bytes of physical memory on this host."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class FieldErrors:
    """Runs a request's field checks and keeps every error, so one answer names them all."""

    def __init__(self) -> None:
        self.errors: list[InvalidRequest] = []

    def check(self, validate: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``validate(*args, **kwargs)``, or None after noting its InvalidRequest."""
        try:
            return validate(*args, **kwargs)
        except InvalidRequest as e:
            self.errors.append(e)
            return None

    def raise_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise InvalidFields(self.errors)


def cpu_limit(policy: LaunchPolicy, cpus: object) -> float | None:
    """The CPUs a launch may use (None: no limit)."""
    max_cpus = policy.max_cpus or policy.host_cpus
    return parse_cpus(cpus, available=max_cpus) if cpus is not None else (policy.default_cpus or None)


def memory_limit(policy: LaunchPolicy, memory: object) -> int | None:
    """The memory limit of a launch in bytes (None: no limit)."""
    memory_value = memory if memory is not None else (policy.default_memory or None)
    memory_bytes = parse_size(memory_value, field="memory") if memory_value is not None else None
    if memory_bytes and memory_bytes < MIN_MEMORY:
        raise InvalidRequest("memory is below the engine's minimum of 6 MiB; write e.g. '512m'", field="memory")
    if memory_bytes and policy.max_memory and memory_bytes > parse_size(policy.max_memory, field="max_memory"):
        raise InvalidRequest(f"memory is above the admin's limit of {policy.max_memory}", field="memory")
    return memory_bytes


def shm_limit(profile: Profile, policy: LaunchPolicy, shm_size: object, memory_bytes: int | None) -> int:
    """The size of a launch's /dev/shm in bytes (the profile's default unless asked)."""
    shm = parse_size(shm_size if shm_size is not None else profile.default_shm_size, field="shm_size")
    max_shm = parse_size(policy.max_shm_size, field="max_shm_size") if policy.max_shm_size else policy.host_memory // 2
    if shm > max_shm:
        limit = policy.max_shm_size or f"{max_shm // 1024**2}m (half of this host's memory)"
        raise InvalidRequest(f"shm_size is above the admin's limit of {limit}", field="shm_size")
    if memory_bytes and shm > memory_bytes:
        raise InvalidRequest("shm_size cannot be larger than memory", field="shm_size")
    return shm


def resource_limits(found: FieldErrors, profile: Profile, policy: LaunchPolicy, *, cpus: object, memory: object,
                    shm_size: object) -> specs.Limits | None:
    """CPU, memory, /dev/shm and process limits of a launch, as the engine will read them; None
    once ``found`` noted an error in any of them. The shm check waits for a valid memory."""
    before = len(found.errors)
    cpus_value = found.check(cpu_limit, policy, cpus)
    after_cpus = len(found.errors)
    memory_bytes = found.check(memory_limit, policy, memory)
    memory_valid = len(found.errors) == after_cpus  # shm is judged against a valid memory only
    shm = found.check(shm_limit, profile, policy, shm_size, memory_bytes) if memory_valid else None
    if len(found.errors) > before:
        return None
    return specs.Limits(cpus=cpus_value, memory=memory_bytes, shm_size=shm, pids=policy.pids_limit or None)


def demo_of(profile: Profile, profiles: ProfileRegistry) -> str:
    """The notebook "open the demo" opens for ``profile``, or a 400 naming the profiles with one
    (a demo written for another framework fails at its first cell)."""
    if profile.demo:
        return profile.demo
    with_demo = sorted(p.name for p in profiles.all().values() if p.demo)
    raise InvalidRequest(
        f"profile {profile.name!r} ({profile.framework}) has no demo notebook; launch without open_demo, "
        f"or pick a profile with one: {', '.join(with_demo) or 'none here'}",
        field="open_demo",
    )


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_open_demo(value: object, profile: Profile | None, profiles: ProfileRegistry) -> str:
    """The demo notebook a launch opens ("" for none)."""
    if not isinstance(value, bool):
        raise InvalidRequest("open_demo must be true or false", field="open_demo")
    return demo_of(profile, profiles) if value and profile is not None else ""


def validate_launch(
    fields: Mapping[str, object],
    *,
    owner: str,
    policy: LaunchPolicy,
    profiles: ProfileRegistry,
    datasets: DatasetCatalog,
    allocator: GpuAllocator,
) -> LaunchRequest:
    """Check a launch's ``fields`` (those of :data:`LAUNCH_FIELDS`); raises InvalidRequest
    naming the field to fix, or InvalidFields naming each wrong field. Checks that need the
    profile are skipped while the profile itself is wrong."""
    if unknown := sorted(set(fields) - set(LAUNCH_FIELDS)):
        raise InvalidRequest(f"unknown fields {unknown}; allowed: {sorted(LAUNCH_FIELDS)}", field=unknown[0])
    owner_slug(owner)
    found = FieldErrors()
    chosen = found.check(profiles.get, fields.get("profile"))
    gpu_request = found.check(parse_gpu_request, fields.get("gpus", 0))
    if chosen is not None and gpu_request is not None:
        # A dry selection with nothing taken catches "more than exist", unknown ids and policy.
        found.check(allocator.select, gpu_request, {}, vendor=chosen.gpu_vendor)
    mounts = found.check(datasets.resolve, fields.get("datasets"))
    name = fields.get("name")
    if name is not None:
        name = found.check(validate_name, name, field="name")
    limits = None
    if chosen is not None:
        limits = resource_limits(found, chosen, policy, cpus=fields.get("cpus"), memory=fields.get("memory"),
                                 shm_size=fields.get("shm_size"))
    snapshot = fields.get("snapshot")
    if snapshot is not None:
        found.check(validate_image_reference, snapshot, field="snapshot")
    demo_notebook = found.check(check_open_demo, fields.get("open_demo", False), chosen, profiles)
    environment = found.check(launch_environment, deterministic=fields.get("deterministic", False),
                              seed=fields.get("seed", 0), env=fields.get("env"), allowed=policy.allowed_env)
    found.raise_any()
    assert chosen and gpu_request and mounts is not None and limits and demo_notebook is not None and environment is not None
    workspace_id = secrets.token_hex(6)
    return LaunchRequest(workspace_id, owner, name or f"{chosen.name}-{workspace_id[:6]}", chosen, gpu_request,
                         tuple(mounts), limits, snapshot, demo_notebook, environment, created=now_iso())

