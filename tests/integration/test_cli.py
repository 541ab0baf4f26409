"""The admin CLI as an admin runs it: a real process, the real engine, one config file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import CA_BUNDLE


@pytest.fixture(scope="module")
def cli(tmp_path_factory, dataset_root, minimal_image):
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

    def run(*args: str, owner: str = "wltest-cli") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "workspace_launcher.cli", "--config", str(config), "--owner", owner, *args],
            capture_output=True, text=True, timeout=300,
        )

    yield run
    for workspace in json.loads(run("workspaces", "list", "--json").stdout or "[]"):
        run("workspaces", "rm", workspace["id"], "--purge")


def test_doctor_reports_each_check_with_a_verdict(cli):
    result = cli("doctor")
    lines = result.stdout.splitlines()
    assert any(line.strip().startswith("ok engine: Docker") for line in lines), result.stdout
    assert any("base image: workspace-launcher/base:bookworm present" in line for line in lines)
    # This host has no NVIDIA runtime: a warning with the fix, not a failure.
    assert any(line.strip().startswith("warn nvidia runtime") for line in lines)
    assert "fix: " in result.stdout
    # The tests' workspaces have made the network by now, or not yet: either way a verdict.
    assert any(line.strip().startswith("ok workspace route:") for line in lines), result.stdout
    assert result.returncode == 0


def test_launch_list_logs_rm_through_the_cli(cli, docker_client):
    launched = cli("workspaces", "launch", "-p", "minimal", "-d", "demo", "--name", "from-cli", "--json")
    assert launched.returncode == 0, launched.stderr
    workspace = json.loads(launched.stdout)
    assert workspace["status"] == "running" and workspace["datasets"] == ["demo"]
    listed = json.loads(cli("workspaces", "list", "--json").stdout)
    assert [w["id"] for w in listed] == [workspace["id"]]
    assert "Jupyter Server" in cli("workspaces", "logs", workspace["id"], "--tail", "50").stdout
    stopped = cli("workspaces", "stop", workspace["id"])
    assert stopped.stdout.strip() == f"{workspace['id']} stopped"
    removed = cli("workspaces", "rm", workspace["id"])
    assert "volumes kept" in removed.stdout
    assert docker_client.volumes.get(f"workspace-launcher-work-{workspace['id']}")
    docker_client.volumes.get(f"workspace-launcher-work-{workspace['id']}").remove()


@pytest.mark.parametrize(
    "args,words",
    [
        (["workspaces", "launch", "-p", "nope"], "unknown profile 'nope'"),
        (["workspaces", "launch", "-p", "minimal", "--gpus", "-1"], "gpus"),
        (["workspaces", "launch", "-p", "minimal", "--name", "../x"], "lowercase letters"),
        (["workspaces", "launch", "-p", "minimal", "-d", "missing"], "unknown dataset 'missing'"),
        (["workspaces", "stop", "../../etc"], "ids are 12 hex digits"),
        (["workspaces", "rm", "0123456789ab"], "no workspace 0123456789ab"),
    ],
)
def test_bad_input_is_one_clear_line_and_a_non_zero_exit(cli, args, words):
    result = cli(*args)
    assert result.returncode != 0
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
