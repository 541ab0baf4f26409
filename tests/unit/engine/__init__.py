"""Unit tests of workspace_launcher.engine: one test module per module of the package."""
