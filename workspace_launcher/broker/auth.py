"""jupyter_server's authentication and authorization, as the broker answers them: the user is
the kernel's peer credentials of the connection (``identity``), and the only resource anyone may
touch is the launcher's. There is no token, no cookie and no login page: nothing a caller sends
can make it someone else, so there is no cross-site request to forge either."""

from __future__ import annotations

import socket
from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import IdentityProvider, User
from tornado import web
from traitlets import Unicode, default

from workspace_launcher.api.handlers import AUTH_RESOURCE
from workspace_launcher.broker.identity import Caller, SystemAccounts, identify, overflow_uid, peer_credentials
from workspace_launcher.errors import Forbidden


class PeerIdentityProvider(IdentityProvider):
    """Who is calling, from ``SO_PEERCRED`` on the broker's Unix socket."""

    admin_group = Unicode(
        "wl-admins",
        allow_none=True,
        help="""The OS group whose members are the broker's admins: they see and stop every user's
        workspaces (root always does). None: only root.""",
    ).tag(config=True)

    @default("need_token")
    def _no_token(self) -> bool:
        return False  # the kernel's peer credentials are the credential

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.accounts = SystemAccounts()
        self.unmapped_uid = overflow_uid()

    @property
    def auth_enabled(self) -> bool:
        return True

    @property
    def login_available(self) -> bool:
        return False

    @property
    def logout_available(self) -> bool:
        return False

    def get_handlers(self) -> list[tuple[str, object]]:
        return []  # no login or logout pages: the kernel has already said who calls

    def caller(self, handler: web.RequestHandler) -> Caller:
        stream = getattr(handler.request.connection, "stream", None)
        sock = getattr(stream, "socket", None)
        if sock is None or sock.family != socket.AF_UNIX:
            raise Forbidden("the broker serves callers on its Unix socket only")
        return identify(peer_credentials(sock), self.accounts, admin_group=self.admin_group,
                        unmapped_uid=self.unmapped_uid)

    async def get_user(self, handler: web.RequestHandler) -> User | None:
        try:
            caller = self.caller(handler)
        except Forbidden as e:
            raise web.HTTPError(403, "%s", e.message) from e
        handler.broker_caller = caller  # type: ignore[attr-defined]
        # Not a token, but the same standing: a credential the browser does not send by itself,
        # so jupyter_server's XSRF check (for cookie-borne logins) has nothing to guard.
        handler._token_authenticated = True  # type: ignore[attr-defined]
        return User(username=caller.user, name=caller.user)

    def validate_security(self, app: Any, ssl_options: dict[str, Any] | None = None) -> None:
        """Nothing to warn of: there is no token or password to leave empty."""


class BrokerAuthorizer(Authorizer):
    """Only the launcher's REST API, to anyone the identity provider let in; everything else of
    jupyter_server (kernels, contents, terminals: code run as the broker's user) to no one."""

    def is_authorized(self, handler: web.RequestHandler, user: User, action: str, resource: str) -> bool:
        return resource == AUTH_RESOURCE and getattr(handler, "broker_caller", None) is not None
