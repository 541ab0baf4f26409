"""Workspace images: build contexts as data and their content hash, the builder's settings,
base-image resolution and pulls, the build pipeline, image references, base-image pinning
(the lock file), and the registry-free base image bootstrap.

May import: ``engine`` (builds and pulls run there), ``catalog`` (profiles), ``errors``."""
