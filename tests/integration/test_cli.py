"""The admin CLI as an admin runs it: a real process, the real engine, one config file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from .conftest import CA_BUNDLE


@pytest.fixture(scope="module")
def cli(tmp_path_factory, dataset_root, minimal_image, test_owner):
    config = tmp_path_factory.mktemp("cli") / "launcher_config.py"
    config.write_text(
        "c.ImageBuilder.extra_ca_bundle = %r\n"
        "c.DatasetCatalog.allowed_roots = [%r]\n"
        "c.DatasetCatalog.datasets = {'demo': {'path': %r, 'description': 'demo'}}\n"
        "c.GpuAllocator.lock_path = %r\n"
        "c.DatasetCatalog.registry_file = %r\n"
        "c.DatasetCatalog.managed_root = %r\n"
        "c.ImageBuilder.lock_file = %r\n"
        % (CA_BUNDLE, str(dataset_root), str(dataset_root / "demo"), str(config.parent / "gpus.lock"),
           str(config.parent / "datasets.json"), str(config.parent / "managed"), str(config.parent / "lock.json"))
    )

    def run(*args: str, owner: str = f"{test_owner}-cli", columns: int | None = None) -> subprocess.CompletedProcess:
        """The CLI, its output piped; ``columns``: the terminal width it is told (COLUMNS)."""
        env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
        if columns is not None:
            env["COLUMNS"] = str(columns)
        return subprocess.run(
            [sys.executable, "-m", "workspace_launcher.admin.cli", "--config", str(config), "--owner", owner, *args],
            capture_output=True, text=True, timeout=300, env=env,
        )

    yield run
    for workspace in json.loads(run("workspaces", "list", "--json").stdout or "[]"):
        run("workspaces", "rm", workspace["id"], "--purge")


def test_doctor_reports_each_check_with_a_verdict(cli, nvidia_runtime):
    result = cli("doctor")
    lines = result.stdout.splitlines()
    assert any(line.strip().startswith("ok engine: Docker") for line in lines), result.stdout
    assert any("base image: workspace-launcher/base:bookworm present" in line for line in lines)
    # Without an NVIDIA runtime: a warning with the fix, not a failure.
    verdict = "ok" if nvidia_runtime else "warn"
    assert any(line.strip().startswith(f"{verdict} nvidia runtime") for line in lines), result.stdout
    if not nvidia_runtime:
        assert "fix: " in result.stdout
    # The tests' workspaces have made the network by now, or not yet: either way a verdict.
    assert any(line.strip().startswith("ok workspace route:") for line in lines), result.stdout
    assert result.returncode == 0


def words(text: str) -> str:
    """Output with the terminal's line wrapping undone."""
    return " ".join(text.split())


def test_launch_list_logs_rm_through_the_cli(cli, docker_client):
    launched = cli("workspaces", "launch", "-p", "minimal", "-d", "demo", "--name", "from-cli", "--json")
    assert launched.returncode == 0, launched.stderr
    workspace = json.loads(launched.stdout)
    assert workspace["status"] == "running" and workspace["datasets"] == ["demo"]
    assert launched.stderr.splitlines()[-1] == "running: running (100%)"  # the phases, off stdout
    listed = json.loads(cli("workspaces", "list", "--json").stdout)
    assert [w["id"] for w in listed] == [workspace["id"]]
    assert "Jupyter Server" in cli("workspaces", "logs", workspace["id"], "--tail", "50").stdout
    stopped = cli("workspaces", "stop", workspace["id"])
    assert stopped.stdout.strip() == f"{workspace['id']} stopped"
    # A snapshot of it, listed with its source and removed by its tag.
    made = cli("workspaces", "snapshot", workspace["id"], "--tag", "wltest-cli").stdout.strip()
    assert made.endswith(":wltest-cli")
    (snapshot,) = json.loads(cli("snapshots", "list", "--json").stdout)
    assert (snapshot["image"], snapshot["workspace_id"], snapshot["workspace_name"]) == (made, workspace["id"], "from-cli")
    assert "wltest-cli" in cli("snapshots", "list").stdout
    assert json.loads(cli("snapshots", "list", "--json", owner="someone-else-entirely").stdout) == []
    assert cli("snapshots", "rm", "wltest-cli").stdout.strip() == f"removed {made}"
    assert json.loads(cli("snapshots", "list", "--json").stdout) == []
    # The model volume goes only by its own command, and not while a workspace mounts it.
    owner = workspace["owner"]
    refused = cli("models", "rm", owner, "--yes")
    assert refused.returncode == 4 and "from-cli" in refused.stderr  # a conflict (errors.EXIT_STATUS) and "delete them first" in words(refused.stderr)
    removed = words(cli("workspaces", "rm", workspace["id"], "--purge").stdout)
    assert f"removed volume: workspace-launcher-work-{workspace['id']}" in removed
    assert "the model volume stays" in removed
    models = json.loads(cli("models", "list", "--json").stdout)
    (mine,) = [m for m in models if m["owner"] == owner]
    assert mine["workspaces"] == []
    gone = cli("models", "rm", owner, "--yes")
    assert gone.returncode == 0 and mine["name"] in gone.stdout
    assert [m for m in json.loads(cli("models", "list", "--json").stdout) if m["owner"] == owner] == []


