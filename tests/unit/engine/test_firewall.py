"""The workspace network's settings, the policy they make, the host checks, and the thin part
that runs iptables (``engine/firewall.py``), with a fake iptables: no root, no engine."""

from __future__ import annotations

import subprocess

import pytest
from traitlets import TraitError
from traitlets.config import Config

from tests.unit.engine.fakes import DOCKER_TABLE, FWD, IN, applied, policy
from workspace_launcher.engine import firewall as fw
from workspace_launcher.engine.firewall_rules import Policy, forward_rules, input_rules, parse_save, plan, restore_input


# -- settings and the policy they make -------------------------------------------------------------
def test_blocked_ranges_are_validated_and_normalized():
    settings = fw.WorkspaceNetwork(blocked_ranges=["10.0.0.0/8", " 192.168.1.7/24", "203.0.113.9"])
    assert settings.blocked_ranges == ["10.0.0.0/8", "192.168.1.0/24", "203.0.113.9/32"]
    with pytest.raises(TraitError, match="not an IPv4 network"):
        fw.WorkspaceNetwork(blocked_ranges=["the LAN"])
    with pytest.raises(TraitError, match="IPv4 only"):
        fw.WorkspaceNetwork(blocked_ranges=["fd00::/8"])


def test_settings_defaults_and_config():
    settings = fw.WorkspaceNetwork()
    assert (settings.protect_host, settings.blocked_ranges, settings.internal, settings.bridge_name) == (
        True, [], False, "wl-workspaces")
    config = Config()
    config.WorkspaceNetwork.blocked_ranges = ["192.168.0.0/16"]
    config.WorkspaceNetwork.internal = True
    settings = fw.WorkspaceNetwork(config=config)
    assert settings.blocked_ranges == ["192.168.0.0/16"] and settings.internal
    with pytest.raises(TraitError, match="bridge_name"):
        fw.WorkspaceNetwork(bridge_name="a-name-far-too-long")


def test_policy_from_settings_attrs_and_resolv_conf():
    settings = fw.WorkspaceNetwork(blocked_ranges=["10.0.0.0/8"])
    attrs = {"Id": "17f986a8ccf7a0b1", "Options": {}}
    resolv = "# comment\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver fd00::53\nnameserver 192.0.2.2\n"
    p = fw.policy_for(settings, attrs, resolv_conf=resolv, is_host_address=lambda a: a == "192.0.2.2")
    assert p == Policy(interface="br-17f986a8ccf7", protect_host=True, blocked_ranges=("10.0.0.0/8",),
                       nameservers=("10.255.255.53", "192.0.2.2"), host_nameservers=("192.0.2.2",))


def test_the_policy_follows_an_internal_network():
    assert fw.policy_for(fw.WorkspaceNetwork(), {"Id": "0" * 12, "Internal": True}).internal


# -- host checks, and protect ---------------------------------------------------------------------
def test_only_a_unix_socket_engine_is_local():
    assert fw.engine_is_local("http+docker://localhost")
    assert not fw.engine_is_local("http://10.0.0.5:2375")
    assert not fw.engine_is_local("https://engine.example.org:2376")
    assert not fw.engine_is_local("http+docker://ssh")


def test_a_remote_engine_is_skipped_without_running_iptables():
    never = fw.Firewall(run=lambda *a, **k: pytest.fail("iptables run for a remote engine"))
    outcome = fw.protect(fw.WorkspaceNetwork(), {"Id": "x" * 12, "Name": "workspace-launcher"},
                         engine_url="http://10.0.0.5:2375", firewall=never)
    assert outcome.level == "skipped" and "not on this host" in outcome.message


# -- the thin applier, with a fake iptables --------------------------------------------------------
class FakeIptables:
    def __init__(self, saved: str = DOCKER_TABLE, stderr: str = "", returncode: int = 0):
        self.saved, self.stderr, self.returncode = saved, stderr, returncode
        self.calls: list[tuple[list[str], str | None]] = []

    def __call__(self, argv, input=None, **kwargs):
        self.calls.append((argv, input))
        out = self.saved if argv[0].endswith("iptables-save") else ""
        return subprocess.CompletedProcess(argv, self.returncode, out, self.stderr)


def which(name: str) -> str:
    return f"/usr/sbin/{name}"


def test_sync_reads_once_then_restores_and_inserts():
    fake = FakeIptables()
    done = fw.Firewall(run=fake, which=which).sync(policy())
    argvs = [argv for argv, _ in fake.calls]
    assert argvs[0] == ["/usr/sbin/iptables-save", "-t", "filter"]
    assert argvs[1] == ["/usr/sbin/iptables-restore", "-w", "5", "--noflush"]
    assert fake.calls[1][1] == restore_input({IN: input_rules(policy()), FWD: forward_rules(policy())})
    assert argvs[2:] == [["/usr/sbin/iptables", "-w", "5", "-I", "INPUT", "1", "-j", IN],
                         ["/usr/sbin/iptables", "-w", "5", "-I", "DOCKER-USER", "1", "-j", FWD]]
    assert len(done) == 3


def test_rules_in_place_cost_one_read():
    fake = FakeIptables(applied(DOCKER_TABLE, plan(policy(), parse_save(DOCKER_TABLE))))
    assert fw.Firewall(run=fake, which=which).sync(policy()) == []
    assert len(fake.calls) == 1


def test_not_root_says_how_to_fix_it():
    fake = FakeIptables(stderr="iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: "
                               "Permission denied (you must be root)\n", returncode=4)
    with pytest.raises(fw.FirewallUnavailable) as raised:
        fw.Firewall(run=fake, which=which).sync(policy())
    assert raised.value.reason == "not-permitted"
    assert "sudo workspace-launcher network protect" in raised.value.message


def test_missing_iptables_says_how_to_fix_it():
    with pytest.raises(fw.FirewallUnavailable) as raised:
        fw.Firewall(run=FakeIptables(), which=lambda name: None).table()
    assert raised.value.reason == "missing" and "apt-get install iptables" in raised.value.message
