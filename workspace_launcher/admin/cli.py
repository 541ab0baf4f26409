"""The admin and power-user command line: `workspace-launcher ...` (its configuration: see
:mod:`workspace_launcher.admin.cli_support`). The ``models``, ``network`` and ``snapshots``
groups live in their own modules and are added here."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from workspace_launcher import __version__
from workspace_launcher.admin.cli_broker import broker
from workspace_launcher.admin.cli_models import models
from workspace_launcher.admin.cli_network import network
from workspace_launcher.admin.cli_progress import follow_build, follow_launch
from workspace_launcher.admin.cli_snapshots import snapshots
from workspace_launcher.admin.cli_support import (  # noqa: F401  (load_config, open_link: the CLI's API)
    Context,
    console,
    in_context,
    load_config,
    open_link,
    out,
    print_listing,
    say,
)
from workspace_launcher.errors import InvalidRequest


@click.group()
@click.version_option(__version__)
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="Extra config file (.py or .json).")
@click.option("--owner", default=getpass.getuser, show_default="the current user", help="Whose workspaces to act on.")
@click.pass_context
def main(ctx: click.Context, config_file: str | None, owner: str) -> None:
    """Build workspace images and launch GPU Jupyter workspaces on this host's Docker engine."""
    ctx.obj = Context(config_file, owner)


# -- doctor ----------------------------------------------------------------------------------
@main.command()
@click.pass_obj
def doctor(obj: Context) -> None:
    """Check this host: engine, GPU runtimes, GPUs, base images, disk."""
    from workspace_launcher.admin.doctor import FAIL, evaluate, gather_facts

    colours = {"ok": "green", "warn": "yellow", "fail": "red"}
    checks = evaluate(asyncio.run(gather_facts(obj.manager)))
    for check in checks:  # continuation lines under the name, and under the fix's text
        say(f"{check.name}: {check.detail}", prefix=f"{check.level:>4}", style=colours[check.level], indent=5)
        if check.fix and check.level != "ok":
            say(f"       fix: {check.fix}", indent=12)
    sys.exit(1 if any(c.level == FAIL for c in checks) else 0)


# -- images ----------------------------------------------------------------------------------
@main.group()
def images() -> None:
    """Base images, profile images and snapshots."""


@images.command("bootstrap-base")
@click.option("--suite", default="bookworm", show_default=True, help="Debian suite to bootstrap.")
@click.option("--mirror", default=None, help="Package mirror (default: the host's apt mirror).")
@click.option("--tag", default=None, help="Image reference to create (default: ImageBuilder.base_image).")
@click.option("--if-missing", is_flag=True, help="Do nothing when the image already exists.")
@in_context
def bootstrap_base_command(obj: Context, suite: str, mirror: str | None, tag: str | None, if_missing: bool) -> None:
    """Make an OS base image from the distribution mirror (debootstrap), with no registry."""
    from workspace_launcher.engine.images import inspect_image
    from workspace_launcher.images.bootstrap import bootstrap_base

    tag = tag or obj.manager.builder.base_image
    if if_missing and inspect_image(obj.manager.engine, tag) is not None:
        say(f"{tag} already present", to=console)
        return
    with console.status(f"bootstrapping {suite} into {tag}") as status:
        image_id = bootstrap_base(
            engine=obj.manager.engine, suite=suite, mirror=mirror, tag=tag,
            on_log=lambda line: status.update(f"bootstrapping {suite}: {line[:80]}"),
        )
    say(f"{tag} {image_id}")


@images.command("build")
@click.argument("profiles", nargs=-1)
@click.option("--all", "build_all", is_flag=True, help="Build every profile.")
@in_context
def build_command(obj: Context, profiles: tuple[str, ...], build_all: bool) -> None:
    """Build (or reuse) the image of each named profile."""
    manager = obj.manager
    names = sorted(manager.profiles.all()) if build_all else list(profiles)
    if not names:
        raise click.UsageError("name at least one profile, or pass --all")
    for name in names:
        profile = manager.profiles.get(name)
        with follow_build(console, name) as on_log:
            built = asyncio.run(manager.builder.ensure(profile, on_log=on_log))
        say(f"{name}: {built.tag} ({'built' if built.built else 'reused'})")


@images.command("lock")
@click.option("--pull", is_flag=True, help="Pull pinnable bases that are missing locally first.")
@in_context
def lock_command(obj: Context, pull: bool) -> None:
    """Resolve every profile's base image and write the lock file (commit it)."""
    from workspace_launcher.images.pinning import resolve_locks, write_lock

    builder = obj.manager.builder
    lock = asyncio.run(resolve_locks(builder, obj.manager.profiles.all().values(), pull=pull, previous=builder.lock()))
    write_lock(builder.lock_file, lock)
    print_listing(False, sorted(lock.profiles.items()), ("profile", "base image", "digest", "locked at"),
                  lambda item: (item[0], item[1].base_image, item[1].digest, item[1].locked_at),
                  whole=("base image", "digest"))
    say(f"wrote {builder.lock_file}")


