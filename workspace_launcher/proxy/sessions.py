"""One-time codes and workspace sessions: how a browser gets into a workspace's origin without
ever carrying a host credential there.

The host (where the browser is logged in) mints a code bound to (owner, workspace, the
container's start) and redirects to the workspace's origin, which trades the code, once, for a
session cookie of that origin alone. As JupyterHub's OAuth handshake does between the hub and a
single-user server, but in one process, so codes and sessions live in memory: a restarted server
forgets them, and the browser simply opens the workspace again through the host.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from traitlets import Float
from traitlets.config import LoggingConfigurable

#: The session cookie's name: with the ``__Host-`` prefix on https origins, where browsers then
#: refuse any version of it set by another host (a sibling workspace's subdomain, say).
COOKIE_NAME = "workspace-launcher-session"
SECURE_COOKIE_NAME = "__Host-" + COOKIE_NAME
COOKIE_NAMES = frozenset({COOKIE_NAME, SECURE_COOKIE_NAME})


@dataclass(frozen=True)
class Grant:
    """What a code or a session lets its bearer reach: one workspace of one owner, while the
    container runs the start it was made for (``generation``), until ``expires`` (monotonic)."""

    owner: str
    workspace_id: str
    generation: str
    expires: float
    #: For codes: where the browser goes once the code is traded (a path inside the workspace).
    next_path: str = ""


class WorkspaceSessions(LoggingConfigurable):
    """Mints, trades and revokes the codes and sessions of every workspace this server serves."""

    code_lifetime = Float(
        30.0,
        help="""Seconds a one-time code (minted when you open a workspace) stays valid. It
        only has to survive one redirect. Default: 30.""",
    ).tag(config=True)

    session_lifetime = Float(
        12 * 3600.0,
        help="""Seconds a workspace session lasts (the lifetime of its cookie). Afterwards the
        workspace's tab must be opened again from JupyterLab, which re-checks your login.
        Stopping, restarting or deleting a workspace ends its sessions at once. Default: 43200
        (12 hours).""",
    ).tag(config=True)

    def __init__(self, clock: Callable[[], float] = time.monotonic, **kwargs) -> None:
        super().__init__(**kwargs)
        self._clock = clock
        self._codes: dict[str, Grant] = {}
        self._sessions: dict[str, Grant] = {}
        #: Sessions revoked because their workspace stopped, restarted or went away, until they
        #: would have expired: their tabs are told why (deleted, stopped) instead of only "no".
        self._ended: dict[str, Grant] = {}

    def mint_code(self, *, owner: str, workspace_id: str, generation: str, next_path: str) -> str:
        """A code the workspace's origin trades, once, for a session."""
        self._prune()
        code = secrets.token_urlsafe(32)
        expires = self._clock() + self.code_lifetime
        self._codes[code] = Grant(owner, workspace_id, generation, expires, next_path)
        return code

    def redeem(self, code: str, *, workspace_id: str) -> tuple[str, Grant] | None:
        """Trade a code for a new session of ``workspace_id``: its cookie value and its grant.

        A code works once: it is spent even when it is refused (expired, or brought to another
        workspace's origin, which means it went astray)."""
        grant = self._codes.pop(code, None)
        if grant is None or grant.workspace_id != workspace_id or grant.expires <= self._clock():
            return None
        value = secrets.token_urlsafe(32)
        session = Grant(grant.owner, workspace_id, grant.generation, self._clock() + self.session_lifetime, grant.next_path)
        self._sessions[value] = session
        return value, session

    def find(self, values: Iterable[str], *, workspace_id: str) -> Grant | None:
        """The live session among the cookie ``values`` that is for ``workspace_id``, if any."""
        now = self._clock()
        for value in values:
            grant = self._sessions.get(value)
            if grant is not None and grant.workspace_id == workspace_id and grant.expires > now:
                return grant
        return None

    def find_ended(self, values: Iterable[str], *, workspace_id: str) -> Grant | None:
        """The revoked session among the cookie ``values`` that was for ``workspace_id``, if any.

        It opens nothing: it only lets the proxy tell a tab left open why its workspace is
        gone (deleted, stopped), which a tab that never had a session is not told."""
        now = self._clock()
        for value in values:
            grant = self._ended.get(value)
            if grant is not None and grant.workspace_id == workspace_id and grant.expires > now:
                return grant
        return None

    def revoke(self, workspace_id: str) -> int:
        """End every code and session of a workspace (it stopped, restarted or went away)."""
        self._prune()
        ended = 0
        for store in (self._codes, self._sessions):
            for key in [k for k, g in store.items() if g.workspace_id == workspace_id]:
                if store is self._sessions:
                    self._ended[key] = store[key]
                del store[key]
                ended += 1
        return ended

    def _prune(self) -> None:
        now = self._clock()
        for store in (self._codes, self._sessions, self._ended):
            for key in [k for k, g in store.items() if g.expires <= now]:
                del store[key]

    def __len__(self) -> int:
        return len(self._sessions)
