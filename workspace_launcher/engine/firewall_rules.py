"""The workspace firewall's iptables rules, computed from a :class:`Policy` and the filter table
as ``iptables-save`` printed it: pure functions of data, no I/O (:mod:`workspace_launcher.engine.firewall` runs them).

Two chains of our own in the filter table, replaced whole and atomically (``iptables-restore
--noflush`` flushes only the chains it declares) each time they are refreshed, and jumped to,
unconditionally, from ``INPUT`` and ``DOCKER-USER`` (the chain Docker keeps for its admins,
first in ``FORWARD``)::

    WORKSPACE-LAUNCHER-IN   workspace -> this host: replies to what the host opened pass
                            (the proxy connects TO workspaces); everything else is refused
    WORKSPACE-LAUNCHER-FWD  workspace -> elsewhere: ports the host forwards to other
                            containers, 169.254.0.0/16 and the admin's blocked ranges are
                            refused; the internet stays reachable

Every rule matches the workspace bridge interface, so image builds (on ``docker0``) and the
host's own traffic are untouched. Several engines on one host (each with a bridge of its own: a
second engine for GPU tests, say) share the chains: a refresh rewrites its own bridge's rules and
keeps the others' (those of bridges gone from the host are dropped).

Refused means REJECT (an immediate "Connection refused"), not DROP (a hang until a timeout).
Name resolution needs nothing from the host: on a user-defined network Docker's embedded DNS
server answers at 127.0.0.11 inside the container's own namespace and forwards, from that
namespace, to the host's name servers; where one of those is a host address, or lies in a
blocked range, DNS to it (port 53) stays open.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

#: Cloud instance metadata (169.254.169.254: credentials, user data) and the rest of link-local.
LINK_LOCAL = "169.254.0.0/16"
DOCKER_USER = "DOCKER-USER"
#: What a refused connection gets back, so it fails at once ("Connection refused") instead of
#: hanging until a timeout: a TCP reset (an ICMP error made connect() wait out a SYN
#: retransmission, a second, on this project's CI machine), an ICMP error for everything else.
REJECT_OTHER = "-j REJECT --reject-with icmp-admin-prohibited"


def bridge_interface(network_attrs: Mapping) -> str:
    """The host interface of a bridge network: the name it was given, else Docker's br-<id12>."""
    options = network_attrs.get("Options") or {}
    return options.get("com.docker.network.bridge.name") or "br-" + str(network_attrs["Id"])[:12]


def nameservers(resolv_conf: str) -> list[str]:
    """The IPv4 name servers of a resolv.conf, loopback ones left out (Docker drops them too)."""
    found = []
    for line in resolv_conf.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                address = ipaddress.ip_address(parts[1])
            except ValueError:
                continue
            if address.version == 4 and not address.is_loopback and str(address) not in found:
                found.append(str(address))
    return found


@dataclass(frozen=True)
class Chains:
    """Our chains' names (tests use chains of their own)."""

    input: str = "WORKSPACE-LAUNCHER-IN"
    forward: str = "WORKSPACE-LAUNCHER-FWD"


CHAINS = Chains()


@dataclass(frozen=True)
class Policy:
    """What the rules for one workspace bridge are made from."""

    interface: str
    protect_host: bool = True
    blocked_ranges: tuple[str, ...] = ()
    #: Every name server the engine's DNS forwards to (from the host's resolv.conf).
    nameservers: tuple[str, ...] = ()
    #: Those of them that are addresses of this host.
    host_nameservers: tuple[str, ...] = ()
    #: An internal network (no route out): everything beyond the host is refused at once,
    #: where Docker's own rules for it would drop it (a hang until a timeout).
    internal: bool = False

    @property
    def blocks_anything(self) -> bool:
        return self.protect_host or bool(self.blocked_ranges) or self.internal

    @property
    def refused_ranges(self) -> tuple[str, ...]:
        ranges = ((LINK_LOCAL,) if self.protect_host else ()) + tuple(self.blocked_ranges)
        return tuple(dict.fromkeys(ranges))


