"""Unit tests of workspace_launcher.api: one test module per module of the package."""
