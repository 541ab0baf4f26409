"""The workspace firewall on the real engine and this host's real iptables.

A plain container on the real workspace network (made, and its rules installed, by the
backend's ``ensure_network``, as a launch does), hardened like a workspace (uid 1000, no
capabilities), tries to reach a listener the test opens on 0.0.0.0 of this host, at every
address of the host, a port another container publishes on the host, and the metadata address;
every try must be refused at once. Meanwhile the internet still works from it (``pip install``
of a small package from the index), the host still reaches it (the proxy's direction), and a
container on the default bridge (where builds run) still reaches the host's listener.

The idempotence tests use a network, a bridge and chains of their own, so the suite's
workspaces stay protected while they install, refresh and remove rules.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests

from workspace_launcher.engine import firewall as fw
from workspace_launcher.engine import firewall_rules as fw_rules
from workspace_launcher.engine import spec as specs
from workspace_launcher.engine.docker import DockerBackend, DockerEngine

from .conftest import CA_BUNDLE

pytestmark = pytest.mark.integration

METADATA = "169.254.169.254"
CA_IN_CONTAINER = "/etc/wltest-ca.crt"
#: Seconds one connection attempt may take inside the container before it counts as a hang.
CONNECT_LIMIT = 5
#: A refusal by the rules comes back in milliseconds; anything near CONNECT_LIMIT is a hang.
FAST = 2000


@pytest.fixture(scope="module", autouse=True)
def root_and_iptables():
    if os.geteuid() != 0 or shutil.which("iptables") is None:
        pytest.skip("the workspace firewall needs root and iptables (the test command runs as root)")


def run(coro):
    return asyncio.run(coro)


class Listener:
    """A TCP server on 0.0.0.0 of this host, counting who connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.peers: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                continue
            self.peers.append(peer[0])
            with conn:
                conn.sendall(b"host-service\n")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def host_addresses() -> dict[str, str]:
    """Every IPv4 address of this host but loopback: interface -> address."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        fields = line.split()
        address = fields[3].split("/")[0]
        if not address.startswith("127."):
            found.setdefault(fields[1], address)
    return found


def docker0_address() -> str:
    """The default bridge's host address (builds and plain `docker run` containers use it)."""
    address = host_addresses().get("docker0")
    assert address, "no docker0 on this host"
    return address


PROBE = r"""
probe() {  # address port -> "address port verdict milliseconds"
  local start=$(date +%s%N) verdict
  if timeout CONNECT_LIMIT bash -c "exec 3<>/dev/tcp/$1/$2" 2>/tmp/probe.err; then verdict=open
  elif [ $? -eq 124 ]; then verdict=timeout
  elif grep -q "Connection refused" /tmp/probe.err; then verdict=refused
  else verdict="error:$(tail -1 /tmp/probe.err | tr ' ' _)"; fi
  echo "$1 $2 $verdict $(( ($(date +%s%N) - start) / 1000000 ))"
}
""".replace("CONNECT_LIMIT", str(CONNECT_LIMIT))


def probe(container, targets: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, int]]:
    script = PROBE + "\n".join(f"probe {address} {port}" for address, port in targets)
    code, out = container.exec_run(["bash", "-c", script], user="1000")
    assert code == 0, out
    results = {}
    for line in out.decode().split("\n"):
        if line.strip():
            address, port, verdict, ms = line.split()
            results[(address, int(port))] = (verdict, int(ms))
    assert len(results) == len(targets), out
    return results


def wait_http(url: str, timeout: float = 20.0) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, timeout=2)
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def protected(docker_client):
    """The real workspace network, its rules installed as a launch installs them."""
    backend = DockerBackend(DockerEngine())
    run(backend.ensure_network())
    attrs = docker_client.api.inspect_network(specs.NETWORK_NAME)
    policy = fw.policy_for(backend.network, attrs, resolv_conf=fw.read_resolv_conf(), is_host_address=fw.is_host_address)
    yield backend, attrs, policy
    backend.engine.close()


@pytest.fixture(scope="module")
def listener():
    server = Listener()
    yield server
    server.close()


def _container(docker_client, image: str, test_owner: str, **kwargs):
    name = f"wltest-fw-{secrets.token_hex(4)}"
    return docker_client.containers.run(
        image, ["sleep", "infinity"], name=name, detach=True,
        labels={specs.label("owner"): test_owner}, **kwargs,
    )


@pytest.fixture(scope="module")
def workspace_like(docker_client, minimal_image, test_owner, protected):
    """A container on the workspace network, hardened as a workspace is, with the host's CA
    bundle for the TLS-intercepting proxy in front of the package index."""
    volumes = {CA_BUNDLE: {"bind": CA_IN_CONTAINER, "mode": "ro"}} if os.path.isfile(CA_BUNDLE) else {}
    container = _container(
        docker_client, minimal_image.tag, test_owner, network=specs.NETWORK_NAME, user="1000", cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"], volumes=volumes,
        environment={"PIP_CERT": CA_IN_CONTAINER} if volumes else {},
    )
    try:
        container.reload()
        yield container
    finally:
        container.remove(force=True)


