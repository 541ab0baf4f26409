"""The broker's server as shipped: what it serves and the systemd unit it ships with."""

from __future__ import annotations

import configparser
from pathlib import Path

from workspace_launcher.broker import server
from workspace_launcher.broker.auth import BrokerAuthorizer, PeerIdentityProvider
from workspace_launcher.broker.server import DEFAULT_SOCKET, BrokerServer

UNIT = Path(server.__file__).with_name("workspace-launcher-broker.service")


def test_none_of_jupyter_servers_own_services_and_no_other_extension():
    app = BrokerServer()
    assert BrokerServer.default_services == ()
    app.find_server_extensions()
    assert app.jpserver_extensions == {"workspace_launcher": True}
    assert app.identity_provider_class is PeerIdentityProvider and app.authorizer_class is BrokerAuthorizer
    assert app.sock == DEFAULT_SOCKET and app.sock_mode == "0666"


def test_the_unit_runs_the_broker_on_the_default_socket_in_a_root_owned_directory():
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert "workspace-launcher broker" in service["ExecStart"]
    assert f"--ServerApp.sock={DEFAULT_SOCKET}" in service["ExecStart"]
    assert service["RuntimeDirectory"] == Path(DEFAULT_SOCKET).parent.name
    assert service["RuntimeDirectoryMode"] == "0755" and service["NoNewPrivileges"] == "true"
    assert "docker.service" in unit["Unit"]["Requires"]
