"""The build pipeline without Docker: rendering a context, the unrendered fast-path hash, planning
the two tags, and ensure/find/build with a fake engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.unit.fakes import PEM, FakeAPI, FakeEngine, context  # noqa: F401 (a fixture)
from workspace_launcher.catalog.profiles import Profile
from workspace_launcher.engine.docker import DockerEngine
from workspace_launcher.errors import ConfigError, ImageBuildError
from workspace_launcher.images.base_images import BaseImageMissing
from workspace_launcher.images.builder import ImageBuilder
from workspace_launcher.images.contexts import _hash_entries, context_hash
from workspace_launcher.images.pipeline import LABEL_HASH

KW = {"base_ref": "workspace-launcher/base:bookworm", "base_id": "sha256:" + "a" * 64, "build_args": {"A": "1"}}
BASE = {"Id": "sha256:" + "1" * 64, "RepoDigests": []}


def builder(**kw) -> ImageBuilder:
    return ImageBuilder(engine=DockerEngine(), **kw)


def make_profile(context) -> Profile:
    return Profile(name="demo", display_name="Demo", context_dir=str(context))


# -- render_context --------------------------------------------------------------------------

def test_render_without_ca_or_wheelhouse(context, tmp_path):
    dest = tmp_path / "out"
    builder(trust_host_ca=False).render_context(context, dest)
    assert (dest / "build-ca.crt").read_bytes() == b""
    assert (dest / "wheels").is_dir() and not any((dest / "wheels").iterdir())
    assert (dest / "Dockerfile").read_text() == (context / "Dockerfile").read_text()
    assert (dest / "sub" / "run.sh").is_file()
    assert not (dest / "profile.json").exists()


@pytest.fixture
def ca_and_wheels(tmp_path) -> tuple[Path, Path]:
    """A PEM bundle and a wheelhouse holding one wheel."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(PEM)
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    (wheels / "demo-1.0-py3-none-any.whl").write_bytes(b"zip")
    return ca, wheels


def test_render_with_ca_and_wheelhouse(context, ca_and_wheels, tmp_path):
    ca, wheels = ca_and_wheels
    dest = tmp_path / "out"
    builder(extra_ca_bundle=str(ca), wheelhouse=str(wheels)).render_context(
        Profile(name="demo", display_name="Demo", context_dir=str(context)), dest
    )
    assert (dest / "build-ca.crt").read_bytes() == PEM
    assert (dest / "wheels" / "demo-1.0-py3-none-any.whl").read_bytes() == b"zip"


def test_unrendered_hash_equals_hash_of_rendered_context(context, ca_and_wheels, tmp_path):
    """The fast path hashes without copying; it must agree with the rendered directory."""
    ca, wheels = ca_and_wheels
    for b in (builder(), builder(extra_ca_bundle=str(ca), wheelhouse=str(wheels))):
        dest = tmp_path / f"out-{id(b)}"
        b.render_context(context, dest)
        assert _hash_entries(b._context_entries(context), **KW) == context_hash(dest, **KW)


