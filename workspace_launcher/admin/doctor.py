"""Host checks for `workspace-launcher doctor`: each a line ok/warn/fail with the fix.

The checks are pure functions of facts gathered once (engine info, GPU inventory, images
present, disk space), so they are tested without a host that has those problems.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from workspace_launcher.engine.firewall import (
    FIX_MISSING,
    FIX_NOT_PERMITTED,
    Firewall,
    FirewallUnavailable,
    WorkspaceNetwork,
    bridge_on_this_host,
    engine_is_local,
    is_host_address,
    policy_for,
    read_resolv_conf,
)
from workspace_launcher.engine.objects import EngineFacts, network_gateway_of
from workspace_launcher.engine.spec import NETWORK_NAME
from workspace_launcher.gpus.model import Gpu
from workspace_launcher.workspaces.upstream import is_local_address

OK, WARN, FAIL = "ok", "warn", "fail"
GIB = 1024**3


@dataclass(frozen=True)
class Check:
    name: str
    level: str
    detail: str
    fix: str = ""


@dataclass
class FirewallFacts:
    """The workspace network's firewall rules (engine/firewall_rules.py) as the doctor found them."""

    interface: str = ""  # the workspace bridge the rules match
    network_exists: bool = True
    on_this_host: bool = True  # a local engine whose bridge is in this host's network stack
    refused: list[str] = field(default_factory=list)  # what the settings keep workspaces from; [] = nothing
    missing: list[str] = field(default_factory=list)  # wanted rules not in place
    error: str | None = None  # the firewall could not be read
    error_reason: str = ""  # "missing" (no iptables), "not-permitted" (not root), "failed"
    internal_wanted: bool = False
    internal_actual: bool | None = None  # None: no network yet


@dataclass
class HostFacts:
    """What the doctor looked at; gathered by :func:`gather_facts` or made up by a test."""

    engine_error: str | None = None
    engine: EngineFacts = field(default_factory=EngineFacts)
    gpus: list[Gpu] = field(default_factory=list)
    gpu_source: str = "none"
    amd_kfd: bool = False
    base_images: dict[str, bool] = field(default_factory=dict)  # reference -> present
    disk_free_bytes: int | None = None
    upstream_route: str = "auto"
    network_gateway: str | None = None  # None: the workspace network does not exist yet
    gateway_is_local: bool = False
    firewall: FirewallFacts | None = None  # None: not looked at


def check_engine(facts: HostFacts) -> Check:
    if facts.engine_error:
        return Check(
            "engine", FAIL, f"Docker engine not reachable: {facts.engine_error}",
            "install it (apt-get install docker.io) and start it (systemctl start docker, or dockerd &)",
        )
    return Check("engine", OK, f"Docker {facts.engine.version} (API {facts.engine.api_version})")


def check_nvidia_runtime(facts: HostFacts) -> Check:
    nvidia_gpus = [g for g in facts.gpus if g.vendor == "nvidia"]
    if facts.engine.nvidia_runtime:  # the rule launches follow: runtime, hook or CDI specs
        return Check("nvidia runtime", OK, f"NVIDIA container runtime present ({facts.engine.nvidia_runtime})")
    if nvidia_gpus:
        return Check(
            "nvidia runtime", FAIL,
            f"{len(nvidia_gpus)} NVIDIA GPU(s) seen but the engine has no NVIDIA container runtime",
            "install nvidia-container-toolkit, run 'nvidia-ctk runtime configure --runtime=docker' "
            "and restart the engine",
        )
    return Check(
        "nvidia runtime", WARN, "no NVIDIA container runtime: NVIDIA GPU workspaces cannot start",
        "on a GPU host install nvidia-container-toolkit; CPU workspaces work without it",
    )


def check_amd(facts: HostFacts) -> Check:
    amd = [g for g in facts.gpus if g.vendor == "amd"]
    if amd and facts.amd_kfd:
        return Check("amd runtime", OK, f"/dev/kfd present, {len(amd)} AMD GPU(s)")
    if amd:
        return Check("amd runtime", FAIL, "AMD GPUs seen but /dev/kfd is missing", "load the amdgpu driver (ROCm)")
    return Check("amd runtime", OK, "no AMD GPUs (nothing needed)")


