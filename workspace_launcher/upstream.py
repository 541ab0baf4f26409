"""Where the host reaches a running workspace's Jupyter: its address on the workspace network, or
the port the engine published on 127.0.0.1.

Both stay inside the host: the workspace network is a bridge with no inbound route from outside
and inter-container traffic off, and the published port is bound to loopback only. The network
address is the faster of the two: a published loopback port is relayed by the engine's userland
proxy (``docker-proxy``), one more process copying every byte. Hosts whose bridge the host cannot
route to (rootless engines, Docker Desktop) use the published port.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from yarl import URL

from .backends import spec as specs
from .backends.docker import published_port

#: How long the one-off reachability check of the workspace network waits for a TCP answer.
PROBE_TIMEOUT = 1.0
ROUTES = ("auto", "network", "published-port")
#: connect() errors that mean "no way there", as opposed to "there, but nothing listening".
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM}


@dataclass(frozen=True)
class Upstream:
    """A running workspace's Jupyter as the host reaches it."""

    host: str
    port: int
    base_url: str
    token: str

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


def network_address(attrs: Mapping) -> str | None:
    """The workspace's IPv4 address on the workspace network, if it is attached and running."""
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return (networks.get(specs.NETWORK_NAME) or {}).get("IPAddress") or None


async def reachable(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether this host can open TCP connections to ``host``; a refusal counts as reachable
    (something answered), a timeout or an unreachable route does not."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except ConnectionRefusedError:
        return True
    except asyncio.TimeoutError:
        return False
    except OSError as e:
        if e.errno in _UNREACHABLE:
            return False
        raise
    writer.close()
    return True


class RouteChooser:
    """Picks the route for each workspace by the admin's ``upstream_route`` setting; in ``auto``
    the first running workspace decides once, for this process, whether the network is reachable."""

    def __init__(self, route: str, log: logging.Logger) -> None:
        if route not in ROUTES:
            raise ValueError(f"upstream route {route!r} is not one of {', '.join(ROUTES)}")
        self.route = route
        self.log = log
        self._network_reachable: bool | None = {"network": True, "published-port": False}.get(route)

    async def upstream(self, attrs: Mapping, *, base_url: str, token: str) -> Upstream | None:
        """How to reach the container ``attrs`` describes; ``None`` when it offers no route."""
        address = network_address(attrs)
        if address and self._network_reachable is None:
            try:
                self._network_reachable = await reachable(address, specs.JUPYTER_PORT)
            except OSError as e:  # an odd error: try again with the next workspace
                self.log.warning("cannot tell whether the workspace network is reachable: %s", e)
                address = None
            else:
                self.log.info(
                    "workspaces are reached %s",
                    "on the workspace network" if self._network_reachable else "through their published loopback ports",
                )
        if address and self._network_reachable:
            return Upstream(address, specs.JUPYTER_PORT, base_url, token)
        if self.route == "network":
            return None
        port = published_port(attrs)
        return Upstream("127.0.0.1", port, base_url, token) if port else None
