"""The notebook widget's import path since the first release, kept for the notebooks that use it
(``from workspace_launcher.widgets import WorkspaceLauncher``); the widget lives in
:mod:`workspace_launcher.notebook.widget`."""

from workspace_launcher.notebook.widget import LauncherClient, WorkspaceLauncher

__all__ = ["LauncherClient", "WorkspaceLauncher"]
