"""Pure tests of the image builder: context hashing, rendering, settings, the fast path (fake
engine), and the base bootstrap's checks. No Docker engine needed."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from docker.errors import ImageNotFound
from traitlets.config import Config

from workspace_launcher.catalog.profiles import Profile
from workspace_launcher.engine.build import explain_build_error
from workspace_launcher.engine.docker import DockerEngine
from workspace_launcher.errors import ConfigError, ImageBuildError
from workspace_launcher.images import bootstrap
from workspace_launcher.images import builder as images
from workspace_launcher.images.builder import (
    LABEL_HASH,
    BaseImageMissing,
    ImageBuilder,
    _hash_entries,
    context_hash,
)

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KW = {"base_ref": "workspace-launcher/base:bookworm", "base_id": "sha256:" + "a" * 64, "build_args": {"A": "1"}}


@pytest.fixture
def context(tmp_path) -> Path:
    ctx = tmp_path / "ctx"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("ARG JUPYTER_IMAGE\nFROM ${JUPYTER_IMAGE}\n")
    (ctx / "sub" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (ctx / "profile.json").write_text('{"name": "demo"}')
    return ctx


def builder(**kw) -> ImageBuilder:
    return ImageBuilder(engine=DockerEngine(), **kw)


# -- context_hash ------------------------------------------------------------------------------

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


# -- render_context ----------------------------------------------------------------------------

def test_render_without_ca_or_wheelhouse(context, tmp_path):
    dest = tmp_path / "out"
    builder(trust_host_ca=False).render_context(context, dest)
    assert (dest / "build-ca.crt").read_bytes() == b""
    assert (dest / "wheels").is_dir() and not any((dest / "wheels").iterdir())
    assert (dest / "Dockerfile").read_text() == (context / "Dockerfile").read_text()
    assert (dest / "sub" / "run.sh").is_file()
    assert not (dest / "profile.json").exists()


def test_render_with_ca_and_wheelhouse(context, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(PEM)
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    (wheels / "demo-1.0-py3-none-any.whl").write_bytes(b"zip")
    dest = tmp_path / "out"
    builder(extra_ca_bundle=str(ca), wheelhouse=str(wheels)).render_context(
        Profile(name="demo", display_name="Demo", context_dir=str(context)), dest
    )
    assert (dest / "build-ca.crt").read_bytes() == PEM
    assert (dest / "wheels" / "demo-1.0-py3-none-any.whl").read_bytes() == b"zip"


def test_unrendered_hash_equals_hash_of_rendered_context(context, tmp_path):
    """The fast path hashes without copying; it must agree with the rendered directory."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(PEM)
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    (wheels / "demo-1.0-py3-none-any.whl").write_bytes(b"zip")
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


# -- settings ----------------------------------------------------------------------------------

def test_defaults():
    b = builder()
    assert b.base_image == "workspace-launcher/base:bookworm"
    assert b.extra_ca_bundle == "" and b.wheelhouse == ""
    assert Path(b.jupyter_context, "Dockerfile").is_file()


@pytest.mark.parametrize(
    ("trait", "value", "hint"),
    [("extra_ca_bundle", "/nonexistent/ca.pem", "not a file"),
     ("wheelhouse", "/nonexistent/wheels", "not a directory"),
     ("base_image", "", "not an image reference"),
     ("base_image", "has space", "not an image reference"),
     ("build_timeout", 0, "positive")],
)
def test_invalid_settings_raise_config_error(trait, value, hint):
    with pytest.raises(ConfigError, match=hint):
        builder(**{trait: value})
    config = Config()
    setattr(config.ImageBuilder, trait, value)
    with pytest.raises(ConfigError, match=hint):
        ImageBuilder(engine=DockerEngine(), config=config)


def test_ca_bundle_must_be_pem(tmp_path):
    not_pem = tmp_path / "ca.der"
    not_pem.write_bytes(b"\x30\x82binary")
    with pytest.raises(ConfigError, match="PEM"):
        builder(extra_ca_bundle=str(not_pem))


def test_paths_are_made_absolute(tmp_path, monkeypatch):
    (tmp_path / "ca.pem").write_bytes(PEM)
    (tmp_path / "wh").mkdir()
    monkeypatch.chdir(tmp_path)
    b = builder(extra_ca_bundle="ca.pem", wheelhouse="wh")
    assert b.extra_ca_bundle == str(tmp_path / "ca.pem") and b.wheelhouse == str(tmp_path / "wh")


