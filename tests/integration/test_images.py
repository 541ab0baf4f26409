"""Image builds against the real engine.

The shared Jupyter layer and the ``minimal`` image are the launcher's cache and are kept;
everything else made here is named ``wltest...`` and removed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import time
import zipfile
from pathlib import Path

import pytest

from workspace_launcher.catalog.profiles import PACKAGED_IMAGES_DIR, Profile, load_profile_dir
from workspace_launcher.engine.docker import DockerEngine
from workspace_launcher.errors import ImageBuildError
from workspace_launcher.images.builder import ImageBuilder

pytestmark = pytest.mark.integration

CA_BUNDLE = os.environ.get("WORKSPACE_LAUNCHER_TEST_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture
def engine(docker_client):
    engine = DockerEngine()
    yield engine
    engine.close()


def make_builder(engine: DockerEngine, **kw) -> ImageBuilder:
    if os.path.isfile(CA_BUNDLE):
        kw.setdefault("extra_ca_bundle", CA_BUNDLE)
    return ImageBuilder(engine=engine, **kw)


@pytest.fixture
def cleanup(docker_client):
    """Image references to remove at the end of the test (with their untagged parents)."""
    refs: list[str] = []
    yield refs
    for ref in refs:
        for image in docker_client.images.list(name=ref):
            docker_client.images.remove(image.id, force=True)


def temp_profile(tmp_path: Path, dockerfile: str, *, prefix: str) -> Profile:
    name = f"wltest-{prefix}-{secrets.token_hex(3)}"
    ctx = tmp_path / name
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    return Profile(name=name, display_name=name, context_dir=str(ctx))


def dangling_ids(docker_client) -> set[str]:
    return {image.id for image in docker_client.images.list(filters={"dangling": True})}


def test_minimal_builds_with_labels_then_is_reused(engine, docker_client):
    builder = make_builder(engine)
    profile = load_profile_dir(PACKAGED_IMAGES_DIR / "minimal")
    built = asyncio.run(builder.ensure(profile))
    assert built.tag == f"workspace-launcher/minimal:{built.context_hash[:12]}"

    image = docker_client.images.get(built.tag)
    assert image.id == built.image_id
    labels = image.labels
    assert labels["workspace-launcher.profile"] == "minimal"
    assert labels["workspace-launcher.role"] == "profile"
    assert labels["workspace-launcher.context-hash"] == built.context_hash
    assert labels["workspace-launcher.base-image"] == builder.base_image
    assert labels["workspace-launcher.base-digest"].startswith("sha256:")
    assert labels["workspace-launcher.version"]
    config = image.attrs["Config"]
    assert config["User"] == "1000"
    assert config["Entrypoint"] == ["tini", "-g", "--"]
    assert config["WorkingDir"] == "/home/jovyan/work"
    assert "8888/tcp" in config["ExposedPorts"]
    assert not any(e.startswith("JUPYTER_TOKEN=") for e in config["Env"])

    layers = [i for i in asyncio.run(builder.list_images()) if i["role"] == "jupyter-layer"]
    assert any(i["context_hash"] and i["tag"].startswith("workspace-launcher/jupyter:") for i in layers)

    started = time.monotonic()
    again = asyncio.run(builder.ensure(profile))
    elapsed = time.monotonic() - started
    assert again.built is False and again.image_id == built.image_id and again.tag == built.tag
    assert elapsed < 1.0, f"a cached ensure() took {elapsed:.2f}s"
    assert asyncio.run(builder.find(profile)) == again

    out = docker_client.containers.run(
        built.tag,
        ["sh", "-c", "id -u; id -g; test -s /usr/local/share/ca-certificates/workspace-launcher-build-ca.crt "
         "&& echo ca; stat -c %u:%g /models /datasets /home/jovyan/work /opt/venv; "
         "python -c 'import numpy, jupyterlab; print(numpy.__version__)'"],
        remove=True,
    ).decode()
    lines = out.split()
    assert lines[:2] == ["1000", "100"]
    assert ("ca" in lines) == bool(builder.build_ca_bundle)
    assert lines.count("1000:100") == 4


def test_failed_build_leaves_no_tag_and_no_dangling_image(engine, docker_client, tmp_path, cleanup):
    builder = make_builder(engine)
    profile = temp_profile(
        tmp_path,
        "ARG JUPYTER_IMAGE\nFROM ${JUPYTER_IMAGE}\nRUN echo step-before-failure > /tmp/x\n"
        "RUN echo about-to-fail && false\n",
        prefix="fail",
    )
    cleanup.append(f"workspace-launcher/{profile.name}")
    before = dangling_ids(docker_client)
    lines: list[str] = []
    with pytest.raises(ImageBuildError) as info:
        asyncio.run(builder.ensure(profile, on_log=lines.append))
    assert f"building profile {profile.name!r} failed" in info.value.message
    assert "non-zero code" in info.value.message
    assert "about-to-fail" in info.value.log_tail
    assert any("about-to-fail" in line for line in lines)
    assert docker_client.images.list(name=f"workspace-launcher/{profile.name}") == []
    assert dangling_ids(docker_client) - before == set()
    assert asyncio.run(builder.find(profile)) is None


def make_wheel(directory: Path, name: str) -> None:
    """A minimal pure-Python wheel written by hand (PEP 427)."""
    dist_info = f"{name}-0.1.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 42\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: handmade\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(directory / f"{name}-0.1-py3-none-any.whl", "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)


def test_wheelhouse_is_offered_to_pip(engine, docker_client, tmp_path, cleanup):
    package = f"wltest_wheel_{secrets.token_hex(4)}"
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    make_wheel(wheelhouse, package)
    builder = make_builder(engine, wheelhouse=str(wheelhouse))
    profile = temp_profile(
        tmp_path,
        f"ARG JUPYTER_IMAGE\nFROM ${{JUPYTER_IMAGE}}\nCOPY wheels/ /tmp/wheels/\n"
        f"RUN pip install --no-index --find-links /tmp/wheels {package}\n",
        prefix="wheels",
    )
    cleanup.append(f"workspace-launcher/{profile.name}")
    plan = asyncio.run(builder._make_plan(profile))
    cleanup.append(plan.jupyter_tag)  # this wheelhouse's own Jupyter layer: not the shared one
    built = asyncio.run(builder.ensure(profile))
    assert built.built is True
    out = docker_client.containers.run(
        built.tag, ["python", "-c", f"import {package}; print({package}.VALUE)"], remove=True
    )
    assert out.decode().strip() == "42"


def test_an_unconfigured_builder_trusts_the_host_ca_store_like_a_configured_one(engine, minimal_image):
    """`jupyter lab` or the CLI started with no CA setting builds (and reuses) the very image
    that trusts the host's CA store: on a host behind a TLS-intercepting proxy it still builds."""
    plain = ImageBuilder(engine=engine)  # no extra_ca_bundle, the defaults
    if not os.path.isfile(CA_BUNDLE) or plain.build_ca_bundle != CA_BUNDLE:
        pytest.skip(f"the suite's CA bundle {CA_BUNDLE} is not this host's system store")
    assert plain.extra_ca_bundle == ""
    profile = load_profile_dir(PACKAGED_IMAGES_DIR / "minimal")
    found = asyncio.run(plain.find(profile))
    assert found is not None and found.tag == minimal_image.tag
    assert asyncio.run(ImageBuilder(engine=engine, trust_host_ca=False).find(profile)) is None