def check_gpus(facts: HostFacts) -> Check:
    if not facts.gpus:
        return Check(
            "gpus", WARN, "no GPUs seen (NVML, nvidia-smi and ROCm found none)",
            "on a GPU host install the driver; or declare them in GpuInventory.declared_gpus",
        )
    names = ", ".join(f"{g.index}: {g.name} ({g.memory_mib} MiB)" for g in facts.gpus)
    return Check("gpus", OK, f"{len(facts.gpus)} GPU(s) via {facts.gpu_source}: {names}")


def check_base_images(facts: HostFacts) -> list[Check]:
    checks = []
    for reference, present in sorted(facts.base_images.items()):
        if present:
            checks.append(Check("base image", OK, f"{reference} present"))
        else:
            checks.append(Check(
                "base image", FAIL, f"{reference} missing",
                "run 'workspace-launcher images bootstrap-base' (no registry needed), or pull it",
            ))
    return checks


def check_disk(facts: HostFacts) -> Check:
    free = facts.disk_free_bytes
    if free is None:
        return Check("disk", WARN, "could not read the engine's free disk space", "check 'docker system df'")
    detail = f"{free / GIB:.1f} GiB free for images and volumes"
    if free < 5 * GIB:
        return Check("disk", FAIL, detail, "free space: 'docker image prune', or grow the disk")
    if free < 20 * GIB:
        return Check("disk", WARN, detail, "framework images take 5-15 GiB each; consider freeing space")
    return Check("disk", OK, detail)


def check_route(facts: HostFacts) -> Check:
    """How the proxy will reach workspaces (WorkspaceManager.upstream_route, see upstream.py)."""
    route, gateway = facts.upstream_route, facts.network_gateway
    if gateway is None:
        return Check("workspace route", OK, f"upstream_route {route!r}; the workspace network is made at the first launch")
    if facts.gateway_is_local and route in ("auto", "network"):
        return Check("workspace route", OK, f"on the workspace network (gateway {gateway}); no port is published")
    if facts.gateway_is_local:
        return Check(
            "workspace route", WARN, f"ports published on 127.0.0.1, though this host is on the workspace network ({gateway})",
            "set WorkspaceManager.upstream_route = 'auto': no published port, no forwarding rule, no docker-proxy",
        )
    if route == "network":
        return Check(
            "workspace route", FAIL, f"upstream_route is 'network' but this host is not on it (gateway {gateway} is not a host address)",
            "set WorkspaceManager.upstream_route = 'auto' (or 'published-port'), e.g. for a rootless engine",
        )
    return Check("workspace route", OK, f"ports published on 127.0.0.1 (this host is not on the network {gateway})")


PROTECT = ("run 'sudo workspace-launcher network protect' (the host server also installs them at every launch "
           "when it runs as root)")
EXPOSED = "workspaces can reach this host's services and the metadata address 169.254.169.254"


def check_firewall(facts: FirewallFacts) -> list[Check]:
    """Whether workspaces are kept off this host, the metadata address and the blocked ranges."""
    name, exposed = "workspace firewall", EXPOSED
    checks = []
    if facts.internal_actual is not None and facts.internal_actual != facts.internal_wanted:
        checks.append(Check(
            "workspace network", WARN,
            f"the network exists with internal={facts.internal_actual}, WorkspaceNetwork.internal is {facts.internal_wanted}",
            f"with no workspace running: 'docker network rm {NETWORK_NAME}' (the next launch recreates it)",
        ))
    if not facts.on_this_host:
        checks.append(Check(
            name, WARN, f"the workspace network's bridge ({facts.interface}) is not on this host (remote or rootless "
            "engine): its rules cannot be checked or installed from here",
            "on the engine's host, run 'sudo workspace-launcher network protect' (README, Network isolation)",
        ))
    elif not facts.refused:
        checks.append(Check(
            name, WARN, f"off (WorkspaceNetwork.protect_host is False, no blocked_ranges): {exposed}",
            "set c.WorkspaceNetwork.protect_host = True",
        ))
    elif facts.error_reason == "missing":
        checks.append(Check(name, WARN, f"iptables is not installed: {exposed}", FIX_MISSING))
    elif facts.error_reason == "not-permitted":
        checks.append(Check(
            name, WARN, "cannot read the firewall without root: the rules were not checked",
            f"run 'sudo workspace-launcher doctor' to check them; {FIX_NOT_PERMITTED}",
        ))
    elif facts.error:
        checks.append(Check(name, WARN, f"could not read the firewall: {facts.error}", PROTECT))
    elif facts.missing:
        where = (f"on {facts.interface}" if facts.network_exists
                 else f"(the network, bridge {facts.interface}, is made at the first launch)")
        checks.append(Check(
            name, WARN, f"{len(facts.missing)} rule(s) not in place {where}: {exposed}; first: {facts.missing[0]}",
            PROTECT,
        ))
    else:
        checks.append(Check(name, OK, f"workspaces on {facts.interface} may not reach {', '.join(facts.refused)}"))
    return checks


