"""What workspaces may reach over the network: the admin's settings and the iptables rules.

Docker lets a container on a bridge network reach every address of its host (the bridge's
gateway, ``docker0``, the LAN address: any service listening on 0.0.0.0) and everything the host
can route to, the cloud's metadata address 169.254.169.254 included. The rules here take that
away from workspaces, and only from them: every rule matches the workspace bridge interface, so
image builds (on ``docker0``) and the host's own traffic are untouched.

Two chains of our own in the filter table, replaced whole and atomically (``iptables-restore
--noflush`` flushes only the chains it declares) each time they are refreshed, and jumped to,
unconditionally, from ``INPUT`` and ``DOCKER-USER`` (the chain Docker keeps for its admins,
first in ``FORWARD``)::

    WORKSPACE-LAUNCHER-IN   workspace -> this host: replies to what the host opened pass
                            (the proxy connects TO workspaces); everything else is refused
    WORKSPACE-LAUNCHER-FWD  workspace -> elsewhere: ports the host forwards to other
                            containers, 169.254.0.0/16 and the admin's blocked ranges are
                            refused; the internet stays reachable

Several engines on one host (each with a bridge of its own: a second engine for GPU tests, say)
share the chains: a refresh rewrites its own bridge's rules and keeps the others' (those of
bridges gone from the host are dropped), under a lock file, so servers do not undo each other.

Refused means REJECT (an immediate "Connection refused"), not DROP (a hang until a timeout).
Name resolution needs nothing from the host: on a user-defined network Docker's embedded DNS
server answers at 127.0.0.11 inside the container's own namespace and forwards, from that
namespace, to the host's name servers; where one of those is a host address, or lies in a
blocked range, DNS to it (port 53) stays open.

IPv4 only: the workspace network has no IPv6, and Docker disables IPv6 inside containers
attached to it (no workspace can turn it back on: they hold no capabilities).

Everything that decides a rule is a pure function below; :class:`Firewall` is the thin part
that runs ``iptables-save``, ``iptables-restore`` and ``iptables``.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from traitlets import Bool, List, TraitError, Unicode, validate
from traitlets.config import LoggingConfigurable

from workspace_launcher.engine.spec import BRIDGE_NAME, NETWORK_NAME
from workspace_launcher.errors import LauncherError

#: Cloud instance metadata (169.254.169.254: credentials, user data) and the rest of link-local.
LINK_LOCAL = "169.254.0.0/16"
DOCKER_USER = "DOCKER-USER"
#: The longest interface name Linux allows (IFNAMSIZ - 1).
MAX_INTERFACE_NAME = 15
#: What a refused connection gets back, so it fails at once ("Connection refused") instead of
#: hanging until a timeout: a TCP reset (an ICMP error made connect() wait out a SYN
#: retransmission, a second, on this project's CI machine), an ICMP error for everything else.
REJECT_OTHER = "-j REJECT --reject-with icmp-admin-prohibited"


class WorkspaceNetwork(LoggingConfigurable):
    """What workspaces may reach over the network: this host, link-local, other ranges, the
    internet. Enforced by iptables rules on the workspace bridge (backends/firewall.py), which
    the host server installs and refreshes at every launch when it runs as root; otherwise
    `sudo workspace-launcher network protect` installs them. `workspace-launcher doctor` checks
    they are in place. Every server sharing an engine should have the same settings."""

    protect_host = Bool(
        True,
        help="""Refuse every connection a workspace opens to this host, on any of its addresses
        (the workspace network's gateway, docker0, the LAN address: every service listening on
        0.0.0.0 here, and ports the host forwards to other containers), and to link-local
        169.254.0.0/16, where clouds serve instance metadata and credentials. Replies to
        connections the host opens to workspaces (the proxy) still flow, and the internet stays
        reachable. Refused connections fail at once ("Connection refused"). The rules are iptables
        chains WORKSPACE-LAUNCHER-IN (jumped to from INPUT) and WORKSPACE-LAUNCHER-FWD (from
        DOCKER-USER), matching only the workspace bridge; builds and other containers are not
        affected. The host server installs or refreshes them at every launch and start when it
        runs as root; otherwise run `sudo workspace-launcher network protect` (again after a
        reboot). Default: True. False removes them (unless blocked_ranges are set).""",
    ).tag(config=True)

    blocked_ranges = List(
        Unicode(),
        help="""More IPv4 networks workspaces may not reach, as CIDRs: your LAN, internal
        services, other clusters. Example: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].
        Connections to them are refused at once; the internet outside them stays reachable.
        DNS (port 53) stays open to this host's name servers when a range holds one, since
        workspaces resolve names through them. Default: none (169.254.0.0/16 is covered by
        protect_host).""",
    ).tag(config=True)

    internal = Bool(
        False,
        help="""Make the workspace network internal: workspaces reach nothing outside it, no
        internet at all (no pip install, no git clone, no name resolution), Docker's
        `internal` network; with the firewall rules, every try is refused at once rather than
        left to time out. The host still reaches them (the proxy works). Takes effect when
        the network is created: for an existing one, remove it with no workspace running
        (`docker network rm workspace-launcher`) and the next launch recreates it.
        Default: False.""",
    ).tag(config=True)

    bridge_name = Unicode(
        BRIDGE_NAME,
        help=f"""The workspace network's bridge interface on this host, which the firewall rules
        match (at most {MAX_INTERFACE_NAME} characters). Give each engine sharing this host's
        network stack a name of its own (a name another engine's bridge holds is never taken
        over: Docker then names this one br-<id>). Takes effect when the network is created; a
        network made by an older release keeps its br-<id> interface, and the rules follow it.
        Default: "{BRIDGE_NAME}".""",
    ).tag(config=True)

    @validate("blocked_ranges")
    def _check_ranges(self, proposal):
        return [normalize_range(value) for value in proposal["value"]]

    @validate("bridge_name")
    def _check_bridge_name(self, proposal):
        value = proposal["value"]
        if not valid_interface_name(value):
            raise TraitError(
                f"WorkspaceNetwork.bridge_name {value!r}: 1 to {MAX_INTERFACE_NAME} letters, digits, '.', '_' or '-'"
            )
        return value


# -- pure: settings and facts -> rules ----------------------------------------------------------
def normalize_range(value: str) -> str:
    """A CIDR in canonical form (host bits cleared), or a TraitError saying what is wrong."""
    try:
        network = ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        raise TraitError(
            f"WorkspaceNetwork.blocked_ranges: {value!r} is not an IPv4 network; write it as a CIDR, e.g. '10.0.0.0/8'"
        ) from None
    if network.version != 4:
        raise TraitError(
            f"WorkspaceNetwork.blocked_ranges: {value!r} is IPv6; the workspace network is IPv4 only "
            "(Docker disables IPv6 inside its containers), so list IPv4 ranges"
        )
    return str(network)


def valid_interface_name(name: str) -> bool:
    return bool(re.fullmatch(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_INTERFACE_NAME - 1}}}", name or ""))


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


def policy_for(settings: WorkspaceNetwork, network_attrs: Mapping, *, resolv_conf: str = "",
               is_host_address: Callable[[str], bool] = lambda address: False) -> Policy:
    servers = tuple(nameservers(resolv_conf))
    return Policy(
        interface=bridge_interface(network_attrs),
        protect_host=settings.protect_host,
        blocked_ranges=tuple(settings.blocked_ranges),
        nameservers=servers,
        host_nameservers=tuple(s for s in servers if is_host_address(s)),
        internal=bool(network_attrs.get("Internal")),  # the network as it is, not as it is wanted
    )


def engine_is_local(base_url: str) -> bool:
    """Whether the SDK talks to the engine over a unix socket of this machine (docker-py names
    that connection http+docker://localhost; ssh, npipe and tcp connections look otherwise)."""
    unix = ("http+docker://localhost", "http+docker://localunixsocket")
    return base_url in unix or base_url.startswith("http+unix://")


# -- I/O: reading the host, running iptables ------------------------------------------------------
class FirewallUnavailable(LauncherError):
    """iptables cannot be run here (missing, or this process may not change the firewall)."""

    status_code = 503

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        #: "missing" (no iptables), "not-permitted" (not root), or "failed".
        self.reason = reason


#: Serializes the read-modify-write of our chains among the servers of this host.
LOCK_PATH = "/run/workspace-launcher-firewall.lock"
FIX_NOT_PERMITTED = ("run 'sudo workspace-launcher network protect' (again after each reboot), "
                     "or run the host server as root")
FIX_MISSING = "install iptables (apt-get install iptables), then run 'sudo workspace-launcher network protect'"


def read_resolv_conf() -> str:
    """The name servers Docker's DNS forwards to: /etc/resolv.conf, or systemd-resolved's
    upstream list when that file names only its loopback stub (as Docker does)."""
    try:
        with open("/etc/resolv.conf") as f:
            text = f.read()
    except OSError:
        return ""
    if not nameservers(text):
        try:
            with open("/run/systemd/resolve/resolv.conf") as f:
                return f.read()
        except OSError:
            pass
    return text


def is_host_address(address: str) -> bool:
    """Whether ``address`` is one of this host's (binding to it succeeds only then)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
        return True
    except OSError:
        return False


def find_binary(name: str) -> str | None:
    """An iptables binary on PATH, or in the sbin directories a non-root PATH lacks on Debian."""
    return shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/sbin:/sbin")


def bridge_on_this_host(interface: str) -> bool:
    """Whether the bridge is an interface of this host's network stack (not a rootless engine's
    or a VM's)."""
    return os.path.isdir(f"/sys/class/net/{interface}")


class Firewall:
    """Runs iptables: reads the filter table, applies a :func:`plan`, removes our rules."""

    def __init__(self, chains: Chains = CHAINS, *, run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                 which: Callable[[str], str | None] = lambda name: find_binary(name),
                 live: Callable[[str], bool] = lambda interface: bridge_on_this_host(interface),
                 lock_path: str | None = LOCK_PATH) -> None:
        self.chains = chains
        self._run = run
        self._which = which
        self._live = live
        self._lock_path = lock_path

    @contextlib.contextmanager
    def _locked(self):
        """One read-modify-write at a time among this host's servers (several engines' bridges
        share our chains). Without the lock file (not root) iptables refuses anyway."""
        try:
            handle = open(self._lock_path, "a") if self._lock_path else None
        except OSError:
            handle = None
        try:
            if handle is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            if handle is not None:
                handle.close()  # releases the lock

    def _binary(self, name: str) -> str:
        path = self._which(name)
        if path is None:
            raise FirewallUnavailable(f"'{name}' is not installed: workspaces can reach this host's services "
                                      f"and the metadata address; {FIX_MISSING}", reason="missing")
        return path

    def _exec(self, argv: list[str], stdin: str | None = None) -> str:
        try:
            result = self._run(argv, input=stdin, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise FirewallUnavailable(f"{argv[0]} failed: {e}", reason="failed") from e
        if result.returncode != 0:
            error = (result.stderr or result.stdout or "").strip().splitlines()
            text = error[-1] if error else f"exit status {result.returncode}"
            if re.search(r"permission denied|you must be root|operation not permitted", result.stderr or "", re.I):
                raise FirewallUnavailable(
                    f"this process may not change the firewall ({text}); {FIX_NOT_PERMITTED}", reason="not-permitted")
            raise FirewallUnavailable(f"{' '.join(argv)}: {text}", reason="failed")
        return result.stdout

    def table(self) -> Table:
        return parse_save(self._exec([self._binary("iptables-save"), "-t", "filter"]))

    def _apply(self, steps: list[Step]) -> list[str]:
        for step in steps:
            if step.restore:
                self._exec([self._binary("iptables-restore"), "-w", "5", "--noflush"], stdin=step.restore)
            else:
                self._exec([self._binary("iptables"), "-w", "5", *step.args])
        return [s.describe() for s in steps]

    def sync(self, policy: Policy) -> list[str]:
        """Make the rules match the policy; what was run (nothing when they already did)."""
        with self._locked():
            return self._apply(plan(policy, self.table(), self.chains, self._live))

    def remove(self) -> list[str]:
        """Take out our chains and jumps, for every bridge."""
        with self._locked():
            return self._apply(removal(self.table(), self.chains))

    def missing(self, policy: Policy) -> list[str]:
        return missing(policy, self.table(), self.chains)


@dataclass(frozen=True)
class Outcome:
    """What protecting the workspace network came to, for a log line or the CLI."""

    level: str  # "ok", "skipped", "unavailable"
    message: str
    applied: tuple[str, ...] = ()
    reason: str = ""


def protect(settings: WorkspaceNetwork, network_attrs: Mapping, *, engine_url: str,
            firewall: Firewall | None = None) -> Outcome:
    """Install or refresh the workspace network's rules on this host (blocking: run in a thread)."""
    firewall = firewall or Firewall()
    interface = bridge_interface(network_attrs)
    name = network_attrs.get("Name", NETWORK_NAME)
    if not engine_is_local(engine_url) or not bridge_on_this_host(interface):
        return Outcome("skipped", f"the engine's network {name!r} (bridge {interface}) is not on this host "
                       f"(remote or rootless engine): filter workspace traffic on the engine's host", reason="remote")
    policy = policy_for(settings, network_attrs, resolv_conf=read_resolv_conf(), is_host_address=is_host_address)
    try:
        applied = tuple(firewall.sync(policy))
    except FirewallUnavailable as e:
        return Outcome("unavailable", e.message, reason=e.reason)
    if not policy.blocks_anything:
        return Outcome("ok", f"no firewall rules for {interface}: WorkspaceNetwork.protect_host is off and no "
                       "blocked_ranges are set", applied)
    beyond = ("anything beyond it",) if policy.internal else policy.refused_ranges
    refused = ", ".join(("this host",) * policy.protect_host + beyond)
    return Outcome("ok", f"workspaces on {interface} may not reach {refused}", applied)
