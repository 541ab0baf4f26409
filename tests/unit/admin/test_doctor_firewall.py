"""The doctor's verdicts on the workspace firewall (``check_firewall`` of ``admin/doctor.py``),
from facts made up for hosts we do not have."""

from __future__ import annotations

from workspace_launcher.admin.doctor import OK, WARN, FirewallFacts, check_firewall

IF = "wl-workspaces"
IN = "WORKSPACE-LAUNCHER-IN"


def verdict(**kw):
    (check,) = check_firewall(FirewallFacts(interface=IF, refused=["this host", "169.254.0.0/16"], **kw))
    return check


def test_doctor_rules_in_place():
    check = verdict()
    assert check.level == OK and "may not reach this host, 169.254.0.0/16" in check.detail


def test_doctor_rules_missing_name_the_command():
    check = verdict(missing=[f"-A INPUT -j {IN}"])
    assert check.level == WARN and "sudo workspace-launcher network protect" in check.fix


def test_doctor_without_root_or_iptables_or_a_local_bridge():
    assert "sudo workspace-launcher doctor" in verdict(error="denied", error_reason="not-permitted").fix
    assert "apt-get install iptables" in verdict(error="no", error_reason="missing").fix
    remote = verdict(on_this_host=False)
    assert remote.level == WARN and "engine's host" in remote.fix


def test_doctor_protection_off_is_a_warning():
    (check,) = check_firewall(FirewallFacts(interface=IF, refused=[]))
    assert check.level == WARN and "protect_host = True" in check.fix


def test_doctor_network_internal_mismatch():
    checks = check_firewall(FirewallFacts(interface=IF, refused=["this host"], internal_wanted=True, internal_actual=False))
    assert checks[0].name == "workspace network" and "docker network rm workspace-launcher" in checks[0].fix