@pytest.fixture(scope="module")
def on_default_bridge(docker_client, minimal_image, test_owner):
    """A container on the default bridge (docker0, where builds run) serving HTTP on a port
    published on docker0's own host address: a host port forwarded to another container."""
    gateway = docker0_address()
    container = _container(docker_client, minimal_image.tag, test_owner, user="1000", cap_drop=["ALL"],
                           ports={"8000/tcp": (gateway, None)})
    try:
        container.exec_run(["python", "-m", "http.server", "8000", "--directory", "/tmp"], user="1000", detach=True)
        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"])
        yield container, gateway, port
    finally:
        container.remove(force=True)


# -- the product path: ensure_network installs the rules ------------------------------------
def test_ensure_network_installs_the_rules_once(protected):
    backend, attrs, policy = protected
    assert attrs["Name"] == specs.NETWORK_NAME and policy.interface == fw_rules.bridge_interface(attrs)
    assert backend.firewall.missing(policy) == []
    saved = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True, check=True).stdout
    assert saved.count(f"-A INPUT -j {fw_rules.CHAINS.input}") == 1
    assert saved.count(f"-A DOCKER-USER -j {fw_rules.CHAINS.forward}") == 1
    # A second launch's ensure_network reads the table and changes nothing.
    outcome = run(backend.protect_network(attrs))
    assert outcome.level == "ok" and outcome.applied == ()


def test_doctor_and_the_cli_see_the_rules_in_place(protected, session_config):
    from click.testing import CliRunner

    from workspace_launcher.admin.cli import main
    from workspace_launcher.admin.doctor import OK, evaluate, gather_facts
    from workspace_launcher.workspaces.manager import WorkspaceManager

    manager = WorkspaceManager(config=session_config)
    try:
        checks = {c.name: c for c in evaluate(asyncio.run(gather_facts(manager)))}
    finally:
        manager.engine.close()
    assert checks["workspace firewall"].level == OK, checks["workspace firewall"]
    assert "may not reach this host, 169.254.0.0/16" in checks["workspace firewall"].detail
    protected_ = CliRunner().invoke(main, ["network", "protect"])
    assert protected_.exit_code == 0 and "may not reach this host" in protected_.output, protected_.output
    shown = CliRunner().invoke(main, ["network", "show"])
    assert shown.exit_code == 0 and "in place: yes" in shown.output, shown.output
    assert f"-A INPUT -j {fw_rules.CHAINS.input}" in shown.output


# -- what a workspace cannot reach -------------------------------------------------------------
def test_a_workspace_reaches_no_address_of_the_host(workspace_like, listener):
    gateway = workspace_like.attrs["NetworkSettings"]["Networks"][specs.NETWORK_NAME]["Gateway"]
    addresses = {gateway, docker0_address(), *host_addresses().values()}
    results = probe(workspace_like, [(a, listener.port) for a in sorted(addresses)])
    assert listener.peers == [], f"the host listener was reached: {listener.peers}"
    for (address, _), (verdict, ms) in results.items():
        assert verdict == "refused" and ms < FAST, f"{address}: {verdict} after {ms} ms"
    # Not only the listener's port: any port of the host (its ssh, Docker's API on TCP...).
    (verdict, ms), = probe(workspace_like, [(gateway, 22)]).values()
    assert verdict == "refused" and ms < FAST


def test_a_workspace_reaches_no_port_the_host_publishes_for_another_container(workspace_like, on_default_bridge):
    _, docker0, port = on_default_bridge
    assert wait_http(f"http://{docker0}:{port}/").status_code == 200  # the port works, from the host
    (verdict, ms), = probe(workspace_like, [(docker0, port)]).values()
    assert verdict == "refused" and ms < FAST


def test_a_workspace_reaches_no_metadata_address(workspace_like):
    results = probe(workspace_like, [(METADATA, 80), (METADATA, 443), ("169.254.1.1", 80)])
    for target, (verdict, ms) in results.items():
        assert verdict == "refused" and ms < FAST, f"{target}: {verdict} after {ms} ms"


# -- what still works ---------------------------------------------------------------------------
def test_the_internet_still_works_pip_install_from_the_index(workspace_like):
    # Names resolve inside the container's own namespace (Docker's embedded DNS), not on the host.
    code, out = workspace_like.exec_run(["cat", "/etc/resolv.conf"])
    assert re.findall(r"^nameserver (\S+)", out.decode(), re.M) == ["127.0.0.11"]
    code, out = workspace_like.exec_run(
        ["bash", "-c", "timeout 240 pip install --no-cache-dir --no-deps --target /tmp/wltest-pkgs iniconfig "
                       "&& PYTHONPATH=/tmp/wltest-pkgs python -c 'import iniconfig; print(iniconfig.__name__)'"],
        user="1000",
    )
    assert code == 0, out.decode()[-2000:]
    assert "Successfully installed iniconfig" in out.decode() and out.decode().strip().endswith("iniconfig")


