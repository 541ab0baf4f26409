"""workspace_launcher: one-click GPU Jupyter workspaces in containers."""

from workspace_launcher._version import __version__


def _jupyter_server_extension_points() -> list[dict]:
    from workspace_launcher.app import WorkspaceLauncherApp

    return [{"module": "workspace_launcher", "app": WorkspaceLauncherApp}]


__all__ = ["__version__"]