# -- ensure/find with a fake engine ------------------------------------------------------------

class FakeAPI:
    def __init__(self, images: dict[str, dict], build_items=()):
        self.images_by_ref = images
        self.build_items = list(build_items)
        self.inspected: list[str] = []
        self.built: list[dict] = []

    def inspect_image(self, ref):
        self.inspected.append(ref)
        if ref not in self.images_by_ref:
            raise ImageNotFound(f"no such image: {ref}")
        return self.images_by_ref[ref]

    def build(self, **kw):
        self.built.append(kw)
        return iter(self.build_items)

    def images(self, **kw):
        return []


class FakeEngine(DockerEngine):
    def __init__(self, api):
        super().__init__()
        self._api = api

    @property
    def api(self):
        return self._api


BASE = {"Id": "sha256:" + "1" * 64, "RepoDigests": []}


def make_profile(context) -> Profile:
    return Profile(name="demo", display_name="Demo", context_dir=str(context))


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


# -- bootstrap ---------------------------------------------------------------------------------

def test_default_mirror_deb822(tmp_path):
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\n# comment\nURIs: http://mirror.example.org/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb-src\nURIs: http://src.example.org/debian\n\n"
        "Types: deb\nURIs: http://mirror.example.org/debian/\nSuites: bookworm\n"
    )
    assert bootstrap.default_mirror([str(sources)]) == "http://mirror.example.org/debian"


def test_default_mirror_one_line_and_fallback(tmp_path):
    listing = tmp_path / "sources.list"
    listing.write_text("# deb http://commented.example/debian bookworm main\n"
                       "deb [signed-by=/k.gpg] https://m.example/debian bookworm main\n")
    assert bootstrap.default_mirror([str(tmp_path / "missing.list"), str(listing)]) == "https://m.example/debian"
    assert bootstrap.default_mirror([str(tmp_path / "missing.list")]) == "http://deb.debian.org/debian"


def test_bootstrap_needs_debootstrap(monkeypatch):
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="apt-get install debootstrap"):
        bootstrap.bootstrap_base(engine=DockerEngine())


def test_bootstrap_needs_root(monkeypatch):
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 1000)
    with pytest.raises(ConfigError, match="root"):
        bootstrap.bootstrap_base(engine=DockerEngine())


def test_bootstrap_rejects_odd_suite(monkeypatch):
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: f"/usr/sbin/{name}")
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 0)
    with pytest.raises(ConfigError, match="suite"):
        bootstrap.bootstrap_base(engine=DockerEngine(), suite="bookworm; rm -rf /")


# -- the framework profiles ---------------------------------------------------------------------

FRAMEWORK_PROFILES = {"pytorch": ("pytorch", "13.0"), "pytorch-cu126": ("pytorch", "12.6"),
                      "tensorflow": ("tensorflow", "12.5")}


def dockerfile_stages(text: str) -> tuple[dict[str, str | None], list[tuple[str, str | None]]]:
    """(global ARGs with defaults, [(FROM image, stage name)]) of a Dockerfile, continuations joined."""
    lines = " ".join(line.rstrip("\\") if line.rstrip().endswith("\\") else line + "\n"
                     for line in text.splitlines() if not line.lstrip().startswith("#"))
    global_args: dict[str, str | None] = {}
    stages: list[tuple[str, str | None]] = []
    for line in lines.splitlines():
        words = line.split()
        if not words:
            continue
        instruction = words[0].upper()
        if instruction == "ARG" and not stages:
            name, _, value = words[1].partition("=")
            global_args[name] = value if "=" in words[1] else None
        elif instruction == "FROM":
            stages.append((words[1], words[3] if len(words) > 3 and words[2].upper() == "AS" else None))
    return global_args, stages


def stage_args(text: str) -> dict[str, str]:
    """ARGs declared after the first FROM, with their defaults."""
    after = text[text.index("\nFROM "):]
    return dict(line.split(None, 1)[1].partition("=")[::2] for line in after.splitlines() if line.startswith("ARG "))


@pytest.mark.parametrize("name", sorted(FRAMEWORK_PROFILES))
def test_framework_profiles_declare_framework_and_cuda(name):
    from workspace_launcher.catalog.profiles import ProfileRegistry

    profile = ProfileRegistry().all()[name]
    assert (profile.framework, profile.cuda_version) == FRAMEWORK_PROFILES[name]
    assert profile.gpu_vendor == "nvidia"
    assert profile.cuda_version in profile.display_name


