"""Build contexts of the workspace images, shipped as package data ``workspace_launcher._images``."""