HASH_EVERY_CONTEXT = """
import json, sys
from pathlib import Path
from workspace_launcher.catalog.profiles import PACKAGED_IMAGES_DIR
from workspace_launcher.images.contexts import context_hash
print(json.dumps({d.name: context_hash(d, base_ref="b", base_id="i", build_args={})
                  for d in sorted(Path(PACKAGED_IMAGES_DIR).iterdir()) if (d / "Dockerfile").is_file()}))
"""


def test_the_installed_package_hashes_its_contexts_like_the_source_tree(tmp_path):
    """The lab server runs the installed copy and the tests build from the sources: one image
    must serve both (a script's exec bit lost on install once made every server rebuild)."""
    import json
    import subprocess
    import sys

    installed = subprocess.run([sys.executable, "-c", HASH_EVERY_CONTEXT], cwd=tmp_path, check=True,
                               capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    source = subprocess.run([sys.executable, "-c", HASH_EVERY_CONTEXT], cwd=Path(__file__).parents[2], check=True,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert "_images" in subprocess.run([sys.executable, "-c", "import workspace_launcher.catalog.profiles as p; "
                                        "print(p.PACKAGED_IMAGES_DIR)"], cwd=tmp_path, capture_output=True,
                                       text=True, env={**os.environ, "PYTHONPATH": ""}).stdout
    assert json.loads(installed.stdout) == json.loads(source.stdout)
