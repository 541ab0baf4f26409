"""Snapshots: a valid tag or a clear 400 naming the field, a repository per owner, and only the
owner's snapshots listed (pure: the engine's images are given)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from workspace_launcher.engine.images import Image
from workspace_launcher.errors import InvalidRequest
from workspace_launcher.workspaces.snapshots import (
    SNAPSHOT_REPOSITORY,
    Snapshot,
    remove_snapshot,
    snapshot_repository,
    snapshot_tag,
    snapshots_of,
)
from workspace_launcher.workspaces.validation import owner_slug

NOW = datetime(2026, 12, 2, 18, 5, 9, tzinfo=timezone.utc)


def test_without_a_tag_the_workspace_name_and_the_time_make_one():
    assert snapshot_tag("my-detector", None, NOW) == "my-detector-20261202180509"
    assert snapshot_tag("my-detector", "", NOW) == "my-detector-20261202180509"


def test_a_valid_tag_is_kept():
    assert snapshot_tag("x", "v1.0_final-2", NOW) == "v1.0_final-2"


@pytest.mark.parametrize("tag", ["Upper", "-leading", "a b", "a/b", "x" * 129, 5, ["v1"], "<script>"])
def test_an_invalid_tag_is_a_400_on_the_tag_field(tag):
    with pytest.raises(InvalidRequest, match="is not valid: use up to 128 lowercase") as info:
        snapshot_tag("x", tag, NOW)
    assert info.value.field == "tag"


def test_each_owner_has_a_repository_of_their_own():
    assert snapshot_repository("alice") == f"{SNAPSHOT_REPOSITORY}-{owner_slug('alice')}"
    assert snapshot_repository("alice") != snapshot_repository("bob")
    assert snapshot_repository("Alice@example.org") == f"{SNAPSHOT_REPOSITORY}-{owner_slug('Alice@example.org')}"


def _image(tags, **labels) -> Image:
    base = {"workspace-launcher.role": "snapshot", "workspace-launcher.owner": "alice",
            "workspace-launcher.snapshot-of": "0123456789ab", "workspace-launcher.snapshot-name": "exp-1",
            "workspace-launcher.profile": "pytorch", "workspace-launcher.created": "2026-12-02T18:05:09+00:00"}
    base.update(labels)
    return Image(id="sha256:" + "a" * 64, labels=base, tags=tuple(tags), size=2_500_000_000)


def test_the_owners_snapshots_are_listed_newest_first_with_their_source():
    mine = snapshot_repository("alice")
    older = _image([f"{mine}:first"], **{"workspace-launcher.created": "2026-12-01T00:00:00+00:00"})
    newer = _image([f"{mine}:second"])
    found = snapshots_of([older, newer], owner="alice")
    assert [s.tag for s in found] == ["second", "first"]
    assert found[0] == Snapshot(tag="second", image=f"{mine}:second", workspace_id="0123456789ab",
                                workspace_name="exp-1", profile="pytorch", created="2026-12-02T18:05:09+00:00",
                                size_bytes=2_500_000_000)


def test_another_owners_snapshots_and_other_images_are_never_listed():
    mine, theirs = snapshot_repository("alice"), snapshot_repository("bob")
    images = [
        _image([f"{theirs}:x"], **{"workspace-launcher.owner": "bob"}),
        _image([f"{mine}:built"], **{"workspace-launcher.role": "profile"}),
        _image([f"{theirs}:relabelled"]),  # alice's label on bob's repository: not alice's snapshot
        _image(["someone/else:latest", f"{mine}:kept"]),  # a tag outside the repository is not listed
    ]
    assert [s.image for s in snapshots_of(images, owner="alice")] == [f"{mine}:kept"]


@pytest.mark.parametrize("tag", ["Upper", "a/b", "", "../x"])
def test_removing_a_malformed_tag_is_a_400_before_the_engine_is_asked(tag):
    class NoEngine:
        def __getattr__(self, name):
            raise AssertionError(f"the engine was asked ({name})")

    with pytest.raises(InvalidRequest, match="is not a snapshot tag") as info:
        asyncio.run(remove_snapshot(NoEngine(), lambda: NoEngine().list(), owner="alice", tag=tag))
    assert info.value.field == "tag"
