"""The engine's objects as the launcher reads them: typed, read once from the engine's description.

Everything above ``engine/`` sees these, never an engine's raw dict, so a second engine (Swarm
tasks, a broker's answers) implements the same few fields. :meth:`Container.from_attrs` is the
one reader of Docker's container description; :func:`network_gateway_of` of its network's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from workspace_launcher.engine import labels as L

#: Engine states in which a container keeps what it was given (its GPUs) from others.
HOLDING_STATES = ("created", "running", "restarting", "paused")


@dataclass(frozen=True)
class Container:
    """One workspace container: identity, labels, state, and how it can be reached."""

    id: str
    labels: Mapping[str, str]
    #: created | restarting | running | paused | removing | exited | dead
    state: str
    env: Mapping[str, str] = field(default_factory=dict)
    image: str = ""
    #: The engine's creation time, ISO 8601 (nanoseconds on Docker).
    created: str = ""
    started_at: str = ""
    exit_code: int | None = None
    oom_killed: bool = False
    error: str = ""
    #: The memory limit in bytes; 0: none.
    memory_limit: int = 0
    #: IPv4 address and gateway on the workspace network, while attached.
    address: str | None = None
    gateway: str | None = None
    #: The loopback port the engine published for Jupyter, if any.
    published_port: int | None = None
    #: Host directories mounted into it: (host path, path in the container).
    binds: tuple[tuple[str, str], ...] = ()

    @property
    def workspace_id(self) -> str | None:
        return self.labels.get(L.MANAGED_LABEL) or None

    @property
    def owner(self) -> str:
        return self.labels.get(L.label("owner"), "")

    @property
    def created_epoch(self) -> float:
        """The creation time in seconds since the epoch (0 when unreadable)."""
        # The engine writes nanoseconds, which fromisoformat refuses: keep seconds.
        match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", self.created)
        if not match:
            return 0.0
        return datetime.fromisoformat(match.group(1)).replace(tzinfo=timezone.utc).timestamp()

    @classmethod
    def from_attrs(cls, attrs: Mapping, *, network: str = L.NETWORK_NAME, port: int = L.JUPYTER_PORT) -> Container:
        """Read Docker's ``inspect`` description of a container."""
        config = attrs.get("Config") or {}
        state = attrs.get("State") or {}
        settings = attrs.get("NetworkSettings") or {}
        on_network = (settings.get("Networks") or {}).get(network) or {}
        exit_code = state.get("ExitCode")
        return cls(
            id=attrs.get("Id", ""),
            labels=dict(config.get("Labels") or {}),
            state=state.get("Status", ""),
            env=dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item),
            image=config.get("Image", ""),
            created=str(attrs.get("Created") or ""),
            started_at=state.get("StartedAt") or "",
            exit_code=exit_code if isinstance(exit_code, int) else None,
            oom_killed=bool(state.get("OOMKilled")),
            error=state.get("Error") or "",
            memory_limit=(attrs.get("HostConfig") or {}).get("Memory") or 0,
            address=on_network.get("IPAddress") or None,
            gateway=on_network.get("Gateway") or None,
            published_port=_loopback_port(settings.get("Ports") or {}, port),
            binds=tuple((m.get("Source", ""), m.get("Destination", ""))
                        for m in attrs.get("Mounts") or [] if m.get("Type") == "bind"),
        )


def _loopback_port(ports: Mapping, port: int) -> int | None:
    for binding in ports.get(f"{port}/tcp") or []:
        if binding.get("HostIp") == "127.0.0.1" and binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


@dataclass(frozen=True)
class Volume:
    """A named volume and its labels."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    created: str = ""

    @classmethod
    def from_attrs(cls, attrs: Mapping) -> Volume:
        return cls(name=attrs["Name"], labels=dict(attrs.get("Labels") or {}), created=attrs.get("CreatedAt") or "")


@dataclass(frozen=True)
class Network:
    """The workspace network: its name and the IPv4 gateway its containers route through."""

    name: str
    gateway: str | None = None

    @classmethod
    def from_attrs(cls, attrs: Mapping) -> Network:
        return cls(name=attrs.get("Name", ""), gateway=network_gateway_of(attrs))


def network_gateway_of(attrs: Mapping) -> str | None:
    """The IPv4 gateway of a Docker network description."""
    for pool in (attrs.get("IPAM") or {}).get("Config") or []:
        if pool.get("Gateway") and ":" not in pool["Gateway"]:
            return pool["Gateway"]
    return None


@dataclass(frozen=True)
class EngineFacts:
    """What an engine says about itself, for ``doctor`` and the launch checks."""

    version: str = "?"
    api_version: str = "?"
    #: Where its image and container storage lives (its disk fills first).
    root_dir: str = "/var/lib/docker"
    #: How it hands NVIDIA GPUs to containers: "runtime nvidia", "hook <path>", "CDI <spec>",
    #: or None when it cannot.
    nvidia_runtime: str | None = None
