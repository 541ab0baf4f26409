"""`workspace-launcher network ...`: the workspace network and the firewall rules that keep
workspaces off this host, the metadata address and the admin's blocked ranges.

The host server installs the rules itself at every launch when it runs as root. A server run
as another user cannot: then `sudo workspace-launcher network protect` does it (again after a
reboot, or a firewall reload that flushes the filter table; `workspace-launcher doctor` tells).
"""

from __future__ import annotations

import asyncio
import sys

import click

from workspace_launcher.admin.cli_support import Context, console, in_context, out, say
from workspace_launcher.engine.docker import DockerBackend
from workspace_launcher.engine.firewall import (
    Firewall,
    FirewallUnavailable,
    policy_for,
    protect,
    read_resolv_conf,
)
from workspace_launcher.engine.firewall import is_host_address as _is_host_address
from workspace_launcher.engine.firewall_rules import bridge_interface, forward_rules, input_rules, jump_rules
from workspace_launcher.engine.spec import NETWORK_NAME


@click.group()
def network() -> None:
    """The workspace network and its firewall rules (what workspaces may reach)."""


def _backend(obj: Context) -> DockerBackend:
    return DockerBackend(obj.manager.engine, parent=obj.manager)


def _print_rules(policy) -> None:
    for rule in jump_rules() + input_rules(policy) + forward_rules(policy):
        out.print(f"  {rule}", highlight=False, markup=False, soft_wrap=True)  # a rule copies as one line


@network.command("protect")
@in_context
def protect_command(obj: Context) -> None:
    """Make the workspace network if missing and install (or refresh) its rules. Needs root."""
    backend = _backend(obj)
    attrs = asyncio.run(backend.create_network())
    outcome = protect(backend.network, attrs, engine_url=backend.engine_url, firewall=backend.firewall)
    if outcome.level != "ok":
        say(outcome.message, to=console, prefix="error:", style="red", indent=7)
        sys.exit(1)
    say(outcome.message)
    for step in outcome.applied:
        out.print(f"  ran: {step}", highlight=False, markup=False, soft_wrap=True)
    if not outcome.applied:
        say("  (already in place)")


@network.command("show")
@in_context
def show_command(obj: Context) -> None:
    """The rules the settings ask for, and whether they are in place (reading them needs root)."""
    backend = _backend(obj)
    attrs = asyncio.run(backend.network_description())
    if attrs is not None:
        say(f"network {NETWORK_NAME}: bridge {bridge_interface(attrs)}, internal={bool(attrs.get('Internal'))}")
    else:
        attrs = {"Id": "", "Options": {"com.docker.network.bridge.name": backend.network.bridge_name}}
        say(f"network {NETWORK_NAME}: not made yet (the first launch, or 'network protect', makes it)")
    policy = policy_for(backend.network, attrs, resolv_conf=read_resolv_conf(), is_host_address=_is_host_address)
    if not policy.blocks_anything:
        say("no rules: WorkspaceNetwork.protect_host is False and no blocked_ranges are set")
        return
    say("rules (iptables -S form):")
    _print_rules(policy)
    try:
        missing = backend.firewall.missing(policy)
    except FirewallUnavailable as e:
        say(f"in place: unknown ({e.message})")
        return
    if missing:
        say(f"in place: no, {len(missing)} missing or different; run 'sudo workspace-launcher network protect'")
        sys.exit(1)
    say("in place: yes")


@network.command("unprotect")
@in_context
def unprotect_command(obj: Context) -> None:
    """Remove the rules (a host server running as root puts them back at its next launch,
    unless WorkspaceNetwork.protect_host is False and no blocked_ranges are set). Needs root."""
    try:
        steps = Firewall().remove()
    except FirewallUnavailable as e:
        say(e.message, to=console, prefix="error:", style="red", indent=7)
        sys.exit(1)
    say("removed" if steps else "nothing to remove")
    for step in steps:
        out.print(f"  ran: {step}", highlight=False, markup=False, soft_wrap=True)
