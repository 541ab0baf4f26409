"""Unit tests of workspace_launcher.proxy: one test module per module of the package."""
