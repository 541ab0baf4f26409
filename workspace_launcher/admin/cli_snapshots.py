"""`workspace-launcher snapshots ...`: your snapshots (a workspace's environment committed as an
image; `workspaces snapshot ID` takes one). Only their owner lists, launches or deletes them: a
snapshot holds its owner's home."""

from __future__ import annotations

import asyncio

import click

from workspace_launcher.admin.cli_support import Context, in_context, print_listing, say


@click.group()
def snapshots() -> None:
    """Your snapshots: launch one with 'workspaces launch PROFILE --snapshot IMAGE'."""


@snapshots.command("list")
@click.option("--json", "as_json", is_flag=True)
@in_context
def list_snapshots_command(obj: Context, as_json: bool) -> None:
    """Your snapshots, newest first."""
    found = asyncio.run(obj.manager.snapshots(owner=obj.owner))
    print_listing(  # references and the source id are never cut: they are copied whole, whatever the width
        as_json, found, ("tag", "image", "of workspace", "profile", "created", "size"),
        lambda s: (s.tag, s.image, f"{s.workspace_name} ({s.workspace_id})", s.profile, s.created,
                   f"{s.size_bytes / 1e6:.0f} MB"),
        to_json=lambda s: s.to_dict(), whole=("tag", "image", "of workspace"),
    )


@snapshots.command("rm")
@click.argument("tag")
@in_context
def rm_snapshot_command(obj: Context, tag: str) -> None:
    """Delete your snapshot TAG (the image only: no workspace or volume is touched). Refused while
    a workspace of yours was launched from it."""
    say(f"removed {asyncio.run(obj.manager.delete_snapshot(owner=obj.owner, tag=tag))}")
