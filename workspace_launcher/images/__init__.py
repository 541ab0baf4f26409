"""Workspace images: build contexts as data and their content hash, the builder and its
streamed log, image references and pulls, base-image pinning (the lock file), and the
registry-free base image bootstrap.

May import: ``engine`` (builds and pulls run there), ``catalog`` (profiles), ``errors``."""
