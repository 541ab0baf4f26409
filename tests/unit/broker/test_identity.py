"""Who calls the broker: the rules over a table of accounts, and the kernel's peer credentials of
a real Unix socket pair."""

from __future__ import annotations

import os
import socket

import pytest

from workspace_launcher.broker.identity import (
    PeerCredentials,
    SystemAccounts,
    identify,
    overflow_uid,
    peer_credentials,
)
from workspace_launcher.errors import Forbidden


class Table:
    """Accounts from a dict: uid -> (name, primary gid, groups)."""

    def __init__(self, users: dict[int, tuple[str, int, list[str]]]) -> None:
        self.users = users

    def user(self, uid):
        found = self.users.get(uid)
        return None if found is None else found[:2]

    def groups_of(self, name, primary_gid):
        return next(groups for n, _, groups in self.users.values() if n == name)


ACCOUNTS = Table({0: ("root", 0, ["root"]), 1001: ("alice", 1001, ["alice", "ml"]),
                  1002: ("bob", 1002, ["bob", "ml", "wl-admins"])})


def caller(uid: int, admin_group: str | None = "wl-admins"):
    return identify(PeerCredentials(pid=42, uid=uid, gid=uid), ACCOUNTS, admin_group=admin_group, unmapped_uid=65534)


def test_the_owner_is_the_user_of_the_peers_uid():
    alice = caller(1001)
    assert (alice.user, alice.uid, alice.gid, alice.admin) == ("alice", 1001, 1001, False)
    assert alice.groups == {"alice", "ml"}


def test_root_and_the_admin_group_are_admins():
    assert caller(0).admin and caller(1002).admin
    assert not caller(1002, admin_group=None).admin
    assert caller(0, admin_group=None).admin


def test_a_caller_from_another_user_namespace_is_refused():
    with pytest.raises(Forbidden, match="overflow uid 65534") as info:
        caller(65534)
    assert info.value.status_code == 403


def test_a_uid_with_no_user_is_refused():
    with pytest.raises(Forbidden, match="uid 4242 is no user"):
        caller(4242)


def test_the_kernel_names_the_process_at_the_other_end():
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        credentials = peer_credentials(left)
    assert credentials == PeerCredentials(pid=os.getpid(), uid=os.getuid(), gid=os.getgid())


def test_the_hosts_own_accounts_name_this_process():
    accounts = SystemAccounts()
    name, gid = accounts.user(os.getuid())
    assert gid == os.getgid() and name
    assert set(accounts.groups_of(name, gid))  # at least the primary group
    assert accounts.user(2**31 - 2) is None


def test_the_overflow_uid_is_read_from_the_kernel(tmp_path):
    (tmp_path / "overflowuid").write_text("65533\n")
    assert overflow_uid(str(tmp_path / "overflowuid")) == 65533
    assert overflow_uid(str(tmp_path / "missing")) == 65534
