"""A launch request, validated: every field checked against the admin's policy before any side
effect. Pure: the profiles, datasets and GPU policy it reads are the admin's catalog, not the
engine's state (whether GPUs are free now is the reservation's question, not this one's).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from workspace_launcher.catalog.datasets import DatasetCatalog
from workspace_launcher.catalog.profiles import Profile, ProfileRegistry
from workspace_launcher.engine import spec as specs
from workspace_launcher.errors import InvalidRequest
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


def resource_limits(profile: Profile, policy: LaunchPolicy, *, cpus: object, memory: object,
                    shm_size: object) -> specs.Limits:
    """CPU, memory, /dev/shm and process limits of a launch, as the engine will read them."""
    max_cpus = policy.max_cpus or policy.host_cpus
    cpus_value = parse_cpus(cpus, available=max_cpus) if cpus is not None else (policy.default_cpus or None)
    memory_value = memory if memory is not None else (policy.default_memory or None)
    memory_bytes = parse_size(memory_value, field="memory") if memory_value is not None else None
    if memory_bytes and memory_bytes < MIN_MEMORY:
        raise InvalidRequest("memory is below the engine's minimum of 6 MiB; write e.g. '512m'", field="memory")
    if memory_bytes and policy.max_memory and memory_bytes > parse_size(policy.max_memory, field="max_memory"):
        raise InvalidRequest(f"memory is above the admin's limit of {policy.max_memory}", field="memory")
    shm = parse_size(shm_size if shm_size is not None else profile.default_shm_size, field="shm_size")
    max_shm = parse_size(policy.max_shm_size, field="max_shm_size") if policy.max_shm_size else policy.host_memory // 2
    if shm > max_shm:
        limit = policy.max_shm_size or f"{max_shm // 1024**2}m (half of this host's memory)"
        raise InvalidRequest(f"shm_size is above the admin's limit of {limit}", field="shm_size")
    if memory_bytes and shm > memory_bytes:
        raise InvalidRequest("shm_size cannot be larger than memory", field="shm_size")
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
    naming the field to fix."""
    if unknown := sorted(set(fields) - set(LAUNCH_FIELDS)):
        raise InvalidRequest(f"unknown fields {unknown}; allowed: {sorted(LAUNCH_FIELDS)}", field=unknown[0])
    owner_slug(owner)
    chosen = profiles.get(fields.get("profile"))
    gpu_request = parse_gpu_request(fields.get("gpus", 0))
    # A dry selection with nothing taken catches "more than exist", unknown ids and policy.
    allocator.select(gpu_request, {}, vendor=chosen.gpu_vendor)
    mounts = tuple(datasets.resolve(fields.get("datasets")))
    workspace_id = secrets.token_hex(6)
    name = fields.get("name")
    name = validate_name(name, field="name") if name is not None else f"{chosen.name}-{workspace_id[:6]}"
    limits = resource_limits(chosen, policy, cpus=fields.get("cpus"), memory=fields.get("memory"),
                             shm_size=fields.get("shm_size"))
    snapshot = fields.get("snapshot")
    if snapshot is not None:
        validate_image_reference(snapshot, field="snapshot")
    open_demo = fields.get("open_demo", False)
    if not isinstance(open_demo, bool):
        raise InvalidRequest("open_demo must be true or false", field="open_demo")
    demo_notebook = demo_of(chosen, profiles) if open_demo else ""
    environment = launch_environment(deterministic=fields.get("deterministic", False), seed=fields.get("seed", 0),
                                     env=fields.get("env"), allowed=policy.allowed_env)
    return LaunchRequest(workspace_id, owner, name, chosen, gpu_request, mounts, limits, snapshot, demo_notebook, environment)

