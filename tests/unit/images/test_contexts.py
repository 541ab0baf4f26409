"""Build contexts as data: the content hash is deterministic, blind to location and mtimes, and
follows every file, the base and the build args."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.unit.fakes import context  # noqa: F401 (a fixture)
from workspace_launcher.images.contexts import context_hash

KW = {"base_ref": "workspace-launcher/base:bookworm", "base_id": "sha256:" + "a" * 64, "build_args": {"A": "1"}}


def test_hash_is_deterministic_and_independent_of_location_and_mtime(context, tmp_path):
    first = context_hash(context, **KW)
    assert first == context_hash(context, **KW)
    assert len(first) == 64 and int(first, 16) >= 0
    moved = shutil.copytree(context, tmp_path / "elsewhere" / "other-name")
    for path in moved.rglob("*"):
        os.utime(path, ns=(1, 1))
    assert context_hash(moved, **KW) == first


@pytest.mark.parametrize("change", ["content", "new-file", "rename", "exec-bit", "empty-dir"])
def test_hash_changes_with_files(context, change):
    before = context_hash(context, **KW)
    if change == "content":
        (context / "Dockerfile").write_text("FROM other\n")
    elif change == "new-file":
        (context / "extra.txt").write_text("x")
    elif change == "rename":
        (context / "sub" / "run.sh").rename(context / "sub" / "go.sh")
    elif change == "exec-bit":
        (context / "sub" / "run.sh").chmod(0o755)
    else:
        (context / "empty").mkdir()
    assert context_hash(context, **KW) != before


@pytest.mark.parametrize(
    "override",
    [{"base_id": "sha256:" + "b" * 64}, {"base_ref": "other/base:1"}, {"build_args": {"A": "2"}},
     {"build_args": {"A": "1", "B": "1"}}],
)
def test_hash_changes_with_base_and_build_args(context, override):
    assert context_hash(context, **{**KW, **override}) != context_hash(context, **KW)


def test_build_arg_order_does_not_matter(context):
    a = context_hash(context, **{**KW, "build_args": {"A": "1", "B": "2"}})
    b = context_hash(context, **{**KW, "build_args": {"B": "2", "A": "1"}})
    assert a == b
