"""Who is calling the broker: the kernel's word for it, never the request's.

A caller on the broker's Unix socket is known by the peer credentials the kernel recorded when it
connected (``SO_PEERCRED``: pid, uid, gid), which no process can forge; the owner is the OS user
of that uid. Uid 0 and the members of the admin group are admins (they see and stop every
workspace). A uid with no user here is refused, and so is the overflow uid: a caller from another
user namespace (a rootless container, say), whose real uid this kernel could not map, so it could
be anyone.

``identify`` is pure apart from the user and group lookups it is given (``SystemAccounts`` reads
the host's passwd and group databases), so the rules are unit-tested without a socket.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from workspace_launcher.errors import Forbidden

#: ``struct ucred`` as Linux returns it for ``SO_PEERCRED``: pid, uid, gid.
_UCRED = struct.Struct("3i")
#: Where the kernel says which uid stands for "unmapped" (65534 unless changed).
OVERFLOW_UID_FILE = "/proc/sys/kernel/overflowuid"


@dataclass(frozen=True)
class PeerCredentials:
    """What the kernel recorded of the process at the other end of a Unix socket."""

    pid: int
    uid: int
    gid: int


@dataclass(frozen=True)
class Caller:
    """A caller the broker serves: the owner of what it makes, and whether it is an admin."""

    user: str
    uid: int
    gid: int
    groups: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False


class Accounts(Protocol):
    """The OS accounts the broker consults (the host's own, or a test's table)."""

    def user(self, uid: int) -> tuple[str, int] | None:
        """(name, primary gid) of ``uid``, or None when no user has it."""

    def groups_of(self, name: str, primary_gid: int) -> Iterable[str]:
        """The names of the groups ``name`` is in, the primary group included."""


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    """The peer credentials of a connected Unix socket (Linux)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return PeerCredentials(*_UCRED.unpack(raw))


def overflow_uid(path: str = OVERFLOW_UID_FILE) -> int:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 65534


def identify(credentials: PeerCredentials, accounts: Accounts, *, admin_group: str | None,
             unmapped_uid: int) -> Caller:
    """The caller the kernel's credentials name; ``Forbidden`` for one the broker must not serve."""
    if credentials.uid == unmapped_uid:
        raise Forbidden(
            f"the caller's uid is the overflow uid {unmapped_uid}: it comes from another user namespace "
            "(a container, say), so who it is cannot be known here; call the broker from the host")
    found = accounts.user(credentials.uid)
    if found is None:
        raise Forbidden(f"uid {credentials.uid} is no user of this host; the broker serves the host's users")
    name, primary_gid = found
    groups = frozenset(accounts.groups_of(name, primary_gid))
    admin = credentials.uid == 0 or (admin_group is not None and admin_group in groups)
    return Caller(user=name, uid=credentials.uid, gid=primary_gid, groups=groups, admin=admin)


class SystemAccounts:
    """The host's passwd and group databases (NSS: files, LDAP, sssd alike)."""

    def user(self, uid: int) -> tuple[str, int] | None:
        try:
            entry = pwd.getpwuid(uid)
        except KeyError:
            return None
        return entry.pw_name, entry.pw_gid

    def groups_of(self, name: str, primary_gid: int) -> Iterable[str]:
        gids = os.getgrouplist(name, primary_gid)
        names = []
        for gid in gids:
            try:
                names.append(grp.getgrgid(gid).gr_name)
            except KeyError:
                continue  # a gid without a name grants nothing by name
        return names
