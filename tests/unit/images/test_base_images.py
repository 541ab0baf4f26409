"""Base-image resolution with a fake engine: a present base is not pulled, a missing one is pulled
(by digest, with credentials, through the mirror, by its locked digest) or refused with the fix,
and the pinning policy refuses unpinned and drifted bases."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.fakes import D1, D2, ID1, ID2, REG, FakeAPI, FakeEngine, sample_lock
from workspace_launcher.catalog.profiles import Profile
from workspace_launcher.errors import ImageBuildError
from workspace_launcher.images.base_images import BaseImageMissing
from workspace_launcher.images.builder import ImageBuilder
from workspace_launcher.images.pinning import BaseImageDrift, Lock, LockEntry, UnpinnedBaseImage, write_lock


def make_builder(api, tmp_path, **kw) -> ImageBuilder:
    return ImageBuilder(engine=FakeEngine(api), lock_file=str(tmp_path / "lock.json"), **kw)


# -- resolving a base ------------------------------------------------------------------------

def test_present_base_is_not_pulled(tmp_path):
    info = {"Id": ID1, "RepoDigests": [f"{REG}/wltest/base@{D1}"]}
    api = FakeAPI({f"{REG}/wltest/base:v1": info})
    resolved = asyncio.run(make_builder(api, tmp_path).resolve_base(f"{REG}/wltest/base:v1"))
    assert (resolved.image_id, resolved.digest, resolved.pulled) == (ID1, f"{REG}/wltest/base@{D1}", False)
    assert api.pulls == []


def test_missing_pinned_base_is_pulled_by_digest_with_credentials(tmp_path):
    ref = f"{REG}/wltest/base@{D1}"
    info = {"Id": ID1, "RepoDigests": [ref]}
    api = FakeAPI({}, registry={ref: info})
    creds = {REG: {"username": "u", "password": "p"}}
    resolved = asyncio.run(make_builder(api, tmp_path, registry_credentials=creds).resolve_base(ref))
    assert api.pulls == [(ref, {"username": "u", "password": "p"})]
    assert (resolved.image_id, resolved.digest, resolved.pulled) == (ID1, ref, True)


def test_docker_hub_base_is_pulled_through_the_mirror(tmp_path):
    mirrored = f"{REG}/library/debian@{D1}"
    api = FakeAPI({}, registry={mirrored: {"Id": ID1, "RepoDigests": [mirrored]}})
    builder = make_builder(api, tmp_path, registry_mirror=f"http://{REG}/")
    assert builder.registry_mirror == REG
    resolved = asyncio.run(builder.resolve_base(f"debian@{D1}"))
    assert api.pulls == [(mirrored, None)] and resolved.digest == f"debian@{D1}"
    asyncio.run(builder.resolve_base(f"debian@{D1}"))  # now found locally under the mirror's name
    assert len(api.pulls) == 1


def test_locked_tag_is_pulled_by_its_locked_digest(tmp_path):
    tag, pinned = f"{REG}/wltest/base:v1", f"{REG}/wltest/base@{D1}"
    api = FakeAPI({}, registry={pinned: {"Id": ID1, "RepoDigests": [pinned]},
                           tag: {"Id": ID2, "RepoDigests": [f"{REG}/wltest/base@{D2}"]}})
    entry = LockEntry(tag, pinned, ID1, "t")
    resolved = asyncio.run(make_builder(api, tmp_path).resolve_base(tag, entry=entry))
    assert api.pulls == [(pinned, None)] and resolved.image_id == ID1 and resolved.digest == pinned


def test_unpullable_missing_base_says_how_to_make_it(tmp_path):
    builder = make_builder(FakeAPI({}), tmp_path)
    with pytest.raises(BaseImageMissing, match="bootstrap-base") as info:
        asyncio.run(builder.resolve_base("workspace-launcher/base:bookworm"))
    assert "registry_mirror" in info.value.message
    with pytest.raises(BaseImageMissing, match="cannot be pulled"):
        asyncio.run(builder.resolve_base(ID1))
    assert builder.engine.api.pulls == []


def test_failed_pull_says_what_to_check(tmp_path):
    builder = make_builder(FakeAPI({}), tmp_path)
    with pytest.raises(ImageBuildError, match="not found") as info:
        asyncio.run(builder.resolve_base(f"{REG}/wltest/base:v9"))
    assert "registry_credentials" in info.value.message and REG in info.value.message


def test_refresh_pulls_tags_but_not_digests(tmp_path):
    tag = f"{REG}/wltest/base:v1"
    info = {"Id": ID1, "RepoDigests": [f"{REG}/wltest/base@{D1}"]}
    api = FakeAPI({tag: info, f"{REG}/wltest/base@{D1}": info}, registry={tag: info})
    builder = make_builder(api, tmp_path)
    asyncio.run(builder.resolve_base(tag, refresh=True))
    asyncio.run(builder.resolve_base(f"{REG}/wltest/base@{D1}", refresh=True))
    assert api.pulls == [(tag, None)]


# -- the pinning policy and the lock file ----------------------------------------------------

def test_ensure_refuses_unpinned_and_drifted_bases(tmp_path):
    tag = f"{REG}/wltest/base:v1"
    api = FakeAPI({tag: {"Id": ID2, "RepoDigests": [f"{REG}/wltest/base@{D2}"]}})
    builder = make_builder(api, tmp_path, require_pinned_images=True)
    profile = Profile(name="minimal", display_name="m", context_dir=".", base_image=tag)
    with pytest.raises(UnpinnedBaseImage):
        asyncio.run(builder.ensure(profile))
    write_lock(builder.lock_file, sample_lock())
    with pytest.raises(BaseImageDrift, match="images lock"):
        asyncio.run(builder.ensure(profile))
    assert asyncio.run(builder.find(profile)) is None  # find never raises
    builder.require_pinned_images = False  # drift is only logged then: the build goes ahead
    assert asyncio.run(builder.check_base(profile)).image_id == ID2


def test_lock_is_reread_when_the_file_changes(tmp_path):
    builder = make_builder(FakeAPI({}), tmp_path)
    assert builder.lock() == Lock()
    write_lock(builder.lock_file, sample_lock())
    assert builder.lock() == sample_lock()
    write_lock(builder.lock_file, Lock({"minimal": sample_lock().profiles["minimal"]}))
    assert set(builder.lock().profiles) == {"minimal"}
