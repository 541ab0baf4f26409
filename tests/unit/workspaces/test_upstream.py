"""Choosing how the host reaches a workspace (the absolute-redirect check that depends on it is
in tests/unit/proxy/test_rules.py). The only system call is binding a socket to an address (to
tell whether it is local)."""

from __future__ import annotations

import logging

import pytest

from tests.unit.fakes import networked_container as attrs
from workspace_launcher.engine.objects import Container
from workspace_launcher.workspaces.upstream import RouteChooser, Upstream, is_local_address

LOG = logging.getLogger("wltest")
PREFIX = "/workspace-launcher/workspaces/abc123/"


def choose(route: str, container: Container) -> Upstream | None:
    return RouteChooser(route, LOG).upstream(container, base_url=PREFIX, token="t")


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