def _dns_open(chain: str, iface: str, servers: Iterable[str]) -> list[str]:
    rules = []
    for server in servers:
        for proto in ("udp", "tcp"):
            rules.append(f"-A {chain} -d {server}/32 -i {iface} -p {proto} -m {proto} --dport 53 -j RETURN")
    return rules


def _refuse(prefix: str, match: str = "") -> list[str]:
    """Refuse what ``prefix`` (chain, destination, interface) and ``match`` select: TCP with a
    reset, the rest with an ICMP error. Written as ``iptables -S`` prints them."""
    match = f" {match}" if match else ""
    return [f"{prefix} -p tcp{match} -j REJECT --reject-with tcp-reset", f"{prefix}{match} {REJECT_OTHER}"]


def input_rules(policy: Policy, chains: Chains = CHAINS) -> list[str]:
    """Workspace -> this host, in ``iptables -S`` form."""
    if not policy.protect_host:
        return []
    chain, iface = chains.input, policy.interface
    return [
        f"-A {chain} -i {iface} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        *_dns_open(chain, iface, policy.host_nameservers),
        *_refuse(f"-A {chain} -i {iface}"),
    ]


def _within(address: str, ranges: Iterable[str]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(r) for r in ranges)


def forward_rules(policy: Policy, chains: Chains = CHAINS) -> list[str]:
    """Workspace -> beyond this host, in ``iptables -S`` form."""
    if not policy.blocks_anything:
        return []
    chain, iface = chains.forward, policy.interface
    rules = [f"-A {chain} -i {iface} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]
    if policy.internal:
        return rules + _refuse(f"-A {chain} -i {iface}")
    if policy.protect_host:
        # A port of this host that the engine forwards (DNAT) to another container is a host
        # service too (Docker sends workspace traffic there when its userland proxy is off).
        rules += _refuse(f"-A {chain} -i {iface}", "-m conntrack --ctstate DNAT")
    ranges = policy.refused_ranges
    rules += _dns_open(chain, iface, [s for s in policy.nameservers if _within(s, ranges)])
    for cidr in ranges:
        rules += _refuse(f"-A {chain} -d {cidr} -i {iface}")
    return rules


def jump_rules(chains: Chains = CHAINS) -> list[str]:
    """The jumps into our chains (and Docker's DOCKER-USER, where it is missing)."""
    return [
        f"-A INPUT -j {chains.input}",
        f"-A FORWARD -j {DOCKER_USER}",
        f"-A {DOCKER_USER} -j {chains.forward}",
    ]


def _normal(rule: str) -> str:
    """A rule as iptables prints it, minus the implicit ``-m tcp``/``-m udp`` some versions add."""
    tokens = rule.split()
    kept = []
    i = 0
    while i < len(tokens):
        if tokens[i] == "-m" and i + 1 < len(tokens) and tokens[i + 1] in ("tcp", "udp"):
            i += 2
            continue
        kept.append(tokens[i])
        i += 1
    return " ".join(kept)


def rule_interface(rule: str) -> str | None:
    """The input interface a rule matches (``-i NAME``), if any."""
    tokens = rule.split()
    return tokens[tokens.index("-i") + 1] if "-i" in tokens[:-1] else None


@dataclass
class Table:
    """The filter table as ``iptables-save -t filter`` printed it: chain -> its rules."""

    chains: dict[str, list[str]] = field(default_factory=dict)

    def rules(self, chain: str) -> list[str]:
        return self.chains.get(chain, [])

    def normal(self, chain: str) -> list[str]:
        return [_normal(r) for r in self.rules(chain)]

    def has(self, rule: str) -> bool:
        return _normal(rule) in self.normal(rule.split()[1])


def parse_save(text: str) -> Table:
    table = Table()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(":"):
            table.chains.setdefault(line[1:].split()[0], [])
        elif line.startswith("-A "):
            table.chains.setdefault(line.split()[1], []).append(line)
    return table


@dataclass(frozen=True)
class Step:
    """One thing to run: ``iptables ARGS``, or ``iptables-restore --noflush`` fed ``restore``."""

    args: tuple[str, ...] = ()
    restore: str = ""

    def describe(self) -> str:
        if self.restore:
            return "iptables-restore --noflush (" + ", ".join(
                line for line in self.restore.splitlines() if line.startswith(":")) + ")"
        return "iptables " + " ".join(self.args)


def _ours(table: Table, chain: str, interface: str) -> list[str]:
    return [r for r in table.normal(chain) if rule_interface(r) == interface]


def _merged(table: Table, chain: str, interface: str, ours: list[str], live: Callable[[str], bool]) -> list[str]:
    """The chain with this bridge's rules replaced by ``ours``, in place, and other bridges'
    (another engine on this host) kept as they are, except those of bridges gone from the host
    (they could match nothing any more)."""
    groups: dict[str, list[str]] = {}
    for rule in table.rules(chain):
        name = rule_interface(rule)
        if name is not None and (name == interface or live(name)):
            groups.setdefault(name, []).append(rule)
    groups[interface] = ours
    return [rule for rules in groups.values() for rule in rules]


def chain_contents(policy: Policy, table: Table, chains: Chains = CHAINS,
                   live: Callable[[str], bool] = lambda interface: True) -> dict[str, list[str]]:
    """What each of our chains should hold: this bridge's rules, and other live bridges'."""
    return {
        chains.input: _merged(table, chains.input, policy.interface, input_rules(policy, chains), live),
        chains.forward: _merged(table, chains.forward, policy.interface, forward_rules(policy, chains), live),
    }


def restore_input(contents: Mapping[str, list[str]]) -> str:
    """``iptables-restore --noflush`` input that replaces our chains whole, atomically (it
    flushes only the chains it declares: never INPUT, FORWARD or DOCKER-USER)."""
    lines = ["*filter", *(f":{chain} - [0:0]" for chain in contents)]
    for rules in contents.values():
        lines += rules
    return "\n".join(lines + ["COMMIT", ""])


def missing(policy: Policy, table: Table, chains: Chains = CHAINS) -> list[str]:
    """The rules for the policy's bridge that are not in place as wanted (jumps included);
    empty when everything is. Other bridges' rules are not looked at."""
    if not policy.blocks_anything:
        return []
    problems = []
    for chain, wanted in ((chains.input, input_rules(policy, chains)), (chains.forward, forward_rules(policy, chains))):
        if chain not in table.chains:
            problems.append(f"chain {chain} missing")
        elif _ours(table, chain, policy.interface) != [_normal(r) for r in wanted]:
            problems += [r for r in wanted if not table.has(r)] or [f"chain {chain} differs from the settings"]
    problems += [r for r in jump_rules(chains) if not table.has(r)]
    return problems


def plan(policy: Policy, table: Table, chains: Chains = CHAINS,
         live: Callable[[str], bool] = lambda interface: True) -> list[Step]:
    """What to run so that our chains hold exactly the policy's rules for its bridge (and
    still those of other live bridges), jumped to once each; nothing when they already do."""
    contents = chain_contents(policy, table, chains, live)
    if not any(contents.values()):
        return removal(table, chains)
    steps: list[Step] = []
    if any(c not in table.chains or table.normal(c) != [_normal(r) for r in rules] for c, rules in contents.items()):
        steps.append(Step(restore=restore_input(contents)))
    if DOCKER_USER not in table.chains:
        steps.append(Step(args=("-N", DOCKER_USER)))
    for rule in jump_rules(chains):
        _, chain, *target = rule.split()
        count = table.normal(chain).count(_normal(rule))
        if count == 0:
            steps.append(Step(args=("-I", chain, "1", *target)))
        # A jump in twice (an older, interrupted run): keep one.
        steps += [Step(args=("-D", chain, *target))] * max(0, count - 1)
    return steps


def removal(table: Table, chains: Chains = CHAINS) -> list[Step]:
    """What to run to take all our rules out (Docker's DOCKER-USER and its jump stay)."""
    steps: list[Step] = []
    for rule in jump_rules(chains):
        _, chain, *target = rule.split()
        if target[-1] in (chains.input, chains.forward):
            steps += [Step(args=("-D", chain, *target))] * table.normal(chain).count(_normal(rule))
    for chain in (chains.input, chains.forward):
        if chain in table.chains:
            steps += [Step(args=("-F", chain)), Step(args=("-X", chain))]
    return steps
