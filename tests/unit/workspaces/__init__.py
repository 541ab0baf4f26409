"""Unit tests of workspace_launcher.workspaces: one test module per module of the package."""
