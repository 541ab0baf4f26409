"""Pure tests of base-image pinning: references, mirrors, the lock file, the pinning policy, and
the builder's base resolution (pull when missing, by locked digest) with a fake engine."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from docker.errors import ImageNotFound

from workspace_launcher.catalog.profiles import Profile
from workspace_launcher.engine.docker import DockerEngine
from workspace_launcher.errors import ConfigError, ImageBuildError
from workspace_launcher.images import pinning as locks
from workspace_launcher.images import references as registry
from workspace_launcher.images.builder import BaseImageMissing, ImageBuilder
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

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
ID1 = "sha256:" + "a" * 64
ID2 = "sha256:" + "b" * 64
REG = "127.0.0.1:5000"


# -- references --------------------------------------------------------------------------------

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


# -- the lock file -----------------------------------------------------------------------------

def sample_lock() -> Lock:
    return Lock({
        "minimal": LockEntry(f"{REG}/wltest/base:v1", f"{REG}/wltest/base@{D1}", ID1, "2026-11-23T16:00:00Z"),
        "pytorch": LockEntry("workspace-launcher/base:bookworm", ID2, ID2, "2026-11-23T16:00:01Z"),
    })


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


# -- the pinning policy ------------------------------------------------------------------------

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


# -- the builder's base resolution, with a fake engine ------------------------------------------

class FakeAPI:
    """Images by reference; a pull of a reference in ``registry`` makes it local."""

    def __init__(self, local: dict[str, dict], registry_: dict[str, dict] | None = None):
        self.local = dict(local)
        self.registry = registry_ or {}
        self.pulls: list[tuple[str, dict | None]] = []

    def inspect_image(self, ref):
        if ref not in self.local:
            raise ImageNotFound(f"no such image: {ref}")
        return self.local[ref]

    def pull(self, ref, stream=False, decode=False, auth_config=None):
        self.pulls.append((ref, auth_config))
        if ref not in self.registry:
            return iter([{"status": "Pulling"}, {"error": f"manifest for {ref} not found"}])
        self.local[ref] = self.registry[ref]
        return iter([{"status": "Pulling from x", "id": "v1"}, {"status": "Digest: sha256:..."}])


class FakeEngine(DockerEngine):
    def __init__(self, api):
        super().__init__()
        self._api = api

    @property
    def api(self):
        return self._api


def make_builder(api, tmp_path, **kw) -> ImageBuilder:
    return ImageBuilder(engine=FakeEngine(api), lock_file=str(tmp_path / "lock.json"), **kw)


def test_present_base_is_not_pulled(tmp_path):
    info = {"Id": ID1, "RepoDigests": [f"{REG}/wltest/base@{D1}"]}
    api = FakeAPI({f"{REG}/wltest/base:v1": info})
    resolved = asyncio.run(make_builder(api, tmp_path).resolve_base(f"{REG}/wltest/base:v1"))
    assert (resolved.image_id, resolved.digest, resolved.pulled) == (ID1, f"{REG}/wltest/base@{D1}", False)
    assert api.pulls == []


def test_missing_pinned_base_is_pulled_by_digest_with_credentials(tmp_path):
    ref = f"{REG}/wltest/base@{D1}"
    info = {"Id": ID1, "RepoDigests": [ref]}
    api = FakeAPI({}, {ref: info})
    creds = {REG: {"username": "u", "password": "p"}}
    resolved = asyncio.run(make_builder(api, tmp_path, registry_credentials=creds).resolve_base(ref))
    assert api.pulls == [(ref, {"username": "u", "password": "p"})]
    assert (resolved.image_id, resolved.digest, resolved.pulled) == (ID1, ref, True)


def test_docker_hub_base_is_pulled_through_the_mirror(tmp_path):
    mirrored = f"{REG}/library/debian@{D1}"
    api = FakeAPI({}, {mirrored: {"Id": ID1, "RepoDigests": [mirrored]}})
    builder = make_builder(api, tmp_path, registry_mirror=f"http://{REG}/")
    assert builder.registry_mirror == REG
    resolved = asyncio.run(builder.resolve_base(f"debian@{D1}"))
    assert api.pulls == [(mirrored, None)] and resolved.digest == f"debian@{D1}"
    asyncio.run(builder.resolve_base(f"debian@{D1}"))  # now found locally under the mirror's name
    assert len(api.pulls) == 1


def test_locked_tag_is_pulled_by_its_locked_digest(tmp_path):
    tag, pinned = f"{REG}/wltest/base:v1", f"{REG}/wltest/base@{D1}"
    api = FakeAPI({}, {pinned: {"Id": ID1, "RepoDigests": [pinned]}, tag: {"Id": ID2, "RepoDigests": [f"{REG}/wltest/base@{D2}"]}})
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
    api = FakeAPI({tag: info, f"{REG}/wltest/base@{D1}": info}, {tag: info})
    builder = make_builder(api, tmp_path)
    asyncio.run(builder.resolve_base(tag, refresh=True))
    asyncio.run(builder.resolve_base(f"{REG}/wltest/base@{D1}", refresh=True))
    assert api.pulls == [(tag, None)]


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


# -- settings ----------------------------------------------------------------------------------

def test_pinning_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "cfg"))
    builder = ImageBuilder(engine=DockerEngine())
    assert builder.lock_file == str(tmp_path / "cfg" / "workspace_launcher.lock.json")
    assert builder.require_pinned_images is False
    assert builder.registry_mirror == "" and builder.registry_credentials == {} and builder.build_args == {}
    assert locks.default_lock_path() == builder.lock_file


@pytest.mark.parametrize(
    ("trait", "value", "hint"),
    [("registry_mirror", "not a host!", "not a registry host"),
     ("registry_credentials", {REG: {"username": "u"}}, "'username' and 'password'"),
     ("build_args", {"pytorch": ["EXTRA_INDEX_URL="]}, "must map ARG names"),
     ("build_args", {"pytorch": {"A": None}}, "must map ARG names"),
     ("lock_file", "", "file path"),
     ("base_image", "UPPER/case", "not an image reference")],
)
def test_invalid_pinning_settings(trait, value, hint):
    with pytest.raises(ConfigError, match=hint):
        ImageBuilder(engine=DockerEngine(), **{trait: value})


def test_image_id_is_a_valid_base_image():
    assert ImageBuilder(engine=DockerEngine(), base_image=ID1).base_image == ID1
