"""`workspace-launcher models ...`: the owners' model volumes, the only command that deletes one.

A workspace delete (even with --purge) never touches the model volume: it holds every model its
owner saved under /models, from every workspace, so removing it is a separate act that names it.
"""

from __future__ import annotations

import asyncio

import click

from workspace_launcher.admin.cli_support import Context, in_context, print_listing, say


@click.group()
def models() -> None:
    """Model volumes (/models in every workspace of an owner)."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
@in_context
def list_models_command(obj: Context, as_json: bool) -> None:
    """Every owner's model volume and the workspaces that mount it."""
    volumes = asyncio.run(obj.manager.model_volumes())
    print_listing(as_json, volumes, ("owner", "volume", "mounted by", "created"),
                  lambda v: (v["owner"], v["name"], ", ".join(v["workspaces"]) or "-", v["created"]),
                  whole=("volume", "mounted by"))


@models.command("rm")
@click.argument("owner")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@in_context
def rm_models_command(obj: Context, owner: str, yes: bool) -> None:
    """Delete OWNER's model volume and every model in it (refused while OWNER has workspaces)."""
    if not yes:
        click.confirm(f"Delete every model {owner} saved under /models? This cannot be undone", abort=True)
    name = asyncio.run(obj.manager.remove_model_volume(owner=owner))
    say(f"removed {name}")
