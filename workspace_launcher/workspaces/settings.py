"""The admin's settings of every workspace: its limits, its launch timeout, the demo notebooks it
starts with and where it is served, as ``WorkspaceManager.*`` configuration.

The manager inherits them. This class is a plain ``HasTraits`` mixin, not a Configurable, so
the keys, ``--help-all`` and generated config files all say ``c.WorkspaceManager.<name>``
(how the manager itself keeps state and reaches workspaces is configured on the manager). :meth:`WorkspaceSettings.launch_policy` hands the
limits to the pure launch validation.
"""

from __future__ import annotations

from traitlets import Float, HasTraits, Int, List, Unicode, default, validate

from workspace_launcher.catalog.profiles import PACKAGED_IMAGES_DIR
from workspace_launcher.workspaces.launch_request import LaunchPolicy
from workspace_launcher.workspaces.validation import parse_size


class WorkspaceSettings(HasTraits):
    """What an admin sets about every workspace (configured as ``WorkspaceManager.*``)."""

    base_url = Unicode(
        "/",
        help="""The host Jupyter server's base URL; workspaces are served under
        <base_url>workspace-launcher/workspaces/<id>/. Set from the server automatically.""",
    ).tag(config=True)

    launch_timeout = Float(
        120.0,
        help="""Seconds a new workspace's Jupyter has to answer /api/status before the launch
        fails (with the container's log tail) and the container is removed. Image builds do
        not count against it. Default: 120.""",
    ).tag(config=True)

    default_cpus = Float(
        0.0,
        help="""CPUs a workspace may use when the launch does not say (fractions allowed).
        0 (the default) means no limit. Example: 4""",
    ).tag(config=True)

    max_cpus = Float(
        0.0,
        help="""The most CPUs a launch may ask for. 0 (the default) means up to the host's
        CPU count.""",
    ).tag(config=True)

    default_memory = Unicode(
        "",
        help="""Memory limit of a workspace when the launch does not say, e.g. "16g".
        Empty (the default) means no limit.""",
    ).tag(config=True)

    max_memory = Unicode(
        "",
        help="""The most memory a launch may ask for, e.g. "64g". Empty (the default) means
        no policy limit.""",
    ).tag(config=True)

    max_shm_size = Unicode(
        "",
        help="""The largest /dev/shm a launch may ask for (shm_size), e.g. "16g". Shared memory
        is charged to the host's RAM, so it is never above the workspace's memory limit either.
        Empty (the default) means half of this host's memory.""",
    ).tag(config=True)

    pids_limit = Int(
        4096,
        help="""Most processes and threads one workspace may run (protects the host from fork
        bombs). 0 disables the limit. Default: 4096.""",
    ).tag(config=True)

    demo_dir = Unicode(
        help="""Directory copied into every new workspace's work directory (the demo
        notebooks). Copied only into a freshly created work volume, never over a user's
        files. Default: the demos shipped with the package; "" copies nothing.""",
    ).tag(config=True)

    @default("demo_dir")
    def _default_demo_dir(self) -> str:
        return str(PACKAGED_IMAGES_DIR / "demos")

    allowed_env = List(
        Unicode(),
        help="""Environment variables users may set at launch (the 'env' field), as names or
        shell patterns. Default: none. The launcher's own variables (JUPYTER_*, WORKSPACE_*,
        NVIDIA_*, CUDA_VISIBLE_DEVICES, LD_*, PATH, HOME) can never be set.
        Example: ["WANDB_*", "HF_HOME", "OMP_NUM_THREADS"]""",
    ).tag(config=True)

    @validate("default_memory", "max_memory", "max_shm_size")
    def _check_memory(self, proposal):
        if proposal["value"]:
            parse_size(proposal["value"], field=f"WorkspaceManager.{proposal['trait'].name}")
        return proposal["value"]

    def workspace_base_url(self, workspace_id: str) -> str:
        """Where the host serves the workspace (its Jupyter's own base URL too)."""
        base = self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        return f"{base}workspace-launcher/workspaces/{workspace_id}/"

    def launch_policy(self) -> LaunchPolicy:
        """These settings as the limits of one launch."""
        return LaunchPolicy(
            default_cpus=self.default_cpus, max_cpus=self.max_cpus, default_memory=self.default_memory,
            max_memory=self.max_memory, max_shm_size=self.max_shm_size, pids_limit=self.pids_limit,
            allowed_env=tuple(self.allowed_env),
        )
