"""Snapshot names: a valid tag or a clear 400 naming the field, and a repository per owner."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from workspace_launcher.errors import InvalidRequest
from workspace_launcher.workspaces.snapshots import SNAPSHOT_REPOSITORY, snapshot_repository, snapshot_tag
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
