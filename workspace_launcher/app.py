"""The jupyter_server extension: settings, handlers, start and stop hooks. Nothing else."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp

from .datasets import DatasetCatalog
from .gpus import GpuAllocator, GpuInventory
from .images import ImageBuilder
from .profiles import ProfileRegistry
from .workspaces import WorkspaceManager


class WorkspaceLauncherApp(ExtensionApp):
    """Launch GPU Jupyter workspaces in containers, reached through this server."""

    name = "workspace_launcher"
    # Every configurable an admin may set in jupyter_server_config.py, for --help-all.
    classes = [WorkspaceManager, ProfileRegistry, DatasetCatalog, ImageBuilder, GpuInventory, GpuAllocator]

    def initialize_settings(self) -> None:
        manager = WorkspaceManager(parent=self, base_url=self.serverapp.base_url)
        self.settings["workspace_launcher_manager"] = manager
        self.log.info("workspace_launcher: %d profiles available", len(manager.profiles.all()))

    def initialize_handlers(self) -> None:
        # The REST API and the proxy are added by the extension's handlers module.
        pass

    async def stop_extension(self) -> None:
        manager = self.settings.get("workspace_launcher_manager")
        if manager is not None:
            manager.engine.close()
