"""Where the host reaches a workspace's Jupyter: at its address on the workspace network, or at a
port the engine publishes on 127.0.0.1.

The network route is both faster and tighter. Faster: a published loopback port is relayed by
the engine's userland proxy (``docker-proxy``), one more process copying every byte. Tighter:
for a published port, Docker (20.10, as Debian 12 ships it) also accepts forwarded traffic to the
container's address from any interface, so a machine on the host's LAN that routes the bridge subnet through
the host could reach it; a port that is not published gets no such rule. So on the network route
nothing is published at all. It needs the bridge to be an interface of this host, which it is for
a rootful engine on Linux; rootless engines and Docker Desktop keep the bridge elsewhere, and
there the port is published on 127.0.0.1 only.
"""

from __future__ import annotations

import errno
import logging
import socket
from dataclasses import dataclass

from yarl import URL

from workspace_launcher.engine.labels import JUPYTER_PORT
from workspace_launcher.engine.objects import Container

ROUTES = ("auto", "network", "published-port")


@dataclass(frozen=True)
class Upstream:
    """A running workspace's Jupyter as the host reaches it."""

    host: str
    port: int
    base_url: str
    token: str
    #: Which start of the container this is (its StartedAt): a session is good for one start only.
    generation: str = ""

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str, scheme: str = "http") -> URL:
        """``path`` (already percent-encoded, starting with the base URL) on this upstream."""
        return URL(f"{scheme}://{self.host}:{self.port}{path}", encoded=True)

    def is_self(self, hostname: str | None, port: int | None) -> bool:
        """Whether an absolute URL's host and port point back at this upstream."""
        hosts = {self.host} | ({"localhost"} if self.host == "127.0.0.1" else set())
        return hostname in hosts and port == self.port


def is_local_address(address: str) -> bool:
    """Whether ``address`` belongs to one of this host's interfaces: binding to it succeeds only
    then, instantly and without sending anything."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
    except OSError as e:
        if e.errno in (errno.EADDRNOTAVAIL, errno.EINVAL):
            return False
        raise
    return True


class RouteChooser:
    """Applies the admin's ``upstream_route``. Whether this host is on the workspace network is
    learnt once per process, from the first gateway seen: ``auto`` follows it, and either route
    falls back to the other for containers made under another setting."""

    def __init__(self, route: str, log: logging.Logger) -> None:
        if route not in ROUTES:
            raise ValueError(f"upstream route {route!r} is not one of {', '.join(ROUTES)}")
        self.route = route
        self.log = log
        self._host_on_network: bool | None = None

    def host_on_network(self, gateway: str | None) -> bool:
        """Whether this host is on the workspace network whose gateway is ``gateway``."""
        if self._host_on_network is None and gateway:
            self._host_on_network = is_local_address(gateway)
            self.log.info("this host is %son the workspace network (gateway %s)",
                          "" if self._host_on_network else "not ", gateway)
        return bool(self._host_on_network)

    def uses_network(self, gateway: str | None) -> bool:
        """Whether workspaces are reached on the network (and so launched without a published
        port); ``gateway`` is the workspace network's."""
        if self.route == "auto":
            return self.host_on_network(gateway)
        return self.route == "network"

    def upstream(self, container: Container, *, base_url: str, token: str) -> Upstream | None:
        """How to reach ``container``; ``None`` while it offers no way in."""
        address, port, gateway = container.address, container.published_port, container.gateway
        generation = container.started_at
        by_network = Upstream(address, JUPYTER_PORT, base_url, token, generation) if address else None
        by_port = Upstream("127.0.0.1", port, base_url, token, generation) if port else None
        if self.uses_network(gateway):
            return by_network or by_port
        return by_port or (by_network if self.host_on_network(gateway) else None)
