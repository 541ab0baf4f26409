"""The workspaces: their lifecycle (the manager), the launch request and its pure validation,
the workspace model and its phases, how to reach a workspace (upstream routes), readiness and
idle culling.

May import: ``engine`` (through its protocol), ``gpus``, ``images``, ``catalog``, ``errors``.
Never the handlers (``api``, ``proxy``) that sit above it."""
