"""Choosing how the host reaches a workspace, and the absolute-redirect check that depends on
it. The only system call is binding a socket to an address (to tell whether it is local)."""

from __future__ import annotations

import logging

import pytest

from workspace_launcher.engine.objects import Container, network_gateway_of
from workspace_launcher.proxy.rules import rewrite_location
from workspace_launcher.workspaces.upstream import RouteChooser, Upstream, is_local_address

LOG = logging.getLogger("wltest")
PREFIX = "/workspace-launcher/workspaces/abc123/"


def attrs(address: str | None = "172.18.0.5", port: str | None = "32801", network: str = "workspace-launcher",
          gateway: str = "192.0.2.1") -> Container:
    """A container as the engine describes it; the default gateway (TEST-NET-1) is on no
    interface of this host."""
    networks = {network: {"IPAddress": address or "", "Gateway": gateway}}
    ports = {"8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": port}] if port else None}
    return Container.from_attrs({"NetworkSettings": {"Networks": networks, "Ports": ports}})


def choose(route: str, container: Container) -> Upstream | None:
    return RouteChooser(route, LOG).upstream(container, base_url=PREFIX, token="t")


def test_network_address_and_gateway_only_on_the_workspace_network():
    assert attrs().address == "172.18.0.5"
    assert attrs().gateway == "192.0.2.1"
    assert attrs(network="bridge").address is None
    assert attrs(network="bridge").gateway is None
    assert attrs(address=None).address is None  # stopped: attached, no address
    assert Container.from_attrs({}).address is None
    # The network's own attrs (from the engine's network inspect): its IPv4 pool's gateway.
    ipam = {"IPAM": {"Config": [{"Subnet": "fd00::/64", "Gateway": "fd00::1"}, {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]}}
    assert network_gateway_of(ipam) == "172.18.0.1"


LOOPBACK = Upstream("127.0.0.1", 32801, PREFIX, "t")
NETWORK = Upstream("172.18.0.5", 8888, PREFIX, "t")


def test_fixed_routes():
    assert choose("published-port", attrs()) == LOOPBACK
    assert choose("network", attrs()) == NETWORK


def test_each_route_falls_back_to_the_other_for_older_containers():
    # Made under the other setting: a network-route container has no port, and the reverse.
    assert choose("network", attrs(address="172.18.0.5", port=None)) == NETWORK
    assert choose("network", attrs(address=None)) == LOOPBACK
    # The network only when this host is on it (its gateway is one of the host's addresses).
    assert choose("published-port", attrs(port=None)) is None
    assert choose("published-port", attrs(port=None, gateway="127.0.0.1")) == NETWORK


def test_auto_follows_whether_the_gateway_is_local():
    assert choose("auto", attrs(gateway="127.0.0.1")) == NETWORK
    assert choose("auto", attrs()) == LOOPBACK
    assert choose("auto", attrs(address=None, port=None)) is None


def test_auto_decides_once_per_process():
    chooser = RouteChooser("auto", LOG)
    assert chooser.uses_network(None) is False  # nothing to go by yet: undecided
    assert chooser.uses_network("127.0.0.1") is True
    assert chooser.uses_network("192.0.2.1") is True  # decided
    assert RouteChooser("published-port", LOG).uses_network("127.0.0.1") is False


def test_local_addresses():
    assert is_local_address("127.0.0.1")
    assert not is_local_address("192.0.2.1")


def test_unknown_route_is_refused():
    with pytest.raises(ValueError, match="not one of auto, network, published-port"):
        RouteChooser("host-network", LOG)


def test_upstream_urls():
    upstream = Upstream("172.18.0.5", 8888, PREFIX, "t")
    assert upstream.origin == "http://172.18.0.5:8888"
    assert str(upstream.url(PREFIX + "api/kernels?x=%2F", "ws")) == "ws://172.18.0.5:8888" + PREFIX + "api/kernels?x=%2F"
    assert upstream.is_self("172.18.0.5", 8888)
    assert not upstream.is_self("localhost", 8888)
    loopback = Upstream("127.0.0.1", 32801, PREFIX, "t")
    assert loopback.is_self("localhost", 32801) and loopback.is_self("127.0.0.1", 32801)
    assert not loopback.is_self("127.0.0.1", 8888)


@pytest.mark.parametrize("upstream", [Upstream("172.18.0.5", 8888, PREFIX, "t"), Upstream("127.0.0.1", 32801, PREFIX, "t")])
def test_absolute_redirects_to_the_upstream_become_paths(upstream):
    absolute = f"http://{upstream.host}:{upstream.port}{PREFIX}lab?reset"
    assert rewrite_location(absolute, prefix=PREFIX, upstream=upstream, request_path=PREFIX) == PREFIX + "lab?reset"
    other_port = f"http://{upstream.host}:1{PREFIX}lab"
    assert rewrite_location(other_port, prefix=PREFIX, upstream=upstream, request_path=PREFIX) == PREFIX
    elsewhere = f"http://evil.example{PREFIX}lab"
    assert rewrite_location(elsewhere, prefix=PREFIX, upstream=upstream, request_path=PREFIX) == PREFIX
    leaving = "../../other/"
    assert rewrite_location(leaving, prefix=PREFIX, upstream=upstream, request_path=PREFIX + "tree/") == PREFIX


def test_only_a_loopback_port_counts_as_published():
    def ports(host_ip: str) -> dict:
        return {"NetworkSettings": {"Ports": {"8888/tcp": [{"HostIp": host_ip, "HostPort": "32801"}]}}}

    assert Container.from_attrs(ports("127.0.0.1")).published_port == 32801
    assert Container.from_attrs(ports("0.0.0.0")).published_port is None  # never used, even if someone published it so
    assert Container.from_attrs({"NetworkSettings": {"Ports": {"8888/tcp": None}}}).published_port is None