@images.command("list")
@click.option("--json", "as_json", is_flag=True)
@in_context
def list_images_command(obj: Context, as_json: bool) -> None:
    """Images the launcher built, and snapshots."""
    rows = asyncio.run(obj.manager.builder.list_images())
    print_listing(as_json, rows, ("tag", "role", "profile", "created", "size"), lambda row: (
        str(row.get("tag")), str(row.get("role", "")), str(row.get("profile", "")),
        str(row.get("created", "")), f"{row['size'] / 1e6:.0f} MB" if row.get("size") else "",
    ), whole=("tag",))


# -- datasets --------------------------------------------------------------------------------
@main.group()
def datasets() -> None:
    """The dataset catalog."""


@datasets.command("list")
@in_context
def list_datasets_command(obj: Context) -> None:
    """Datasets users can mount."""
    print_listing(False, obj.manager.datasets.describe(), ("name", "mounted at", "description"),
                  lambda entry: (entry["name"], entry["mount_path"], entry["description"]), whole=("name", "mounted at"))


@datasets.command("add")
@click.argument("name")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--description", default="", help="What users see next to the name.")
@in_context
def add_dataset_command(obj: Context, name: str, path: str, description: str) -> None:
    """Register a host directory (under an allowed root) as a read-only dataset."""
    obj.manager.datasets.register(name, path=os.path.abspath(path), description=description)
    say(f"registered {name} -> /datasets/{name}")


@datasets.command("create-demo")
@click.argument("name", default="demo-shapes")
@click.option("--root", default=None, help="Parent directory (default: DatasetCatalog.managed_root).")
@click.option("--train", default=None, type=int, help="Training images.")
@click.option("--test", "test_count", default=None, type=int, help="Test images.")
@click.option("--seed", default=0, show_default=True, type=int)
@in_context
def create_demo_command(obj: Context, name: str, root: str | None, train: int | None, test_count: int | None, seed: int) -> None:
    """Generate a small synthetic object-detection dataset (COCO JSON) and register it."""
    from workspace_launcher.demo.data import DemoDataError, create_demo_dataset
    from workspace_launcher.workspaces.validation import validate_name

    catalog = obj.manager.datasets
    validate_name(name, field="name")
    dest = Path(root or catalog.managed_root) / name
    sizes = {k: v for k, v in (("train", train), ("test", test_count)) if v is not None}
    try:
        with console.status(f"generating {dest}"):
            summary = create_demo_dataset(dest, seed=seed, **sizes)
    except (DemoDataError, ValueError, OSError) as e:
        raise InvalidRequest(str(e)) from e
    counts = "/".join(str(summary["splits"][s]["images"]) for s in ("train", "test"))
    description = f"Synthetic shapes ({', '.join(summary['classes'])}): {counts} train/test images, COCO JSON"
    catalog.register(name, path=str(dest), description=description)
    say(f"created {dest} and registered it as dataset {name!r} (mounted at /datasets/{name})")


# -- workspaces ------------------------------------------------------------------------------
@main.group()
def workspaces() -> None:
    """Launch and manage workspaces."""


def _parse_gpus(value: str) -> object:
    if value.isdigit():
        return int(value)
    if value.startswith("-") and value[1:].isdigit():
        return int(value)  # rejected with a clear message by the manager
    if value in ("all", "none"):
        return value
    return [v for v in value.split(",") if v]


