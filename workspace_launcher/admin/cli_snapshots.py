"""`workspace-launcher snapshots ...`: your snapshots (a workspace's environment committed as an
image; `workspaces snapshot ID` takes one). Only their owner lists, launches or deletes them: a
snapshot holds its owner's home."""

from __future__ import annotations

import asyncio
import json

import click
from rich.table import Table

from workspace_launcher.admin.cli_support import Context, in_context, out


@click.group()
def snapshots() -> None:
    """Your snapshots: launch one with 'workspaces launch PROFILE --snapshot IMAGE'."""


@snapshots.command("list")
@click.option("--json", "as_json", is_flag=True)
@in_context
def list_snapshots_command(obj: Context, as_json: bool) -> None:
    """Your snapshots, newest first."""
    found = asyncio.run(obj.manager.snapshots(owner=obj.owner))
    if as_json:
        out.print_json(json.dumps([s.to_dict() for s in found]))
        return
    table = Table("tag", "image", "of workspace", "profile", "created", "size")
    table.columns[1].overflow = "fold"  # a reference is copied whole, whatever the width
    for s in found:
        table.add_row(s.tag, s.image, f"{s.workspace_name} ({s.workspace_id})", s.profile, s.created,
                      f"{s.size_bytes / 1e6:.0f} MB")
    out.print(table)


@snapshots.command("rm")
@click.argument("tag")
@in_context
def rm_snapshot_command(obj: Context, tag: str) -> None:
    """Delete your snapshot TAG (the image only: no workspace or volume is touched). Refused while
    a workspace of yours was launched from it."""
    out.print(f"removed {asyncio.run(obj.manager.delete_snapshot(owner=obj.owner, tag=tag))}")