def test_a_piped_launch_prints_its_phases_and_its_id_lists_whole_at_any_width(cli):
    launched = cli("workspaces", "launch", "-p", "minimal", "--name", "wltest-widths")
    assert launched.returncode == 0, launched.stderr
    phases = [line.split(":")[0] for line in launched.stderr.splitlines()]
    assert phases[0] == "pending" and phases[-1] == "running" and "starting" in phases, launched.stderr
    assert launched.stderr.splitlines()[-1] == "running: running (100%)"
    workspace_id, name, *_ = launched.stdout.split()
    assert re.fullmatch(r"[0-9a-f]{12}", workspace_id) and name == "wltest-widths"
    assert len(launched.stdout.splitlines()) == 1 and "\x1b" not in launched.stdout + launched.stderr
    try:
        narrow = cli("workspaces", "list", columns=40).stdout.splitlines()
        assert f"id        {workspace_id}" in narrow and "name      wltest-widths" in narrow, narrow
        assert max(len(line) for line in narrow) <= 40
        wide = cli("workspaces", "list", columns=200).stdout.splitlines()
        assert any(line.startswith(f"│ {workspace_id} │ wltest-widths ") for line in wide), wide
        assert max(len(line) for line in wide) <= 200
        piped = cli("workspaces", "list").stdout.splitlines()  # no width: one table line per workspace
        assert sum(workspace_id in line and "wltest-widths" in line for line in piped) == 1, piped
        stopped = cli("workspaces", "stop", workspace_id, columns=40)
        assert stopped.stdout == f"{workspace_id} stopped\n"
    finally:
        cli("workspaces", "rm", workspace_id, "--purge")


def test_doctor_wraps_each_check_under_its_name_at_a_narrow_width(cli):
    lines = cli("doctor", columns=40).stdout.splitlines()
    shape = re.compile(r"^(?:(?:  ok|warn|fail) | {5}| {7}fix: | {12})\S")
    assert lines and all(shape.match(line) for line in lines), lines
    assert all(len(line) <= 40 or " " not in line.strip() for line in lines), lines  # longer: one word, whole


@pytest.mark.parametrize(
    "args,words,status",
    [
        (["workspaces", "launch", "-p", "nope"], "unknown profile 'nope'", 2),
        (["workspaces", "launch", "-p", "minimal", "--gpus", "-1"], "gpus", 2),
        (["workspaces", "launch", "-p", "minimal", "--name", "../x"], "lowercase letters", 2),
        (["workspaces", "launch", "-p", "minimal", "-d", "missing"], "unknown dataset 'missing'", 2),
        (["workspaces", "launch", "-p", "minimal", "--open-demo"], "'minimal' (numpy) has no demo notebook", 2),
        (["workspaces", "stop", "../../etc"], "ids are 12 hex digits", 2),
        (["workspaces", "rm", "0123456789ab"], "no workspace 0123456789ab", 3),
        (["models", "rm", "nobody-has-this", "--yes"], "has no model volume", 3),
        (["snapshots", "rm", "Not/A-Tag"], "is not a snapshot tag", 2),
        (["snapshots", "rm", "wltest-never-made"], "no snapshot", 3),
    ],
)
def test_bad_input_is_one_clear_line_and_the_exit_status_of_its_kind(cli, args, words, status):
    """The exit status comes from the same map of causes as the REST statuses (400 -> 2, 404 -> 3)."""
    result = cli(*args)
    assert result.returncode == status, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_images_list_shows_the_launcher_images(cli):
    result = cli("images", "list", "--json")
    assert result.returncode == 0, result.stderr
    roles = {row.get("role") for row in json.loads(result.stdout)}
    assert {"jupyter-layer", "profile"} <= roles


def test_create_demo_dataset_registers_it_and_a_workspace_mounts_it(cli, docker_client):
    created = cli("datasets", "create-demo", "wltest-shapes", "--train", "4", "--test", "2")
    assert created.returncode == 0, created.stderr
    listed = cli("datasets", "list")
    assert "wltest-shapes" in listed.stdout and "/datasets/wltest-shapes" in listed.stdout
    again = cli("datasets", "create-demo", "wltest-shapes")
    assert again.returncode == 2 and "not empty" in again.stderr  # never overwrites data
    launched = cli("workspaces", "launch", "-p", "minimal", "-d", "wltest-shapes", "--json")
    assert launched.returncode == 0, launched.stderr
    workspace = json.loads(launched.stdout)
    container = docker_client.containers.get(f"workspace-launcher-{workspace['id']}")
    result = container.exec_run(["sh", "-c", "ls /datasets/wltest-shapes; cat /datasets/wltest-shapes/train/annotations.json | head -c 20"])
    assert result.exit_code == 0 and b"train" in result.output and b"test" in result.output
    cli("workspaces", "rm", workspace["id"], "--purge")


def test_registering_a_directory_outside_the_allowed_roots_is_refused(cli, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    result = cli("datasets", "add", "wltest-outside", str(outside))
    assert result.returncode == 2 and "outside the allowed dataset roots" in result.stderr


def test_images_lock_writes_a_lock_file_of_every_profile(cli):
    result = cli("images", "lock")
    assert result.returncode == 0, result.stderr
    assert "wrote " in result.stdout and "minimal" in result.stdout
    path = result.stdout.split("wrote ", 1)[1].strip()
    with open(path) as f:
        lock = json.load(f)
    assert "minimal" in json.dumps(lock) and "sha256:" in json.dumps(lock)
