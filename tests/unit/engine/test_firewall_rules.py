"""The workspace firewall's rules and plans (``engine/firewall_rules.py``), computed from a
policy and a saved filter table: no iptables, no engine."""

from __future__ import annotations

from tests.unit.engine.fakes import DOCKER_TABLE, FWD, IF, IN, applied, policy
from workspace_launcher.engine.firewall_rules import (
    Chains,
    Policy,
    bridge_interface,
    chain_contents,
    forward_rules,
    input_rules,
    jump_rules,
    missing,
    parse_save,
    plan,
    removal,
    restore_input,
)


# -- the network's interface -------------------------------------------------------------------
def test_the_interface_comes_from_the_network_options_or_its_id():
    named = {"Id": "abcdef0123456789", "Options": {"com.docker.network.bridge.name": "wl-workspaces"}}
    older = {"Id": "17f986a8ccf7a0b1c2d3", "Options": {"com.docker.network.bridge.enable_icc": "false"}}
    assert bridge_interface(named) == "wl-workspaces"
    assert bridge_interface(older) == "br-17f986a8ccf7"
    assert bridge_interface({"Id": "17f986a8ccf7a0b1", "Options": None}) == "br-17f986a8ccf7"


# -- the rules -------------------------------------------------------------------------------
def test_default_rules_refuse_the_host_and_link_local_and_let_replies_through():
    assert input_rules(policy()) == [
        f"-A {IN} -i {IF} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-A {IN} -i {IF} -p tcp -j REJECT --reject-with tcp-reset",
        f"-A {IN} -i {IF} -j REJECT --reject-with icmp-admin-prohibited",
    ]
    assert forward_rules(policy()) == [
        f"-A {FWD} -i {IF} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-A {FWD} -i {IF} -p tcp -m conntrack --ctstate DNAT -j REJECT --reject-with tcp-reset",
        f"-A {FWD} -i {IF} -m conntrack --ctstate DNAT -j REJECT --reject-with icmp-admin-prohibited",
        f"-A {FWD} -d 169.254.0.0/16 -i {IF} -p tcp -j REJECT --reject-with tcp-reset",
        f"-A {FWD} -d 169.254.0.0/16 -i {IF} -j REJECT --reject-with icmp-admin-prohibited",
    ]
    assert jump_rules() == [f"-A INPUT -j {IN}", "-A FORWARD -j DOCKER-USER", f"-A DOCKER-USER -j {FWD}"]


def test_every_rule_matches_only_the_workspace_bridge_and_replies_come_first():
    p = policy(blocked_ranges=("10.0.0.0/8",), nameservers=("10.0.0.2", "192.0.2.53"), host_nameservers=("192.0.2.53",))
    for rules in (input_rules(p), forward_rules(p)):
        assert all(f" -i {IF} " in rule for rule in rules)  # never docker0 (builds), never the host's own traffic
        assert "--ctstate RELATED,ESTABLISHED -j RETURN" in rules[0]
        assert not any("ACCEPT" in rule or "DROP" in rule for rule in rules)  # refuse at once, decide nothing else


def test_blocked_ranges_are_refused_and_dns_to_a_name_server_inside_one_stays_open():
    p = policy(blocked_ranges=("10.0.0.0/8", "192.168.0.0/16"), nameservers=("10.255.255.53", "8.8.8.8"))
    rules = forward_rules(p)
    assert f"-A {FWD} -d 10.0.0.0/8 -i {IF} -p tcp -j REJECT --reject-with tcp-reset" in rules
    assert f"-A {FWD} -d 192.168.0.0/16 -i {IF} -j REJECT --reject-with icmp-admin-prohibited" in rules
    dns = [r for r in rules if "--dport 53" in r]
    assert dns == [
        f"-A {FWD} -d 10.255.255.53/32 -i {IF} -p udp -m udp --dport 53 -j RETURN",
        f"-A {FWD} -d 10.255.255.53/32 -i {IF} -p tcp -m tcp --dport 53 -j RETURN",
    ]  # 8.8.8.8 is in no refused range: nothing to open
    assert rules.index(dns[0]) < rules.index(f"-A {FWD} -d 10.0.0.0/8 -i {IF} -p tcp -j REJECT --reject-with tcp-reset")


