"""Image references: parsing, pinned references and image ids, what to pull (through a Docker Hub
mirror), and which registry digest belongs to a reference."""

from __future__ import annotations

import pytest

from tests.unit.fakes import D1, D2, ID1, REG
from workspace_launcher.images import references as registry


@pytest.mark.parametrize(
    ("ref", "registry_", "path", "tag", "digest", "familiar"),
    [
        ("debian", "docker.io", "library/debian", None, None, "debian"),
        ("debian:bookworm", "docker.io", "library/debian", "bookworm", None, "debian"),
        (f"docker.io/library/debian@{D1}", "docker.io", "library/debian", None, D1, "debian"),
        ("index.docker.io/me/app:1", "docker.io", "me/app", "1", None, "me/app"),
        ("workspace-launcher/base:bookworm", "docker.io", "workspace-launcher/base", "bookworm", None,
         "workspace-launcher/base"),
        (f"{REG}/wltest/base:v1@{D1}", REG, "wltest/base", "v1", D1, f"{REG}/wltest/base"),
        ("localhost/x", "localhost", "x", None, None, "localhost/x"),
        ("registry.example.org/team/debian:12", "registry.example.org", "team/debian", "12", None,
         "registry.example.org/team/debian"),
    ],
)
def test_parse_reference(ref, registry_, path, tag, digest, familiar):
    parsed = registry.parse_reference(ref)
    assert (parsed.registry, parsed.path, parsed.tag, parsed.digest) == (registry_, path, tag, digest)
    assert parsed.familiar == familiar


@pytest.mark.parametrize("bad", ["", "has space", "UPPER/case", "x@sha256:zz", ID1, "a//b", "x:bad tag"])
def test_malformed_references(bad):
    with pytest.raises(ValueError):
        registry.parse_reference(bad)


def test_pinned_and_image_ids():
    assert registry.is_pinned(f"debian@{D1}") and registry.is_pinned(ID1)
    assert not registry.is_pinned("debian:bookworm") and not registry.is_pinned("sha256:abc")
    assert registry.digest_of(f"{REG}/a/b@{D1}") == D1 and registry.digest_of(ID1) == ID1


@pytest.mark.parametrize(
    ("ref", "mirror", "expected"),
    [
        (f"debian@{D1}", "", None),  # an unqualified name is a local image without a mirror
        ("workspace-launcher/base:bookworm", "", None),
        (f"docker.io/library/debian@{D1}", "", f"docker.io/library/debian@{D1}"),
        (f"docker.io/library/debian@{D1}", REG, f"{REG}/library/debian@{D1}"),
        (f"debian@{D1}", REG, f"{REG}/library/debian@{D1}"),
        ("debian:bookworm", REG, f"{REG}/library/debian:bookworm"),
        (f"{REG}/wltest/base:v1", "mirror.example.org", f"{REG}/wltest/base:v1"),  # not Docker Hub
        (f"{REG}/wltest/base:v1@{D1}", "", f"{REG}/wltest/base@{D1}"),  # by digest only
        (ID1, REG, None),
    ],
)
def test_pull_reference_and_mirror(ref, mirror, expected):
    assert registry.pull_reference(ref, mirror) == expected


def test_repo_digest_matches_the_repository_or_its_mirror():
    info = {"Id": ID1, "RepoDigests": [f"other/x@{D2}", f"{REG}/library/debian@{D1}"]}
    assert registry.repo_digest(info["RepoDigests"], "debian:bookworm", REG) == f"debian@{D1}"
    assert registry.repo_digest(info["RepoDigests"], "debian:bookworm", "") is None
    assert registry.repo_digest(info["RepoDigests"], "other/x:1", "") == f"other/x@{D2}"
    assert registry.repo_digest([], "debian", REG) is None
