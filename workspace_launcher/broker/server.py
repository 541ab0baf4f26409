"""``workspace-launcher broker``: a jupyter_server that serves only the launcher's REST API, on a
Unix socket, to each caller as the OS user the kernel names.

It is the one process of a shared server that holds the engine, so it serves nothing that runs
code: none of jupyter_server's own services (kernels, contents, terminals) and no other server
extension, and its authorizer allows the launcher's resource only, so even a handler that got in
another way would answer 403. It runs as root (or an engine-holding service user); its socket's
directory is made root-owned, and the socket's group and mode are the admin's.
"""

from __future__ import annotations

import grp
import os
from pathlib import Path
from typing import Any

from jupyter_server.serverapp import ServerApp
from traitlets import Unicode, default

from workspace_launcher.broker.auth import BrokerAuthorizer, PeerIdentityProvider
from workspace_launcher.errors import ConfigError

DEFAULT_SOCKET = "/run/workspace-launcher/broker.sock"


class BrokerServer(ServerApp):
    """The broker: the launcher's REST API on a Unix socket, callers known by SO_PEERCRED."""

    name = "workspace-launcher-broker"
    description = "Serve the workspace launcher's REST API to this host's users on a Unix socket."
    # None of jupyter_server's services: each would let a caller run code as the broker's user.
    default_services = ()

    socket_group = Unicode(
        None,
        allow_none=True,
        help="""The group the broker's socket belongs to. With ``sock_mode`` 0660 only its members
        (and root) can reach the broker; with the default 0666 every user of the host can, each
        only ever as themselves.""",
    ).tag(config=True)

    @default("sock")
    def _default_sock(self) -> str:
        return DEFAULT_SOCKET

    @default("sock_mode")
    def _default_sock_mode(self) -> str:
        return "0666"

    @default("identity_provider_class")
    def _default_identity_provider_class(self) -> type:
        return PeerIdentityProvider

    @default("authorizer_class")
    def _default_authorizer_class(self) -> type:
        return BrokerAuthorizer

    @default("allow_root")
    def _default_allow_root(self) -> bool:
        return True  # it holds the engine, which is root already

    @default("open_browser")
    def _default_open_browser(self) -> bool:
        return False

    def find_server_extensions(self) -> None:
        """The launcher alone, whatever extensions this host's Jupyter config enables."""
        self.jpserver_extensions = {"workspace_launcher": True}

    def init_server_extensions(self) -> None:
        self.config.WorkspaceLauncherApp.serve_each_caller = True
        super().init_server_extensions()

    def initialize(self, argv: Any = None, **kwargs: Any) -> None:
        super().initialize(argv, **kwargs)
        self._make_socket_directory()

    def _bind_http_server_unix(self) -> bool:
        bound = super()._bind_http_server_unix()
        if bound:
            self._own_socket()
        return bound

    def _make_socket_directory(self) -> None:
        """The socket's directory, made if missing: writable by its owner only, so no one else
        can put a socket of their own in the broker's place."""
        directory = Path(self.sock).parent
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        info = directory.stat()
        if info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise ConfigError(f"{directory} must belong to the broker's user and be writable by it alone "
                              f"(it is uid {info.st_uid}, mode {oct(info.st_mode & 0o777)}); fix it or choose "
                              "another ServerApp.sock")

    def _own_socket(self) -> None:
        if self.socket_group is None or not os.path.exists(self.sock):
            return
        try:
            gid = grp.getgrnam(self.socket_group).gr_gid
        except KeyError:
            raise ConfigError(f"BrokerServer.socket_group: no group {self.socket_group!r} on this host") from None
        os.chown(self.sock, -1, gid)  # the mode is ServerApp.sock_mode already, set at bind