def evaluate(facts: HostFacts) -> list[Check]:
    checks = [check_engine(facts)]
    if facts.engine_error is None:
        checks.append(check_nvidia_runtime(facts))
    checks += [check_amd(facts), check_gpus(facts)]
    if facts.engine_error is None:
        checks += check_base_images(facts) + [check_disk(facts), check_route(facts)]
        if facts.firewall is not None:
            checks += check_firewall(facts.firewall)
    return checks


def gather_firewall(settings: WorkspaceNetwork, network_attrs: dict | None, *, engine_url: str,
                    firewall: Firewall | None = None) -> FirewallFacts:
    """Read this host's firewall against the settings (``network_attrs`` None: no network yet)."""
    attrs = network_attrs or {"Id": "", "Options": {"com.docker.network.bridge.name": settings.bridge_name}}
    policy = policy_for(settings, attrs, resolv_conf=read_resolv_conf(), is_host_address=is_host_address)
    refused = (["this host"] if policy.protect_host else []) + list(policy.refused_ranges)
    facts = FirewallFacts(
        interface=policy.interface, network_exists=network_attrs is not None,
        refused=refused + (["anything beyond this host (internal network)"] if policy.internal else []),
        internal_wanted=settings.internal,
        internal_actual=None if network_attrs is None else bool(network_attrs.get("Internal")),
    )
    facts.on_this_host = engine_is_local(engine_url) and (
        network_attrs is None or bridge_on_this_host(policy.interface))
    if facts.on_this_host and policy.blocks_anything:
        try:
            facts.missing = (firewall or Firewall()).missing(policy)
        except FirewallUnavailable as e:
            facts.error, facts.error_reason = e.message, e.reason
    return facts


async def gather_facts(manager) -> HostFacts:
    """Read the host once. ``manager`` is a WorkspaceManager (its engine, inventory, profiles)."""
    facts = HostFacts()
    facts.gpus = manager.inventory.gpus()
    facts.gpu_source = manager.inventory.source
    facts.amd_kfd = os.path.exists("/dev/kfd")
    backend = manager.backend
    try:
        facts.engine = await backend.facts()
    except Exception as e:  # any failure here is the finding
        facts.engine_error = str(e)
        return facts
    references = {p.base_image or manager.builder.base_image for p in manager.profiles.all().values()}
    for reference in references:
        try:
            facts.base_images[reference] = await backend.image_present(reference)
        except Exception:
            facts.base_images[reference] = False
    facts.upstream_route = manager.upstream_route
    network = await backend.network_description()  # None: the first launch makes it
    facts.network_gateway = network_gateway_of(network) if network else None
    facts.gateway_is_local = bool(facts.network_gateway) and is_local_address(facts.network_gateway)
    facts.firewall = gather_firewall(WorkspaceNetwork(parent=manager), network, engine_url=backend.engine_url)
    try:
        facts.disk_free_bytes = shutil.disk_usage(facts.engine.root_dir).free
    except OSError:
        facts.disk_free_bytes = None
    return facts
