"""What an admin offers: profiles (framework images and their GPU needs) and shared datasets.

May import: ``errors``, ``workspaces.validation`` (names and host paths), ``engine.spec`` (how a
dataset is mounted)."""