def test_the_host_still_reaches_the_workspace(workspace_like):
    """The proxy's direction: host -> workspace, whose replies the rules let through."""
    workspace_like.exec_run(["python", "-m", "http.server", "8000", "--directory", "/tmp"], user="1000", detach=True)
    address = workspace_like.attrs["NetworkSettings"]["Networks"][specs.NETWORK_NAME]["IPAddress"]
    assert wait_http(f"http://{address}:8000/").status_code == 200


def test_the_default_bridge_where_builds_run_still_reaches_the_host(on_default_bridge, listener):
    container, docker0, _ = on_default_bridge
    before = len(listener.peers)
    (verdict, _), = probe(container, [(docker0, listener.port)]).values()
    assert verdict == "open" and len(listener.peers) == before + 1


# -- idempotence, on a network and chains of the test's own -----------------------------------
@pytest.fixture
def own_network(docker_client, test_owner):
    tag = secrets.token_hex(3)
    spec = specs.network_spec(name=f"wltest-fw-{tag}", bridge_name=f"wlt-{tag}")
    spec["labels"] = {specs.label("owner"): test_owner}
    network = docker_client.networks.create(**spec)
    chains = fw_rules.Chains(input=f"WLTEST-{tag}-IN", forward=f"WLTEST-{tag}-FWD")
    firewall = fw.Firewall(chains)
    try:
        yield network.attrs, firewall
    finally:
        firewall.remove()
        network.remove()


def iptables_S(chain: str) -> list[str]:
    result = subprocess.run(["iptables", "-S", chain], capture_output=True, text=True)
    return [line for line in result.stdout.splitlines() if line.startswith("-A")] if result.returncode == 0 else []


def jumps(chains: fw_rules.Chains) -> tuple[int, int]:
    saved = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True, check=True).stdout
    return saved.count(f"-A INPUT -j {chains.input}\n"), saved.count(f"-A DOCKER-USER -j {chains.forward}\n")


def test_applying_twice_installs_once_and_new_settings_refresh_in_place(own_network):
    attrs, firewall = own_network
    chains = firewall.chains
    settings = fw.WorkspaceNetwork()
    policy = fw.policy_for(settings, attrs, resolv_conf=fw.read_resolv_conf(), is_host_address=fw.is_host_address)
    assert policy.interface == attrs["Options"]["com.docker.network.bridge.name"]
    assert firewall.sync(policy)  # installed
    # iptables prints exactly the rules the pure functions computed (what doctor compares).
    assert iptables_S(chains.input) == fw_rules.input_rules(policy, chains)
    assert iptables_S(chains.forward) == fw_rules.forward_rules(policy, chains)
    first = (iptables_S(chains.input), iptables_S(chains.forward), jumps(chains))
    assert first[2] == (1, 1)
    assert firewall.sync(policy) == []  # again: nothing run, nothing duplicated
    assert (iptables_S(chains.input), iptables_S(chains.forward), jumps(chains)) == first

    wider = fw.policy_for(fw.WorkspaceNetwork(blocked_ranges=["198.51.100.0/24"]), attrs)
    steps = firewall.sync(wider)
    assert len(steps) == 1 and steps[0].startswith("iptables-restore")  # the chains replaced, atomically
    assert iptables_S(chains.forward) == fw_rules.forward_rules(wider, chains) and jumps(chains) == (1, 1)


def test_removing_takes_everything_out_and_twice_is_harmless(own_network):
    attrs, firewall = own_network
    chains = firewall.chains
    firewall.sync(fw.policy_for(fw.WorkspaceNetwork(), attrs))
    docker_user_before = [r for r in iptables_S("DOCKER-USER") if chains.forward not in r]
    assert firewall.remove()
    assert iptables_S(chains.input) == [] and iptables_S(chains.forward) == [] and jumps(chains) == (0, 0)
    assert iptables_S("DOCKER-USER") == docker_user_before  # Docker's own rules stay
    assert firewall.remove() == []


def test_an_internal_network_reaches_nothing_outside_and_fails_fast(docker_client, minimal_image, test_owner):
    tag = secrets.token_hex(3)
    spec = specs.network_spec(name=f"wltest-fw-int-{tag}", bridge_name=f"wlti-{tag}", internal=True)
    spec["labels"] = {specs.label("owner"): test_owner}
    network = docker_client.networks.create(**spec)
    firewall = fw.Firewall(fw_rules.Chains(input=f"WLTEST-{tag}-IN", forward=f"WLTEST-{tag}-FWD"))
    container = None
    try:
        attrs = docker_client.api.inspect_network(network.id)
        assert attrs["Internal"] is True
        policy = fw.policy_for(fw.WorkspaceNetwork(), attrs)
        assert policy.internal and firewall.sync(policy)
        container = _container(docker_client, minimal_image.tag, test_owner, network=network.name, user="1000",
                               cap_drop=["ALL"])
        index = socket.gethostbyname("pypi.org")
        gateway = attrs["IPAM"]["Config"][0]["Gateway"]
        for target, (verdict, ms) in probe(container, [(index, 443), ("1.1.1.1", 53), (gateway, 22)]).items():
            assert verdict == "refused" and ms < FAST, (target, verdict, ms)  # Docker alone: a DROP, a hang
    finally:
        if container is not None:
            container.remove(force=True)
        firewall.remove()
        network.remove()
