"""Name, size, CPU and host-path validation: clear 400s that say what to fix."""

from __future__ import annotations

import os

import pytest

from workspace_launcher.errors import InvalidRequest
from workspace_launcher.workspaces.validation import (
    owner_slug,
    parse_cpus,
    parse_size,
    resolve_host_path,
    validate_image_reference,
    validate_name,
    validate_workspace_id,
)


@pytest.mark.parametrize("name", ["a", "exp-1", "my-experiment-2", "x" * 63, "0abc"])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "-a", "a-", "../etc", "a/b", "a..b", "A", "has space", "x" * 64, "a_b", "<script>", None, 3, "a\n"]
)
def test_invalid_names_say_what_is_allowed(name):
    with pytest.raises(InvalidRequest) as info:
        validate_name(name, field="name")
    assert "lowercase letters, digits and hyphens" in info.value.message
    assert info.value.field == "name"


@pytest.mark.parametrize("value", ["0123456789ab", "ffffffffffff"])
def test_workspace_ids(value):
    assert validate_workspace_id(value) == value


@pytest.mark.parametrize("value", ["0123456789a", "0123456789abc", "../../etc", "127.0.0.1:80", "ABCDEF012345", "%2e%2e"])
def test_bad_workspace_ids(value):
    with pytest.raises(InvalidRequest):
        validate_workspace_id(value)


def test_owner_slug_is_safe_and_injective():
    assert owner_slug("alice") == "alice"
    assert owner_slug("Alice") == "-41lice"
    assert owner_slug("a.b") != owner_slug("a-b")
    assert owner_slug("jo@x.org") == "jo-40x-2eorg"
    for owner in ["Alice", "a/b", "../x", "é"]:
        slug = owner_slug(owner)
        assert all(c.isdigit() or c.islower() or c == "-" for c in slug)
    with pytest.raises(InvalidRequest):
        owner_slug("")


@pytest.mark.parametrize(
    "value,expected",
    [("512m", 512 * 1024**2), ("4g", 4 * 1024**3), ("1GiB", 1024**3), ("1.5G", int(1.5 * 1024**3)), (1024, 1024), ("2048", 2048)],
)
def test_sizes(value, expected):
    assert parse_size(value, field="memory") == expected


@pytest.mark.parametrize("value", ["lots", "-1g", "4x", "", True, 0, -5, None, [1]])
def test_bad_sizes(value):
    with pytest.raises(InvalidRequest) as info:
        parse_size(value, field="memory")
    assert info.value.field == "memory"


def test_cpus():
    assert parse_cpus("0.5") == 0.5
    assert parse_cpus(2, available=4) == 2.0
    for bad in ["many", 0, -1, True, None]:
        with pytest.raises(InvalidRequest):
            parse_cpus(bad)
    with pytest.raises(InvalidRequest, match="more than this host"):
        parse_cpus(64, available=4)


def test_host_paths_must_be_absolute_existing_and_under_allowed_roots(tmp_path):
    root = tmp_path / "datasets"
    (root / "coco").mkdir(parents=True)
    outside = tmp_path / "secret"
    outside.mkdir()
    assert resolve_host_path(str(root / "coco"), [str(root)], field="datasets") == str(root / "coco")
    with pytest.raises(InvalidRequest, match="must be absolute"):
        resolve_host_path("datasets/coco", [str(root)], field="datasets")
    with pytest.raises(InvalidRequest, match="does not exist"):
        resolve_host_path(str(root / "missing"), [str(root)], field="datasets")
    with pytest.raises(InvalidRequest, match="outside the allowed"):
        resolve_host_path(str(outside), [str(root)], field="datasets")
    with pytest.raises(InvalidRequest, match="outside the allowed"):
        resolve_host_path(str(root / ".." / "secret"), [str(root)], field="datasets")
    # A symlink inside the root that points outside is judged by where it points.
    os.symlink(outside, root / "sneaky")
    with pytest.raises(InvalidRequest, match="outside the allowed"):
        resolve_host_path(str(root / "sneaky"), [str(root)], field="datasets")
    # A sibling whose name merely starts like the root is not under it.
    (tmp_path / "datasets-evil").mkdir()
    with pytest.raises(InvalidRequest, match="outside the allowed"):
        resolve_host_path(str(tmp_path / "datasets-evil"), [str(root)], field="datasets")


@pytest.mark.parametrize("reference", [
    "workspace-launcher/snapshot-alice:before-upgrade", "ubuntu", "localhost:5000/team/image:1.0",
    "registry.example.org/a__b/c-d.e:v_1", "sha256:" + "a" * 64, "image@sha256:" + "0" * 64,
])
def test_image_references_are_accepted(reference):
    assert validate_image_reference(reference, field="snapshot") == reference


@pytest.mark.parametrize("reference", [
    "", "Foo Bar", "../containers/abc", "a/../b", "/a", "a/", "a//b", "a:b:c", "é", "x@sha256:zz", "a" * 600, 5, None,
])
def test_what_is_no_image_reference_is_refused_before_the_engine_sees_it(reference):
    """The engine takes a reference into a URL path: '../containers/x' would inspect a container."""
    with pytest.raises(InvalidRequest) as info:
        validate_image_reference(reference, field="snapshot")
    assert info.value.field == "snapshot" and "image reference" in info.value.message
