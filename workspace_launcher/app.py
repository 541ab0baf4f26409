"""The jupyter_server extension: settings, handlers, start and stop hooks. Nothing else."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Unicode, default

from workspace_launcher.api.handlers import default_handlers as api_handlers
from workspace_launcher.catalog.datasets import DatasetCatalog
from workspace_launcher.catalog.profiles import ProfileRegistry
from workspace_launcher.engine.firewall import WorkspaceNetwork
from workspace_launcher.gpus.allocator import GpuAllocator
from workspace_launcher.gpus.inventory import GpuInventory
from workspace_launcher.images.builder import ImageBuilder
from workspace_launcher.proxy.origins import WorkspaceOrigins
from workspace_launcher.proxy.sessions import WorkspaceSessions
from workspace_launcher.workspaces.culling import IdleCuller
from workspace_launcher.workspaces.manager import WorkspaceManager

EVENT_SCHEMA = Path(__file__).parent / "event_schemas" / "workspace-progress" / "v1.yaml"


class WorkspaceLauncherApp(ExtensionApp):
    """Launch GPU Jupyter workspaces in containers, reached through this server."""

    name = "workspace_launcher"
    # Every configurable an admin may set in jupyter_server_config.py, for --help-all.
    classes = [
        WorkspaceManager, WorkspaceOrigins, WorkspaceSessions, ProfileRegistry, DatasetCatalog, ImageBuilder,
        GpuInventory, GpuAllocator, IdleCuller, WorkspaceNetwork,
    ]

    owner = Unicode(
        help="""Whose workspaces this server shows and launches. Default: the JupyterHub user
        when run by JupyterHub (JUPYTERHUB_USER), else the operating-system user running the
        server. Each owner sees and reaches only their own workspaces.""",
    ).tag(config=True)

    serve_each_caller = Bool(
        False,
        help="""Serve each caller as the owner its identity names, instead of one owner for the
        whole server; no proxy is served. The broker (``workspace-launcher broker``) sets this:
        there the identity is the kernel's peer credentials of the caller.""",
    ).tag(config=True)

    @default("owner")
    def _default_owner(self) -> str:
        return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()

    @property
    def one_owner(self) -> str | None:
        """The owner of everything this server serves; None where each caller is its own."""
        return None if self.serve_each_caller else self.owner

    def initialize_settings(self) -> None:
        manager = WorkspaceManager(parent=self, base_url=self.serverapp.base_url)
        event_logger = getattr(self.serverapp, "event_logger", None)
        if event_logger is not None:
            event_logger.register_event_schema(EVENT_SCHEMA)
            manager.event_logger = event_logger
        self.culler = IdleCuller(parent=self, manager=manager)
        self.origins = WorkspaceOrigins(parent=self)
        sessions = WorkspaceSessions(parent=self)
        manager.ended_callbacks.append(sessions.revoke)  # a stopped workspace's sessions end with it
        self.settings.update(
            workspace_launcher_manager=manager,
            workspace_launcher_owner=self.one_owner,
            workspace_launcher_origins=self.origins, workspace_launcher_sessions=sessions,
        )
        if self.origins.same_origin:
            self.log.warning(
                "workspace_launcher: WorkspaceOrigins.same_origin is on: pages served by workspaces run "
                "with this server's authority in the browser (kernels and terminals here, every workspace)"
            )
        if self.serve_each_caller:
            self.log.info("workspace_launcher: serving each caller as its own owner, %d profiles",
                          len(manager.profiles.all()))
            return
        self.log.info("workspace_launcher: owner %s, %d profiles, workspaces at %s", self.owner,
                      len(manager.profiles.all()), "this origin" if self.origins.same_origin else self.origins.url_template)

    def initialize_handlers(self) -> None:
        from workspace_launcher.proxy.host import host_handlers
        from workspace_launcher.proxy.workspace_origin import serve_workspace_origins

        if self.serve_each_caller:  # the broker: the REST API only; the proxy runs in each user's server
            self.handlers.extend(api_handlers)
            return
        self.handlers.extend(api_handlers + host_handlers)
        if not self.origins.same_origin:
            serve_workspace_origins(self.serverapp.web_app, self.origins.template, self.serverapp.base_url)

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        self.settings["workspace_launcher_manager"].watch_engine()
        self.culler.start(owner=self.one_owner)

    async def stop_extension(self) -> None:
        from workspace_launcher.proxy.client import close as close_proxy

        await self.culler.stop()
        # Launches in flight are cancelled and their half-made containers removed: a launch no
        # server owns would otherwise hold its GPUs until its deadline passes.
        await self.settings["workspace_launcher_manager"].shutdown()
        await close_proxy()
        self.settings["workspace_launcher_manager"].engine.close()