@pytest.mark.parametrize("name", sorted(FRAMEWORK_PROFILES))
def test_framework_profiles_render_a_valid_two_stage_context(name, tmp_path):
    from workspace_launcher.catalog.profiles import ProfileRegistry

    profile = ProfileRegistry().all()[name]
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    (wheels / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"zip")
    dest = tmp_path / "out"
    builder(wheelhouse=str(wheels)).render_context(profile, dest)
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        ["Dockerfile", "build-ca.crt", "constraints.txt", "requirements.txt", "wheels"])
    text = (dest / "Dockerfile").read_text()
    global_args, stages = dockerfile_stages(text)
    assert global_args == {"JUPYTER_IMAGE": None}
    assert stages == [("${JUPYTER_IMAGE}", "build"), ("${JUPYTER_IMAGE}", None)]
    final = text[text.rindex("\nFROM "):]
    assert "COPY wheels/" in text and "wheels" not in final  # the wheelhouse stays in the build stage
    assert "COPY --from=build --chown=1000:100 /tmp/venv-delta/ /opt/venv/" in final
    assert "install-profile-packages apply" in final
    assert "install-profile-packages install" in text and "install-profile-packages collect" in text
    assert "EXTRA_INDEX_URL" in stage_args(text)


def test_the_two_pytorch_profiles_differ_in_torch_and_index():
    from workspace_launcher.catalog.profiles import ProfileRegistry

    profiles = ProfileRegistry().all()
    pypi = stage_args(Path(profiles["pytorch"].context_dir, "Dockerfile").read_text())
    cu126 = stage_args(Path(profiles["pytorch-cu126"].context_dir, "Dockerfile").read_text())
    assert pypi == {"TORCH_VERSION": "2.13.0", "EXTRA_INDEX_URL": ""}
    assert cu126 == {"TORCH_VERSION": "2.9.1+cu126", "EXTRA_INDEX_URL": "https://download.pytorch.org/whl/cu126"}


def test_the_install_helper_ships_once_in_the_jupyter_layer():
    from workspace_launcher.catalog.profiles import PACKAGED_IMAGES_DIR

    layer = (PACKAGED_IMAGES_DIR / "jupyter" / "Dockerfile").read_text()
    assert "COPY install-profile-packages.py /usr/local/bin/install-profile-packages" in layer
    for name in (*FRAMEWORK_PROFILES, "minimal"):
        assert not (PACKAGED_IMAGES_DIR / name / "install-packages.py").exists()
        assert "install-profile-packages apply" in (PACKAGED_IMAGES_DIR / name / "Dockerfile").read_text()


def _pins(path: Path) -> dict[str, str]:
    import re

    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path}: {line!r} is not pinned with =="
            pins[re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()] = version
    return pins


@pytest.mark.parametrize("name", sorted(FRAMEWORK_PROFILES))
def test_profile_pins_agree_with_the_jupyter_layer(name):
    from workspace_launcher.catalog.profiles import PACKAGED_IMAGES_DIR

    layer = _pins(PACKAGED_IMAGES_DIR / "jupyter" / "constraints.txt")
    ctx = PACKAGED_IMAGES_DIR / name
    requirements, constraints = _pins(ctx / "requirements.txt"), _pins(ctx / "constraints.txt")
    for package, version in {**constraints, **requirements}.items():
        assert layer.get(package, version) == version, f"{name} pins {package}=={version}, the layer {layer[package]}"
    if name.startswith("pytorch"):
        assert requirements == {"numpy": "2.4.6", "pillow": "13.0.0", "matplotlib": "3.11.2"}
        assert {"filelock", "fsspec", "networkx", "sympy", "mpmath", "contourpy", "cycler", "fonttools",
                "kiwisolver", "pyparsing"} <= set(constraints)
        assert "torch" not in constraints  # TORCH_VERSION decides, so a wheelhouse build can differ


