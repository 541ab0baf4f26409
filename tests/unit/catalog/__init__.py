"""Unit tests of workspace_launcher.catalog: one test module per module of the package."""