@workspaces.command("launch")
@click.option("--profile", "-p", required=True, help="Profile name (see 'images build --all').")
@click.option("--gpus", default="0", show_default=True, help="0, a count, 'all', or comma-separated GPU uuids.")
@click.option("--dataset", "-d", "datasets", multiple=True, help="Dataset to mount read-only (repeatable).")
@click.option("--name", default=None, help="Workspace name (lowercase letters, digits, hyphens).")
@click.option("--cpus", default=None, help="CPU limit, e.g. 2 or 0.5.")
@click.option("--memory", default=None, help="Memory limit, e.g. 8g.")
@click.option("--shm-size", default=None, help="Shared memory, e.g. 1g.")
@click.option("--snapshot", default=None, help="Launch a snapshot image instead of the profile's image.")
@click.option("--deterministic", is_flag=True, help="Set the frameworks' deterministic switches and the seed.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed exported with --deterministic.")
@click.option("--env", "env_pairs", multiple=True, metavar="NAME=VALUE", help="Extra variable allowed by the admin (repeatable).")
@click.option("--open-demo", is_flag=True, help="Point the printed URL at the profile's demo notebook (only profiles with a demo, e.g. pytorch).")
@click.option("--json", "as_json", is_flag=True, help="Print the workspace as JSON.")
@in_context
def launch_command(obj: Context, profile, gpus, datasets, name, cpus, memory, shm_size, snapshot, deterministic, seed, env_pairs, open_demo, as_json) -> None:
    """Launch a workspace and wait until its Jupyter answers."""
    manager = obj.manager
    bad = [pair for pair in env_pairs if "=" not in pair]
    if bad:
        raise InvalidRequest(f"--env takes NAME=VALUE, got {bad[0]!r}", field="env")
    env = dict(pair.split("=", 1) for pair in env_pairs)
    # With --json, stdout is the workspace alone; the phases go to stderr as plain lines.
    with follow_launch(console, plain=as_json) as on_progress:
        workspace = asyncio.run(
            manager.launch(
                owner=obj.owner, profile=profile, gpus=_parse_gpus(gpus), datasets=list(datasets), name=name,
                cpus=cpus, memory=memory, shm_size=shm_size, snapshot=snapshot, on_progress=on_progress,
                deterministic=deterministic, seed=seed, env=env, open_demo=open_demo,
            )
        )
    if as_json:
        out.print_json(json.dumps(workspace.to_dict()))
    else:
        say(f"{workspace.id} {workspace.name} is running; open it at {open_link(workspace.id)}")


@workspaces.command("list")
@click.option("--all-owners", is_flag=True, help="Every owner's workspaces (admin).")
@click.option("--json", "as_json", is_flag=True)
@in_context
def list_command(obj: Context, all_owners: bool, as_json: bool) -> None:
    """Your workspaces, read from the engine."""
    found = asyncio.run(obj.manager.list(owner=None if all_owners else obj.owner))
    print_listing(
        as_json, found, ("id", "name", "owner", "profile", "status", "gpus", "datasets", "created"),
        lambda w: (w.id, w.name, w.owner, w.profile, w.status.value, str(len(w.gpus)), ", ".join(w.datasets), w.created),
        to_json=lambda w: w.to_dict(), whole=("id",),
    )


def _workspace_action(name: str, help_text: str, method: str, printer: Callable) -> None:
    @workspaces.command(name, help=help_text)
    @click.argument("workspace_id")
    @in_context
    def command(obj: Context, workspace_id: str) -> None:
        result = asyncio.run(getattr(obj.manager, method)(owner=obj.owner, workspace_id=workspace_id))
        printer(result)


_workspace_action("stop", "Stop a workspace (GPUs freed, volumes kept).", "stop", lambda w: say(f"{w.id} {w.status.value}"))
_workspace_action("start", "Start a stopped workspace on the same GPUs.", "start", lambda w: say(f"{w.id} {w.status.value}"))


@workspaces.command("rm")
@click.argument("workspace_id")
@click.option("--purge", is_flag=True, help="Also delete its work volume (never the model volume: see 'models rm').")
@in_context
def rm_command(obj: Context, workspace_id: str, purge: bool) -> None:
    """Delete a workspace. Its work volume is kept unless --purge; the owner's model volume
    always stays ('workspace-launcher models rm OWNER' deletes it)."""
    removed = asyncio.run(obj.manager.delete(owner=obj.owner, workspace_id=workspace_id, purge=purge))
    say(f"{workspace_id} deleted" + (f"; removed volume: {', '.join(removed)}" if removed else "; volumes kept")
        + "; the model volume stays")


@workspaces.command("logs")
@click.argument("workspace_id")
@click.option("--tail", default=200, show_default=True, type=int)
@in_context
def logs_command(obj: Context, workspace_id: str, tail: int) -> None:
    """The workspace container's log."""
    click.echo(asyncio.run(obj.manager.logs(owner=obj.owner, workspace_id=workspace_id, tail=tail)), nl=False)


@workspaces.command("snapshot")
@click.argument("workspace_id")
@click.option("--tag", default=None, help="Snapshot tag (default: name and time).")
@in_context
def snapshot_command(obj: Context, workspace_id: str, tag: str | None) -> None:
    """Save the workspace's environment (not its volumes) as an image you can launch later."""
    say(asyncio.run(obj.manager.snapshot(owner=obj.owner, workspace_id=workspace_id, tag=tag)))


main.add_command(broker)
main.add_command(models)
main.add_command(network)
main.add_command(snapshots)

if __name__ == "__main__":  # pragma: no cover
    # Run as `python -m`, this file is __main__: use the package's group, which has every command.
    from workspace_launcher.admin.cli import main as package_main

    package_main(prog_name="workspace-launcher")