def test_ca_bundle_and_wheels_change_the_hash(context, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(PEM)
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()

    def hashed(**kw):
        return _hash_entries(builder(**kw)._context_entries(context), **KW)

    plain, with_ca = hashed(), hashed(extra_ca_bundle=str(ca))
    assert hashed(wheelhouse=str(wheels)) == plain  # an empty wheelhouse renders the same
    ca.write_bytes(PEM + PEM)
    ca_changed = hashed(extra_ca_bundle=str(ca))
    (wheels / "x-1-py3-none-any.whl").write_bytes(b"1")
    one_wheel = hashed(wheelhouse=str(wheels))
    (wheels / "x-1-py3-none-any.whl").write_bytes(b"22")
    wheel_changed = hashed(wheelhouse=str(wheels))
    assert len({plain, with_ca, ca_changed, one_wheel, wheel_changed}) == 5


# -- planning --------------------------------------------------------------------------------

def test_profile_hash_follows_the_jupyter_layer(context, tmp_path):
    jupyter = tmp_path / "jupyter"
    jupyter.mkdir()
    (jupyter / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    b = ImageBuilder(engine=DockerEngine(), jupyter_context=str(jupyter))
    profile = make_profile(context)
    one = b._plan(profile, "base:1", BASE["Id"], BASE["Id"])
    assert one.profile_args["JUPYTER_IMAGE"] == one.jupyter_tag
    assert one.jupyter_args == {"BASE_IMAGE": BASE["Id"]}
    (jupyter / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN true\n")
    two = b._plan(profile, "base:1", BASE["Id"], BASE["Id"])
    three = b._plan(profile, "base:1", "sha256:" + "2" * 64, BASE["Id"])
    assert len({one.jupyter_hash, two.jupyter_hash, three.jupyter_hash}) == 3
    assert len({one.profile_hash, two.profile_hash, three.profile_hash}) == 3


def test_admin_build_args_override_the_profile_and_change_the_tag(context):
    b = ImageBuilder(engine=DockerEngine())
    profile = Profile(name="demo", display_name="Demo", context_dir=str(context),
                      build_args={"EXTRA_INDEX_URL": "https://example.org/simple", "X": "1"})
    plain = b._plan(profile, "base:1", BASE["Id"], BASE["Id"])
    assert plain.profile_args == {"EXTRA_INDEX_URL": "https://example.org/simple", "X": "1",
                                  "JUPYTER_IMAGE": plain.jupyter_tag}
    b.build_args = {"demo": {"EXTRA_INDEX_URL": "", "TORCH_VERSION": 2}, "other": {"X": "2"}}
    blanked = b._plan(profile, "base:1", BASE["Id"], BASE["Id"])
    assert blanked.profile_args == {"EXTRA_INDEX_URL": "", "X": "1", "TORCH_VERSION": "2",
                                    "JUPYTER_IMAGE": plain.jupyter_tag}
    assert blanked.profile_tag != plain.profile_tag and blanked.jupyter_tag == plain.jupyter_tag


# -- ensure/find with a fake engine ----------------------------------------------------------

def test_cached_ensure_inspects_twice_and_builds_nothing(context):
    api = FakeAPI({"workspace-launcher/base:bookworm": BASE})
    b = ImageBuilder(engine=FakeEngine(api))
    profile = make_profile(context)
    plan = b._plan(profile, "workspace-launcher/base:bookworm", BASE["Id"], BASE["Id"])
    api.images_by_ref[plan.profile_tag] = {"Id": "sha256:beef", "Config": {"Labels": {LABEL_HASH: plan.profile_hash}}}
    built = asyncio.run(b.ensure(profile))
    assert built.built is False and built.tag == plan.profile_tag and built.image_id == "sha256:beef"
    assert built.tag == f"workspace-launcher/demo:{plan.profile_hash[:12]}"
    assert api.inspected == ["workspace-launcher/base:bookworm", plan.profile_tag] and not api.built
    assert asyncio.run(b.find(profile)) == built


def test_missing_base_image(context):
    b = ImageBuilder(engine=FakeEngine(FakeAPI({})))
    with pytest.raises(BaseImageMissing, match="bootstrap-base"):
        asyncio.run(b.ensure(make_profile(context)))
    assert asyncio.run(b.find(make_profile(context))) is None


def test_build_error_raises_with_log_tail_and_streams_lines(context):
    items = [{"stream": "Step 1/2 : FROM x\n"}, {"stream": " ---> 0123456789ab\n"},
             {"stream": "Step 2/2 : RUN false\n ---> Running in abc\npartial "},
             {"stream": "line\n"},
             {"error": "The command '/bin/sh -c false' returned a non-zero code: 1",
              "errorDetail": {"message": "The command '/bin/sh -c false' returned a non-zero code: 1"}}]
    api = FakeAPI({"workspace-launcher/base:bookworm": BASE}, items)
    b = ImageBuilder(engine=FakeEngine(api))
    lines: list[str] = []
    with pytest.raises(ImageBuildError, match="non-zero code") as info:
        asyncio.run(b.ensure(make_profile(context), on_log=lines.append))
    assert "shared Jupyter layer" in info.value.message  # the first build is the layer
    assert "partial line" in info.value.log_tail and "Step 2/2" in info.value.log_tail
    assert lines[:4] == ["Step 1/2 : FROM x", " ---> 0123456789ab", "Step 2/2 : RUN false", " ---> Running in abc"]
    build = api.built[0]
    assert build["buildargs"] == {"BASE_IMAGE": BASE["Id"]}
    assert build["labels"]["workspace-launcher.role"] == "jupyter-layer"
    assert build["rm"] and build["forcerm"] and build["decode"]


def test_reserved_profile_names(context):
    b = ImageBuilder(engine=FakeEngine(FakeAPI({"workspace-launcher/base:bookworm": BASE})))
    with pytest.raises(ConfigError, match="reserved"):
        asyncio.run(b.ensure(Profile(name="jupyter", display_name="J", context_dir=str(context))))


def test_labels_record_the_base_digest_and_id(context):
    api = FakeAPI({"workspace-launcher/base:bookworm": BASE}, [{"error": "stop here"}])
    b = ImageBuilder(engine=FakeEngine(api))
    with pytest.raises(ImageBuildError):
        asyncio.run(b.ensure(make_profile(context)))
    labels = api.built[0]["labels"]
    assert labels["workspace-launcher.base-digest"] == BASE["Id"] == labels["workspace-launcher.base-id"]
    assert labels["workspace-launcher.base-image"] == "workspace-launcher/base:bookworm"


class BuildingAPI(FakeAPI):
    """A FakeAPI whose builds succeed: the tag then names an image with the build's labels."""

    def build(self, **kw):
        self.built.append(kw)
        self.images_by_ref[kw["tag"]] = {"Id": f"sha256:{len(self.built):064d}", "Size": 1000 * len(self.built),
                                         "Config": {"Labels": kw["labels"]}}
        return iter([{"stream": "Step 1/1 : FROM x\n"}])


def test_ensure_says_which_image_it_builds_and_keeps_how_long_each_took(context, tmp_path):
    api = BuildingAPI({"workspace-launcher/base:bookworm": BASE})
    b = ImageBuilder(engine=FakeEngine(api), build_history_file=str(tmp_path / "builds.json"))
    profile = make_profile(context)
    assert asyncio.run(b.contexts_to_build(profile)) == ["jupyter", "demo"]
    assert asyncio.run(b.build_estimate(profile)) is None  # nothing measured, nothing stated
    stages: list = []
    built = asyncio.run(b.ensure(profile, on_stage=lambda c, all_: stages.append((c, list(all_)))))
    assert built.built and stages == [("jupyter", ["jupyter", "demo"]), ("demo", ["jupyter", "demo"])]
    assert b.history.last("jupyter").size_bytes == 1000 and b.history.last("demo").size_bytes == 2000
    # Built: nothing to build, nothing to estimate; a new profile context on the same layer
    # builds only itself, estimated from the last build of its name.
    assert asyncio.run(b.contexts_to_build(profile)) == []
    assert asyncio.run(b.build_estimate(profile)) is None
    (context / "extra.txt").write_text("changed")
    assert asyncio.run(b.contexts_to_build(profile)) == ["demo"]
    said = asyncio.run(b.build_estimate(profile))
    assert (said.size_bytes, said.source) == (2000, "last build")
    stages.clear()
    asyncio.run(b.ensure(profile, on_stage=lambda c, all_: stages.append((c, list(all_)))))
    assert stages == [("demo", ["demo"])]
