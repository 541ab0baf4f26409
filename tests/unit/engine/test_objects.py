"""Typed readers of the engine's objects (``engine/objects.py``): where a container is on the
workspace network and which of its ports counts as published."""

from __future__ import annotations

from tests.unit.fakes import networked_container as attrs
from workspace_launcher.engine.objects import Container, network_gateway_of


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


def test_only_a_loopback_port_counts_as_published():
    def ports(host_ip: str) -> dict:
        return {"NetworkSettings": {"Ports": {"8888/tcp": [{"HostIp": host_ip, "HostPort": "32801"}]}}}

    assert Container.from_attrs(ports("127.0.0.1")).published_port == 32801
    assert Container.from_attrs(ports("0.0.0.0")).published_port is None  # never used, even if someone published it so
    assert Container.from_attrs({"NetworkSettings": {"Ports": {"8888/tcp": None}}}).published_port is None
