"""Unit tests of workspace_launcher.demo: one test module per module of the package."""
