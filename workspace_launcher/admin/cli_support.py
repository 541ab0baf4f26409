"""What every ``workspace-launcher`` command shares: the consoles, the configuration (read as the
server reads it), the manager it acts through, how errors end a command and how lists print.

It reads the same settings as the server extension, from the same files in the Jupyter config
path (jupyter_config, jupyter_server_config and jupyter_workspace_launcher_config, .py and
.json) in the server's order, plus --config FILE over them, so what an admin configures once
applies to both. The drop-in jupyter_server_config.d directories are not read: the server takes
only ServerApp.jpserver_extensions (which extensions to load) from them, nothing the CLI uses.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import click
from jupyter_core.application import JupyterApp
from rich.console import Console
from rich.table import Table
from traitlets.config import Config
from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

from workspace_launcher.errors import LauncherError, exit_status

T = TypeVar("T")

console = Console(stderr=True)
out = Console()


def open_link(workspace_id: str) -> str:
    """Where a browser opens a workspace: the handshake URL of a running Jupyter server here
    (it checks the login, then sends the browser to the workspace's own origin)."""
    from jupyter_server.serverapp import list_running_servers

    from workspace_launcher.proxy.origins import open_url

    for server in list_running_servers():
        return server["url"].rstrip("/") + open_url("/", workspace_id)
    return f"{open_url('/', workspace_id)} on your Jupyter server (or from JupyterLab's GPU Workspaces panel)"


#: The extension's own config file, as ExtensionApp names it: jupyter_{WorkspaceLauncherApp.name}_config.
EXTENSION_CONFIG_FILE = "jupyter_workspace_launcher_config"


def _jupyter_app_config(config_file_name: str) -> Config:
    """jupyter_config, then config_file_name, from the Jupyter config path, as a JupyterApp
    (ServerApp, ExtensionApp) loads its files: lowest-priority directory first, .json over .py."""
    # Raise, where the server logs and skips: a CLI acting on half its settings would surprise.
    app = JupyterApp(config_file_name=config_file_name, raise_config_file_errors=True)
    app.load_config_file(suppress_errors=False)
    return app.config


def load_config(extra_file: str | None) -> Config:
    """The configuration the server extension's configurables get, then ``extra_file`` over it."""
    # As ExtensionApp._link_jupyter_server_extension does: the extension's files first, then the
    # ServerApp's config merged over them, so jupyter_server_config > jupyter_config >
    # jupyter_workspace_launcher_config. ServerApp.jpserver_extensions, the only setting the
    # server takes from jupyter_server_config.d, does not concern the CLI.
    config = _jupyter_app_config(EXTENSION_CONFIG_FILE)
    config.merge(_jupyter_app_config("jupyter_server_config"))
    if extra_file:
        path = Path(extra_file).resolve()
        loader = JSONFileConfigLoader if path.suffix == ".json" else PyFileConfigLoader
        config.merge(loader(path.name, str(path.parent)).load_config())
    return config


class Context:
    def __init__(self, config_file: str | None, owner: str) -> None:
        self.config_file = config_file
        self.owner = owner
        self._manager = None

    @property
    def manager(self):
        if self._manager is None:
            from workspace_launcher.workspaces.manager import WorkspaceManager

            self._manager = WorkspaceManager(config=load_config(self.config_file))
        return self._manager


def handles_errors(fn: Callable) -> Callable:
    """Launcher errors become one clear line on stderr and the exit status of their kind
    (errors.EXIT_STATUS: 2 bad input, 3 not found, 4 conflict, 5 engine unreachable, 1 other),
    not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LauncherError as e:
            console.print(f"[red]error:[/red] {e.message}", highlight=False)
            if e.log_tail:
                console.print("[dim]--- log tail ---[/dim]")
                console.print(e.log_tail, markup=False, highlight=False)
            sys.exit(exit_status(e))

    return wrapper


def in_context(fn: Callable) -> Callable:
    """A subcommand's body: it gets the :class:`Context` (owner, manager), and launcher errors
    become one line and their exit status (:func:`handles_errors`)."""
    return click.pass_obj(handles_errors(fn))


def print_listing(as_json: bool, items: Sequence[T], columns: Sequence[str], row: Callable[[T], Sequence[str]], *,
                  to_json: Callable[[T], object] = lambda item: item, fold: Sequence[str] = ()) -> None:
    """A list command's answer: the items as JSON (``to_json`` of each), or a table of ``columns``
    with one ``row`` per item; the ``fold`` columns wrap rather than cut, so they copy whole."""
    if as_json:
        out.print_json(json.dumps([to_json(item) for item in items], default=str))
        return
    table = Table(*columns)
    for name in fold:
        table.columns[columns.index(name)].overflow = "fold"
    for item in items:
        table.add_row(*row(item))
    out.print(table)
