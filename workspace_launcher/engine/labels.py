"""The launcher's vocabulary on the engine: every label it writes on containers, volumes, networks
and images, and the few names and numbers the engine's objects are found by.

The strings never change between releases: workspaces, volumes and images made by an earlier
release are found, listed and deleted by these same labels.
"""

from __future__ import annotations

#: The prefix of every label, and the one naming a workspace container (its workspace id).
LABEL = "workspace-launcher"
MANAGED_LABEL = f"{LABEL}.id"
#: The workspace network, and its bridge interface on the host (the firewall rules match it).
NETWORK_NAME = "workspace-launcher"
BRIDGE_NAME = "wl-workspaces"
#: The port the workspace's Jupyter listens on inside its container.
JUPYTER_PORT = 8888


def label(key: str) -> str:
    """``workspace-launcher.<key>``."""
    return f"{LABEL}.{key}"


# -- labels of images ----------------------------------------------------------------------------
#: What built the image: the profile, its build context's content hash, the launcher's version.
IMAGE_PROFILE = label("profile")
IMAGE_CONTEXT_HASH = label("context-hash")
IMAGE_VERSION = label("version")
#: base | jupyter | profile | snapshot (on volumes: work | models; on the network: network).
ROLE = label("role")
#: The base image a profile image was built on: the reference asked for, its digest, its id.
BASE_IMAGE = label("base-image")
BASE_DIGEST = label("base-digest")
BASE_ID = label("base-id")
#: A bootstrapped base image's Debian suite and variant.
BASE_SUITE = label("base-suite")
BASE_VARIANT = label("base-variant")
