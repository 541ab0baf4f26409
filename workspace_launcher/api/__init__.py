"""The REST API: thin tornado handlers under ``{base_url}workspace-launcher/api/``, the views
that turn workspaces into JSON, and the OpenAPI document they answer by.

May import: ``workspaces`` (the manager it calls), ``gpus``, ``catalog``, ``images`` (for their
public types), ``errors``. Never ``engine``: handlers see workspaces, not containers."""
