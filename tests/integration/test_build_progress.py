"""A launch that builds, on the real engine: the phase names the image building and its step,
the bar moves with the log inside one long step and with the clock through a silent one, and
the next build of that profile is announced with how long and how large the last one was."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from workspace_launcher.engine import spec as specs
from workspace_launcher.workspaces.manager import WorkspaceManager
from workspace_launcher.workspaces.model import Status

from .conftest import make_config

#: A long step that prints (pip-like) and a silent one, each a few seconds.
DOCKERFILE = (
    "ARG JUPYTER_IMAGE\nFROM ${JUPYTER_IMAGE}\nCOPY nonce.txt /tmp/nonce.txt\n"
    'RUN for i in $(seq 1 12); do echo "Collecting package-$i"; sleep 0.25; done\n'
    "RUN sleep 5\n"
)


@pytest.fixture
def building_profile(tmp_path, minimal_image, docker_client):
    context = tmp_path / "building"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "nonce.txt").write_text(secrets.token_hex(8))
    name = f"wltest-builds-{secrets.token_hex(3)}"
    yield name, context
    for image in docker_client.images.list(filters={"label": f"{specs.label('profile')}={name}"}):
        docker_client.images.remove(image.id, force=True)


def launch_and_record(manager: WorkspaceManager, owner: str, profile: str) -> list:
    events: list = []

    async def run():
        workspace = await manager.launch(owner=owner, profile=profile, on_progress=events.append)
        await manager.delete(owner=owner, workspace_id=workspace.id, purge=True)

    asyncio.run(run())
    return [e for e in events if e.status is Status.BUILDING]


def test_a_build_says_what_it_builds_and_keeps_moving(dataset_root, tmp_path, building_profile, test_owner):
    name, context = building_profile
    config = make_config(dataset_root, tmp_path)
    config.ProfileRegistry.extra_profiles = {name: {"display_name": "Builds", "context_dir": str(context)}}
    manager = WorkspaceManager(config=config)
    owner = f"{test_owner}-builds"
    try:
        building = launch_and_record(manager, owner, name)
        messages = [e.message for e in building]
        assert messages[0] == f"building the {name} image"  # nothing known yet: no estimate said
        assert any(m.startswith(f"building the {name} image (step ") for m in messages), messages
        assert not any("Jupyter layer" in m for m in messages)  # the layer exists: only the profile builds
        progress = [e.progress for e in building]
        assert progress == sorted(progress) and 10 <= progress[0] and progress[-1] < 55
        # Inside the printing step, the bar moves with its lines, not only at the next step.
        collecting = [e.progress for e in building if (e.log_line or "").startswith("Collecting package-")]
        assert len(set(collecting)) >= 4, collecting
        last = manager.builder.history.last(name)
        assert last is not None and last.seconds >= 5 and last.size_bytes > 100 * 1024**2

        # A changed context builds again: announced from the last build, and paced by it
        # (quiet clock ticks move the bar through the silent step).
        (context / "nonce.txt").write_text(secrets.token_hex(8))
        estimate = asyncio.run(manager.builder.build_estimate(manager.profiles.get(name)))
        assert estimate.source == "last build" and estimate.seconds == last.seconds
        building = launch_and_record(manager, owner, name)
        assert building[0].message.startswith(f"building the {name} image: ")
        assert building[0].message.endswith("(from its last build)")
        moved_by_clock = [b for a, b in zip(building, building[1:])
                          if b.log_line is None and "(step " in b.message and b.progress > a.progress]
        assert moved_by_clock, [(e.progress, e.log_line, e.message) for e in building]
    finally:
        manager.engine.close()
