"""What workspaces may reach over the network: the admin's settings, and the I/O that puts the
iptables rules in place on this host.

Docker lets a container on a bridge network reach every address of its host (the bridge's
gateway, ``docker0``, the LAN address: any service listening on 0.0.0.0) and everything the host
can route to, the cloud's metadata address 169.254.169.254 included. The rules take that away
from workspaces, and only from them; what they are, and the steps that install, refresh or remove
them, are pure functions of :mod:`workspace_launcher.engine.firewall_rules`.

This module owns :class:`WorkspaceNetwork` (the settings, config keys ``WorkspaceNetwork.*``),
:func:`policy_for` (settings and facts -> a :class:`Policy`), the host checks (is the engine
local, is the bridge on this host, which addresses are this host's, its name servers), and
:class:`Firewall`, the thin part that runs ``iptables-save``, ``iptables-restore`` and
``iptables``, under a lock file so the servers of one host do not undo each other; and
:func:`protect`, what a launch calls.

IPv4 only: the workspace network has no IPv6, and Docker disables IPv6 inside containers
attached to it (no workspace can turn it back on: they hold no capabilities).
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from traitlets import Bool, List, TraitError, Unicode, validate
from traitlets.config import LoggingConfigurable

from workspace_launcher.engine.firewall_rules import (
    CHAINS,
    Chains,
    Policy,
    Step,
    Table,
    bridge_interface,
    missing,
    nameservers,
    parse_save,
    plan,
    removal,
)
from workspace_launcher.engine.spec import BRIDGE_NAME, NETWORK_NAME
from workspace_launcher.errors import LauncherError

#: The longest interface name Linux allows (IFNAMSIZ - 1).
MAX_INTERFACE_NAME = 15


class WorkspaceNetwork(LoggingConfigurable):
    """What workspaces may reach over the network: this host, link-local, other ranges, the
    internet. Enforced by iptables rules on the workspace bridge (engine/firewall_rules.py), which
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


# -- settings: validation, and settings and facts -> a Policy ------------------------------------
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


def policy_for(settings: WorkspaceNetwork, network_attrs: Mapping, *, resolv_conf: str = "",
               is_host_address: Callable[[str], bool] = lambda address: False) -> Policy:
    """The rules' input for the network described by ``network_attrs``, under these settings."""
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