def _load_install_helper():
    import importlib.util

    from workspace_launcher.catalog.profiles import PACKAGED_IMAGES_DIR

    spec = importlib.util.spec_from_file_location(
        "install_packages", PACKAGED_IMAGES_DIR / "jupyter" / "install-profile-packages.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_install_helper_collects_only_what_changed(tmp_path, monkeypatch):
    helper = _load_install_helper()
    venv, delta = tmp_path / "venv", tmp_path / "delta"
    site = venv / "lib" / "site-packages"
    (site / "oldpkg-1.0.dist-info").mkdir(parents=True)
    (site / "oldpkg-1.0.dist-info" / "RECORD").write_text("old")
    (site / "oldpkg").mkdir()
    (site / "oldpkg" / "__init__.py").write_text("v1")
    (site / "kept.py").write_text("kept")
    (venv / "bin").mkdir()
    (venv / "bin" / "python").symlink_to("/usr/bin/python3")
    for name, value in (("VENV", str(venv)), ("DELTA", str(delta)), ("STATE", str(tmp_path / "state.json"))):
        monkeypatch.setattr(helper, name, value)
    helper.snapshot()
    # what an upgrade of oldpkg plus a new package does
    (site / "oldpkg-1.0.dist-info" / "RECORD").unlink()
    (site / "oldpkg-1.0.dist-info").rmdir()
    (site / "oldpkg-2.0.dist-info").mkdir()
    (site / "oldpkg-2.0.dist-info" / "RECORD").write_text("new")
    (site / "oldpkg" / "__init__.py").write_text("v2")
    (site / "newpkg" / "sub").mkdir(parents=True)
    (site / "newpkg" / "sub" / "m.py").write_text("m")
    (venv / "bin" / "tool").write_text("#!/opt/venv/bin/python\n")
    (venv / "bin" / "tool").chmod(0o755)
    helper.collect()
    got = sorted(str(p.relative_to(delta)) for p in delta.rglob("*") if not p.is_dir())
    assert got == [".removed-by-profile", "bin/tool", "lib/site-packages/newpkg/sub/m.py",
                   "lib/site-packages/oldpkg-2.0.dist-info/RECORD", "lib/site-packages/oldpkg/__init__.py"]
    assert (delta / "bin" / "tool").stat().st_mode & 0o111
    assert (delta / ".removed-by-profile").read_text().split() == [
        "lib/site-packages/oldpkg-1.0.dist-info", "lib/site-packages/oldpkg-1.0.dist-info/RECORD"]
    assert (site / "kept.py").exists() and (venv / "bin" / "python").is_symlink()  # untouched stays
    # the final stage: the delta lands on the layer's venv, then apply removes what was replaced
    shutil.copytree(delta, venv, dirs_exist_ok=True)
    (site / "oldpkg-1.0.dist-info").mkdir()
    (site / "oldpkg-1.0.dist-info" / "RECORD").write_text("old")
    helper.apply()
    assert not (site / "oldpkg-1.0.dist-info").exists() and not (venv / ".removed-by-profile").exists()
    assert (site / "oldpkg-2.0.dist-info" / "RECORD").read_text() == "new" and (site / "kept.py").exists()


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


def test_labels_record_the_base_digest_and_id(context):
    api = FakeAPI({"workspace-launcher/base:bookworm": BASE}, [{"error": "stop here"}])
    b = ImageBuilder(engine=FakeEngine(api))
    with pytest.raises(ImageBuildError):
        asyncio.run(b.ensure(make_profile(context)))
    labels = api.built[0]["labels"]
    assert labels["workspace-launcher.base-digest"] == BASE["Id"] == labels["workspace-launcher.base-id"]
    assert labels["workspace-launcher.base-image"] == "workspace-launcher/base:bookworm"


# -- trusting the host's CA store --------------------------------------------------------------

def test_builds_trust_the_host_ca_store_by_default(monkeypatch, tmp_path):
    store = tmp_path / "host-ca.crt"
    store.write_bytes(PEM)
    monkeypatch.setattr(images, "HOST_CA_STORES", ("/nonexistent/ca.crt", str(store)))
    assert builder().build_ca_bundle == str(store)
    assert builder(trust_host_ca=False).build_ca_bundle == ""
    own = tmp_path / "own.pem"
    own.write_bytes(PEM)
    assert builder(extra_ca_bundle=str(own)).build_ca_bundle == str(own)
    monkeypatch.setattr(images, "HOST_CA_STORES", ("/nonexistent/ca.crt",))
    assert builder().build_ca_bundle == ""


def test_a_tls_build_failure_names_the_setting():
    tail = ["Collecting numpy", "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] ...'))"]
    explained = explain_build_error("The command returned a non-zero code: 1", tail)
    assert "ImageBuilder.extra_ca_bundle" in explained and "TLS" in explained
    assert explain_build_error("no space left on device", ["Step 3/9"]) == "no space left on device"