def test_a_name_server_on_this_host_stays_reachable_on_port_53_only():
    rules = input_rules(policy(nameservers=("192.0.2.2",), host_nameservers=("192.0.2.2",)))
    assert rules[1:3] == [
        f"-A {IN} -d 192.0.2.2/32 -i {IF} -p udp -m udp --dport 53 -j RETURN",
        f"-A {IN} -d 192.0.2.2/32 -i {IF} -p tcp -m tcp --dport 53 -j RETURN",
    ]
    assert rules[-1] == f"-A {IN} -i {IF} -j REJECT --reject-with icmp-admin-prohibited"


def test_protect_host_off_keeps_only_the_blocked_ranges():
    p = policy(protect_host=False, blocked_ranges=("10.0.0.0/8",))
    assert input_rules(p) == []
    forward = forward_rules(p)
    assert not any("169.254" in r or "DNAT" in r for r in forward)
    assert any("-d 10.0.0.0/8" in r for r in forward)
    nothing = policy(protect_host=False)
    assert not nothing.blocks_anything and forward_rules(nothing) == [] and input_rules(nothing) == []


def test_an_internal_network_refuses_everything_beyond_the_host_at_once():
    p = policy(protect_host=False, internal=True)
    assert p.blocks_anything
    assert forward_rules(p) == [
        f"-A {FWD} -i {IF} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        f"-A {FWD} -i {IF} -p tcp -j REJECT --reject-with tcp-reset",
        f"-A {FWD} -i {IF} -j REJECT --reject-with icmp-admin-prohibited",
    ]


def test_the_restore_input_replaces_our_chains_only():
    text = restore_input(chain_contents(policy(), parse_save(DOCKER_TABLE)))
    lines = text.splitlines()
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"
    declared = [line for line in lines if line.startswith(":")]
    assert declared == [f":{IN} - [0:0]", f":{FWD} - [0:0]"]  # never INPUT, FORWARD or DOCKER-USER (flushed if declared)
    assert all(line.split()[1] in (IN, FWD) for line in lines if line.startswith("-A"))


# -- plans: idempotent install, refresh, removal -------------------------------------------------
def test_first_install_on_a_docker_host_restores_the_chains_and_inserts_the_jumps_first():
    steps = plan(policy(), parse_save(DOCKER_TABLE))
    assert steps[0].restore == restore_input({IN: input_rules(policy()), FWD: forward_rules(policy())})
    assert [s.args for s in steps[1:]] == [("-I", "INPUT", "1", "-j", IN), ("-I", "DOCKER-USER", "1", "-j", FWD)]


def test_a_host_without_docker_user_gets_it_and_the_forward_jump():
    steps = plan(policy(), parse_save("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\nCOMMIT\n"))
    assert [s.args for s in steps[1:]] == [
        ("-N", "DOCKER-USER"), ("-I", "INPUT", "1", "-j", IN), ("-I", "FORWARD", "1", "-j", "DOCKER-USER"),
        ("-I", "DOCKER-USER", "1", "-j", FWD),
    ]


def test_applying_twice_changes_nothing_the_second_time():
    p = policy(blocked_ranges=("10.0.0.0/8",), nameservers=("10.255.255.53",))
    after = applied(DOCKER_TABLE, plan(p, parse_save(DOCKER_TABLE)))
    assert plan(p, parse_save(after)) == []
    assert missing(p, parse_save(after)) == []
    table = parse_save(after)
    assert table.rules("INPUT").count(f"-A INPUT -j {IN}") == 1
    assert table.rules("DOCKER-USER") == [f"-A DOCKER-USER -j {FWD}", "-A DOCKER-USER -j RETURN"]


