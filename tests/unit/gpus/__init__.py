"""Unit tests of workspace_launcher.gpus: one test module per module of the package."""
