"""``workspace-launcher broker``: run the privileged broker of a shared server (as root, under
systemd in production: see the README's "Shared servers and JupyterHub")."""

from __future__ import annotations

import click


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.argument("server_args", nargs=-1, type=click.UNPROCESSED)
def broker(server_args: tuple[str, ...]) -> None:
    """Serve the launcher's REST API to this host's users on a Unix socket.

    Each caller is the OS user the kernel names for the connection (SO_PEERCRED). Options are
    jupyter_server's, e.g. --ServerApp.sock=/run/workspace-launcher/broker.sock,
    --BrokerServer.socket_group=ml, --PeerIdentityProvider.admin_group=wl-admins, --help-all.
    """
    from workspace_launcher.broker.server import BrokerServer

    BrokerServer.launch_instance(argv=list(server_args))
