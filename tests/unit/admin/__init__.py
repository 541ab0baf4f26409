"""Unit tests of workspace_launcher.admin: one test module per module of the package."""