def test_iptables_own_spelling_of_a_rule_counts_as_in_place():
    p = policy(nameservers=("169.254.169.254",))  # a cloud name server inside link-local
    saved = applied(DOCKER_TABLE, plan(p, parse_save(DOCKER_TABLE))).replace(" -m udp", "").replace(" -m tcp", "")
    assert plan(p, parse_save(saved)) == []


def test_new_settings_or_a_recreated_network_refresh_the_chains_whole():
    old = applied(DOCKER_TABLE, plan(policy(), parse_save(DOCKER_TABLE)))
    for changed in (Policy(interface="br-17f986a8ccf7"), policy(blocked_ranges=("192.168.0.0/16",))):
        steps = plan(changed, parse_save(old))
        assert [bool(s.restore) for s in steps] == [True]  # one atomic replace; the jumps stay as they are
        assert missing(changed, parse_save(old))


def test_a_duplicated_jump_is_taken_back_to_one():
    once = applied(DOCKER_TABLE, plan(policy(), parse_save(DOCKER_TABLE)))
    twice = once.replace(f"-A INPUT -j {IN}", f"-A INPUT -j {IN}\n-A INPUT -j {IN}")
    assert [s.args for s in plan(policy(), parse_save(twice))] == [("-D", "INPUT", "-j", IN)]


def test_removal_takes_out_our_chains_and_jumps_and_leaves_dockers():
    installed = applied(DOCKER_TABLE, plan(policy(), parse_save(DOCKER_TABLE)))
    steps = removal(parse_save(installed))
    assert [s.args for s in steps] == [
        ("-D", "INPUT", "-j", IN), ("-D", "DOCKER-USER", "-j", FWD), ("-F", IN), ("-X", IN), ("-F", FWD), ("-X", FWD),
    ]
    after = parse_save(applied(installed, steps))
    assert after.rules("DOCKER-USER") == ["-A DOCKER-USER -j RETURN"] and "-A FORWARD -j DOCKER-USER" in after.rules("FORWARD")
    assert removal(after) == []  # removing twice: nothing to do
    # Settings that block nothing plan the removal.
    assert plan(policy(protect_host=False), parse_save(installed)) == steps


def test_two_engines_bridges_share_the_chains_without_undoing_each_other():
    other = Policy(interface="br-17f986a8ccf7")
    first = applied(DOCKER_TABLE, plan(policy(), parse_save(DOCKER_TABLE)))
    both = applied(first, plan(other, parse_save(first)))
    assert missing(policy(), parse_save(both)) == [] and missing(other, parse_save(both)) == []
    assert plan(policy(), parse_save(both)) == [] and plan(other, parse_save(both)) == []
    # New settings for one bridge leave the other's rules as they were.
    changed = policy(blocked_ranges=("10.0.0.0/8",))
    after = parse_save(applied(both, plan(changed, parse_save(both))))
    assert missing(changed, after) == [] and missing(other, after) == []
    assert after.rules("INPUT").count(f"-A INPUT -j {IN}") == 1
    # Protection off for one bridge takes out its rules only.
    off = parse_save(applied(both, plan(policy(protect_host=False), parse_save(both))))
    assert not any(f"-i {IF} " in r for r in off.rules(IN) + off.rules(FWD))
    assert missing(other, off) == []
    # A bridge gone from the host (its network removed) loses its rules at the next refresh.
    pruned = plan(policy(), parse_save(both), live=lambda interface: interface == IF)
    assert [bool(s.restore) for s in pruned] == [True] and "br-17f986a8ccf7" not in pruned[0].restore


def test_chains_of_another_name_leave_ours_alone():
    mine = Chains(input="WLTEST-X-IN", forward="WLTEST-X-FWD")
    installed = applied(DOCKER_TABLE, plan(policy(), parse_save(DOCKER_TABLE)))
    steps = plan(policy(), parse_save(installed), mine)
    assert ":WLTEST-X-IN - [0:0]" in steps[0].restore and IN not in steps[0].restore
    assert all(IN not in " ".join(s.args) for s in removal(parse_save(installed), mine))
