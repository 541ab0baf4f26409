"""Base-image pinning: the lock file, the pinning policy of builds and launches, the REST API's
pinned digest, and resolving the lock with a fake engine."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from tests.unit.fakes import D1, D2, ID1, ID2, REG, FakeAPI, FakeEngine, sample_lock
from workspace_launcher.catalog.profiles import Profile
from workspace_launcher.engine.docker import DockerEngine
from workspace_launcher.errors import ConfigError
from workspace_launcher.images.builder import ImageBuilder
from workspace_launcher.images.pinning import (
    LABEL_BASE_DIGEST,
    LABEL_BASE_ID,
    LABEL_BASE_IMAGE,
    BaseImageDrift,
    Lock,
    LockEntry,
    UnpinnedBaseImage,
    check_base,
    check_launch,
    pinned_digest,
    read_lock,
    resolve_locks,
    write_lock,
)


def make_builder(api, tmp_path, **kw) -> ImageBuilder:
    return ImageBuilder(engine=FakeEngine(api), lock_file=str(tmp_path / "lock.json"), **kw)


# -- the lock file ---------------------------------------------------------------------------

def test_lock_round_trips(tmp_path):
    path = tmp_path / "conf" / "workspace_launcher.lock.json"
    write_lock(path, sample_lock())
    assert read_lock(path) == sample_lock()
    data = json.loads(path.read_text())
    assert data["version"] == 1 and list(data["profiles"]) == ["minimal", "pytorch"]
    assert data["profiles"]["minimal"]["digest"] == f"{REG}/wltest/base@{D1}"
    assert path.read_text().endswith("}\n")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_missing_lock_file_is_empty(tmp_path):
    assert read_lock(tmp_path / "none.json") == Lock()


@pytest.mark.parametrize(
    ("content", "hint"),
    [("{", "not valid JSON"), ("[]", "no 'profiles'"), ('{"version": 9, "profiles": {}}', "version 9"),
     ('{"profiles": {"x": {"base_image": "a"}}}', "needs the string keys")],
)
def test_bad_lock_files_say_how_to_fix(tmp_path, content, hint):
    path = tmp_path / "lock.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=hint) as info:
        read_lock(path)
    assert str(path) in info.value.message


def test_entry_for_needs_the_same_reference():
    lock = sample_lock()
    assert lock.entry_for("minimal", f"{REG}/wltest/base:v1") is lock.profiles["minimal"]
    assert lock.entry_for("minimal", f"{REG}/wltest/base:v2") is None
    assert lock.entry_for("nope", f"{REG}/wltest/base:v1") is None
    assert lock.profiles["minimal"].pullable_digest == f"{REG}/wltest/base@{D1}"
    assert lock.profiles["pytorch"].pullable_digest is None


# -- the pinning policy ----------------------------------------------------------------------

def test_policy_off_allows_everything_but_reports_drift():
    lock = sample_lock()
    assert check_base("x", "debian:bookworm", ID1, ID1, Lock(), require=False, lock_path="L") is None
    warning = check_base("minimal", f"{REG}/wltest/base:v1", f"{REG}/wltest/base@{D2}", ID2, lock,
                         require=False, lock_path="L")
    assert "workspace-launcher images lock" in warning


def test_unpinned_base_is_refused_with_the_fix():
    with pytest.raises(UnpinnedBaseImage) as info:
        check_base("minimal", "workspace-launcher/base:bookworm", ID1, ID1, Lock(), require=True, lock_path="/etc/L.json")
    message = info.value.message
    assert "not pinned" in message and "workspace-launcher images lock" in message and "/etc/L.json" in message
    assert f"image id '{ID1}'" in message
    assert info.value.status_code == 409


def test_pinned_or_locked_bases_pass():
    lock = sample_lock()
    for ref in (f"debian@{D1}", ID1):
        assert check_base("x", ref, ID1, ID1, Lock(), require=True, lock_path="L") is None
    assert check_base("minimal", f"{REG}/wltest/base:v1", f"{REG}/wltest/base@{D1}", ID2, lock,
                      require=True, lock_path="L") is None
    # the same image without its registry digest (e.g. docker load) still matches by id
    assert check_base("minimal", f"{REG}/wltest/base:v1", ID1, ID1, lock, require=True, lock_path="L") is None


def test_drift_is_refused_with_the_fix():
    with pytest.raises(BaseImageDrift) as info:
        check_base("minimal", f"{REG}/wltest/base:v1", f"{REG}/wltest/base@{D2}", ID2, sample_lock(),
                   require=True, lock_path="L")
    message = info.value.message
    assert "now resolves to" in message and D2 in message and D1 in message
    assert "workspace-launcher images lock" in message
    assert f"base_image = '{REG}/wltest/base@{D1}'" in message


def test_check_launch():
    lock = sample_lock()
    good = {LABEL_BASE_IMAGE: f"{REG}/wltest/base:v1", LABEL_BASE_DIGEST: f"{REG}/wltest/base@{D1}", LABEL_BASE_ID: ID1}
    check_launch(good, lock, Profile(name="minimal", display_name="m", context_dir="."))
    check_launch(good, lock, "unlocked-profile")
    check_launch({LABEL_BASE_DIGEST: ID2}, lock, "pytorch")
    with pytest.raises(BaseImageDrift, match="images build minimal") as info:
        check_launch({**good, LABEL_BASE_DIGEST: f"{REG}/wltest/base@{D2}", LABEL_BASE_ID: ID2}, lock, "minimal")
    assert "workspace-launcher images lock" in info.value.message
    with pytest.raises(BaseImageDrift, match="records no base"):
        check_launch({}, lock, "minimal")


def test_pinned_digest():
    builder = ImageBuilder(engine=DockerEngine(), base_image="workspace-launcher/base:bookworm")
    lock = sample_lock()

    def profile(name, base=None):
        return Profile(name=name, display_name=name, context_dir=".", base_image=base)

    assert pinned_digest(profile("x"), builder, lock) is None
    assert pinned_digest(profile("x", f"debian@{D1}"), builder, lock) == D1
    assert pinned_digest(profile("x", ID1), builder, lock) == ID1
    assert pinned_digest(profile("minimal", f"{REG}/wltest/base:v1"), builder, lock) == D1
    assert pinned_digest(profile("pytorch"), builder, lock) == ID2
    assert pinned_digest(profile("minimal", f"{REG}/wltest/base:v2"), builder, lock) is None


# -- resolving the lock, with a fake engine --------------------------------------------------

def test_resolve_locks_keeps_locked_at_when_nothing_changed(tmp_path):
    info = {"Id": ID1, "RepoDigests": [f"{REG}/wltest/base@{D1}"]}
    api = FakeAPI({f"{REG}/wltest/base:v1": info, "workspace-launcher/base:bookworm": {"Id": ID2}})
    builder = make_builder(api, tmp_path)
    profiles = [Profile(name="a", display_name="a", context_dir=".", base_image=f"{REG}/wltest/base:v1"),
                Profile(name="b", display_name="b", context_dir=".")]
    first = asyncio.run(resolve_locks(builder, profiles))
    assert first.profiles["a"].digest == f"{REG}/wltest/base@{D1}" and first.profiles["a"].image_id == ID1
    assert first.profiles["b"] == LockEntry("workspace-launcher/base:bookworm", ID2, ID2, first.profiles["b"].locked_at)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first.profiles["b"].locked_at)
    write_lock(tmp_path / "written.json", first)  # serializable
    old = Lock({"a": LockEntry(f"{REG}/wltest/base:v1", f"{REG}/wltest/base@{D1}", ID1, "2020-01-01T00:00:00Z"),
                "b": LockEntry("workspace-launcher/base:bookworm", ID1, ID1, "2020-01-01T00:00:00Z")})
    second = asyncio.run(resolve_locks(builder, profiles, previous=old))
    assert second.profiles["a"].locked_at == "2020-01-01T00:00:00Z"
    assert second.profiles["b"].locked_at != "2020-01-01T00:00:00Z"  # the base changed: newly locked
