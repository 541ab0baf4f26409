"""Choosing how the host reaches a workspace (without probing: the fixed routes), and the
absolute-redirect check that depends on it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from workspace_launcher.proxy import rewrite_location
from workspace_launcher.upstream import RouteChooser, Upstream, network_address

LOG = logging.getLogger("wltest")
PREFIX = "/workspace-launcher/workspaces/abc123/"


def attrs(address: str | None = "172.18.0.5", port: str | None = "32801", network: str = "workspace-launcher") -> dict:
    networks = {network: {"IPAddress": address or ""}}
    ports = {"8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": port}] if port else None}
    return {"NetworkSettings": {"Networks": networks, "Ports": ports}}


def choose(route: str, container: dict) -> Upstream | None:
    return asyncio.run(RouteChooser(route, LOG).upstream(container, base_url=PREFIX, token="t"))


def test_network_address_only_on_the_workspace_network():
    assert network_address(attrs()) == "172.18.0.5"
    assert network_address(attrs(network="bridge")) is None
    assert network_address(attrs(address=None)) is None  # stopped: attached, no address
    assert network_address({}) is None


def test_fixed_routes():
    assert choose("published-port", attrs()) == Upstream("127.0.0.1", 32801, PREFIX, "t")
    assert choose("network", attrs()) == Upstream("172.18.0.5", 8888, PREFIX, "t")


def test_no_route_means_not_running():
    assert choose("published-port", attrs(port=None)) is None
    assert choose("network", attrs(address=None)) is None  # no fallback when the admin chose it
    assert choose("auto", attrs(address=None, port=None)) is None


def test_auto_without_an_address_uses_the_port_without_probing():
    assert choose("auto", attrs(address=None)) == Upstream("127.0.0.1", 32801, PREFIX, "t")


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
