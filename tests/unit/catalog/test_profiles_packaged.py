"""The packaged profiles' build contexts: the framework profiles' declarations, their two-stage
Dockerfiles, their pins against the Jupyter layer's, and the layer's shared install helper."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workspace_launcher.engine.docker import DockerEngine
from workspace_launcher.images.builder import ImageBuilder

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
    ImageBuilder(engine=DockerEngine(), wheelhouse=str(wheels)).render_context(profile, dest)
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
