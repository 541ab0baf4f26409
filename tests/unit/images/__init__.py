"""Unit tests of workspace_launcher.images: one test module per module of the package."""
