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
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import click
from jupyter_core.application import JupyterApp
from rich.console import Console, ConsoleDimensions
from rich.table import Column, Table
from rich.text import Text
from traitlets.config import Config
from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

from workspace_launcher.admin.cli_layout import fit_columns, output_width, records, wrap
from workspace_launcher.errors import LauncherError, exit_status

T = TypeVar("T")


class CliConsole(Console):
    """A rich console as wide as its terminal (or COLUMNS); writing to no terminal (a pipe, a file,
    click's test runner), as wide as the text, so piped output is plain and never wrapped or cut.
    Decided at each write: what the stream is can change after import (click's runner)."""

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        return ConsoleDimensions(output_width(is_terminal=self.is_terminal, columns=os.environ.get("COLUMNS"),
                                              measured=size.width), size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


console = CliConsole(stderr=True)
out = CliConsole()


def say(text: str, *, to: Console | None = None, indent: int = 2, prefix: str = "", style: str = "") -> None:
    """Print a message wrapped at spaces to the width, continuation lines indented; ``prefix``
    (e.g. "error:") in ``style``. Never markup: a message may quote anything."""
    to = to or out
    body = Text(wrap(f"{prefix} {text}" if prefix else text, to.width, indent=indent))
    if prefix:
        body.stylize(style, 0, len(prefix))
    to.print(body, soft_wrap=True)  # soft: a word longer than the line is not cut by rich either


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
            say(e.message, to=console, prefix="error:", style="red", indent=7)
            if e.log_tail:
                console.print("[dim]--- log tail ---[/dim]")
                console.print(e.log_tail, markup=False, highlight=False, soft_wrap=True)
            sys.exit(exit_status(e))

    return wrapper


def in_context(fn: Callable) -> Callable:
    """A subcommand's body: it gets the :class:`Context` (owner, manager), and launcher errors
    become one line and their exit status (:func:`handles_errors`)."""
    return click.pass_obj(handles_errors(fn))


def print_listing(as_json: bool, items: Sequence[T], columns: Sequence[str], row: Callable[[T], Sequence[str]], *,
                  to_json: Callable[[T], object] = lambda item: item, whole: Sequence[str] = ()) -> None:
    """A list command's answer: the items as JSON (``to_json`` of each), or a table of ``columns``
    with one ``row`` per item. The ``whole`` columns (ids, references, paths) never cut a word, so
    they copy whole at any width: the other columns wrap to make room, and a terminal too narrow
    for that gets one "column  value" line each instead (cli_layout)."""
    if as_json:
        out.print_json(json.dumps([to_json(item) for item in items], default=str))
        return
    rows = [[str(cell) for cell in row(item)] for item in items]
    widths = fit_columns(columns, rows, whole=[name in whole for name in columns], width=out.width)
    if widths is None:
        out.print(Text(records(columns, rows, width=out.width) if rows else "(none)"), soft_wrap=True)
        return
    table = Table(*(Column(name, width=width, overflow="fold") for name, width in zip(columns, widths)))
    for cells in rows:
        table.add_row(*(Text(cell) for cell in cells))  # Text: a cell is data, never markup
    out.print(table)
