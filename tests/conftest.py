"""Shared test settings: pytest-jupyter's server fixtures for the extension's tests."""

pytest_plugins = ("pytest_jupyter.jupyter_server",)
