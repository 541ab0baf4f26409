"""Pinned base images against a real registry on loopback (Debian's ``docker-registry``).

The engine allows plain-HTTP pulls and pushes to 127.0.0.0/8, so a registry served by a
subprocess on a free loopback port is enough to push the base, pin it by its registry digest,
pull it back by digest through the builder, build on it, and move the tag to see drift refused.
Everything pushed or built here is named ``wltest...`` (or carries this base's own context
hash) and removed at the end; the shared base image itself is only tagged and untagged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import shutil
import socket
import subprocess
import time
import warnings

import pytest
import requests
from docker.errors import APIError, ImageNotFound, NotFound

from workspace_launcher.catalog.profiles import PACKAGED_IMAGES_DIR, load_profile_dir
from workspace_launcher.engine.docker import DockerEngine
from workspace_launcher.errors import ImageBuildError
from workspace_launcher.images.bootstrap import DEFAULT_BASE_TAG
from workspace_launcher.images.builder import ImageBuilder
from workspace_launcher.images.pinning import (
    LABEL_BASE_DIGEST,
    LABEL_BASE_ID,
    LABEL_BASE_IMAGE,
    BaseImageDrift,
    Lock,
    UnpinnedBaseImage,
    check_launch,
    pinned_digest,
    read_lock,
    resolve_locks,
    write_lock,
)

pytestmark = pytest.mark.integration

CA_BUNDLE = os.environ.get("WORKSPACE_LAUNCHER_TEST_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_registry(root, *, htpasswd: str | None = None):
    """A docker-registry on 127.0.0.1:<free port> storing under ``root``; yields 'host:port'."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed: `apt-get install -y docker-registry` "
                    "(scripts/setup-host.sh installs it)")
    port = free_port()
    config = root / "config.yml"
    auth = ""
    if htpasswd:
        (root / "htpasswd").write_text(htpasswd)
        auth = f"auth:\n  htpasswd:\n    realm: wltest\n    path: {root / 'htpasswd'}\n"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{auth}"
    )
    log = open(root / "registry.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code in (200, 401):
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"docker-registry did not come up: {(root / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with serve_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


@pytest.fixture(scope="module")
def refs_to_remove(docker_client):
    """Image references made by this module, untagged (or removed) at the end."""
    refs: list[str] = []
    yield refs
    names = [r for r in refs if not r.startswith("sha256:")]
    for ref in names + [r for r in refs if r not in names]:  # untag first, then images by id
        with contextlib.suppress(APIError):
            docker_client.images.remove(ref, force=ref.startswith("sha256:"))


def push(docker_client, repository: str, tag: str, auth_config: dict | None = None) -> str:
    """Push ``repository:tag``; returns its registry reference ``repository@sha256:...``."""
    errors = [item for item in docker_client.api.push(repository, tag, stream=True, decode=True,
                                                      auth_config=auth_config)
              if "error" in item or "errorDetail" in item]
    assert not errors, errors
    digests = docker_client.api.inspect_image(f"{repository}:{tag}")["RepoDigests"]
    matching = [d for d in digests if d.startswith(f"{repository}@sha256:")]
    assert matching, digests
    return matching[0]


def untag_everywhere(docker_client, *refs: str) -> None:
    for ref in refs:
        with contextlib.suppress(ImageNotFound, NotFound):
            docker_client.images.remove(ref)
    for ref in refs:
        with pytest.raises(ImageNotFound):
            docker_client.api.inspect_image(ref)


def make_builder(engine, tmp_path, **kw) -> ImageBuilder:
    if os.path.isfile(CA_BUNDLE):
        kw.setdefault("extra_ca_bundle", CA_BUNDLE)
    kw.setdefault("lock_file", str(tmp_path / "workspace_launcher.lock.json"))
    return ImageBuilder(engine=engine, **kw)


@pytest.fixture
def engine(docker_client):
    engine = DockerEngine()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def base_id(docker_client):
    return docker_client.api.inspect_image(DEFAULT_BASE_TAG)["Id"]


@pytest.fixture(scope="module")
def pushed_base(registry, docker_client, refs_to_remove, base_id):
    """The bootstrapped base pushed as <registry>/wltest/base:v1: (repository, pinned reference)."""
    repository = f"{registry}/wltest/base"
    docker_client.api.tag(DEFAULT_BASE_TAG, repository, "v1")
    pinned = push(docker_client, repository, "v1")
    refs_to_remove.extend([f"{repository}:v1", pinned])
    return repository, pinned


def minimal_on(base: str):
    return dataclasses.replace(load_profile_dir(PACKAGED_IMAGES_DIR / "minimal"), base_image=base)


def test_pinned_base_is_pulled_by_digest_and_built_on(pushed_base, engine, docker_client, tmp_path, base_id):
    repository, pinned = pushed_base
    untag_everywhere(docker_client, f"{repository}:v1", pinned)  # the engine no longer has it by that name
    builder = make_builder(engine, tmp_path, require_pinned_images=True)
    profile = minimal_on(pinned)
    assert pinned_digest(profile, builder, Lock()) == pinned.split("@")[1]
    lines: list[str] = []
    built = None
    try:
        started = time.monotonic()
        built = asyncio.run(builder.ensure(profile, on_log=lines.append))
        print(f"minimal on the pinned base: built in {time.monotonic() - started:.1f}s")
        assert any(line == f"pulling {pinned}" for line in lines)
        assert docker_client.api.inspect_image(pinned)["Id"] == base_id
        labels = docker_client.api.inspect_image(built.tag)["Config"]["Labels"]
        assert labels[LABEL_BASE_IMAGE] == pinned
        assert labels[LABEL_BASE_DIGEST] == pinned and labels[LABEL_BASE_ID] == base_id
        out = docker_client.containers.run(built.tag, ["python", "-c", "import numpy; print('ok')"], remove=True)
        assert out.decode().strip() == "ok"
        again = asyncio.run(builder.ensure(profile))
        assert again.built is False and again.tag == built.tag
    finally:
        plan = asyncio.run(builder._make_plan(profile))
        for tag in (plan.profile_tag, plan.jupyter_tag):  # this base reference's own images
            with contextlib.suppress(ImageNotFound, NotFound):
                docker_client.images.remove(tag, force=True)


def test_lock_round_trips_moved_tag_is_refused_and_relock_accepts(
    pushed_base, registry, engine, docker_client, tmp_path, refs_to_remove, base_id,
):
    repository, pinned = pushed_base
    tag = f"{repository}:v1"
    docker_client.api.tag(DEFAULT_BASE_TAG, repository, "v1")
    builder = make_builder(engine, tmp_path, require_pinned_images=True)
    profile = minimal_on(tag)
    with pytest.raises(UnpinnedBaseImage, match="workspace-launcher images lock"):
        asyncio.run(builder.ensure(profile))

    lock = asyncio.run(resolve_locks(builder, [profile]))
    entry = lock.profiles["minimal"]
    assert (entry.base_image, entry.digest, entry.image_id) == (tag, pinned, base_id)
    write_lock(builder.lock_file, lock)
    assert read_lock(builder.lock_file) == lock
    assert asyncio.run(builder.check_base(profile)).digest == pinned
    assert pinned_digest(profile, builder, lock) == pinned.split("@")[1]
    base_labels = {LABEL_BASE_IMAGE: tag, LABEL_BASE_DIGEST: pinned, LABEL_BASE_ID: base_id}
    check_launch(base_labels, lock, profile)

    # someone pushes a different image under the same tag, and this engine pulls it
    container = docker_client.containers.run(DEFAULT_BASE_TAG, ["sh", "-c", "echo drift > /etc/wltest-drift"],
                                             detach=True)
    try:
        container.wait(timeout=60)
        container.commit(repository=repository, tag="v1")
    finally:
        container.remove(force=True)
    moved = push(docker_client, repository, "v1")
    refs_to_remove.extend([tag, moved])
    moved_id = docker_client.api.inspect_image(tag)["Id"]
    assert moved != pinned and moved_id != base_id

    with pytest.raises(BaseImageDrift) as info:
        asyncio.run(builder.ensure(profile))
    message = info.value.message
    assert moved.split("@")[1] in message and pinned.split("@")[1] in message
    assert "Run 'workspace-launcher images lock' to accept the new base" in message
    assert f"pin it by digest: base_image = '{pinned}'" in message
    assert asyncio.run(builder.find(profile)) is None

    # without the tag in the engine, the lock wins: the locked digest is pulled, not the new tag
    untag_everywhere(docker_client, tag, pinned)
    resolved = asyncio.run(builder.check_base(profile))
    assert resolved.pulled and resolved.image_id == base_id and resolved.digest == pinned

    # accepting the new base: refresh the tag from the registry and lock again
    relocked = asyncio.run(resolve_locks(builder, [profile], pull=True, previous=lock))
    assert relocked.profiles["minimal"].digest == moved and relocked.profiles["minimal"].image_id == moved_id
    write_lock(builder.lock_file, relocked)
    assert asyncio.run(builder.check_base(profile)).image_id == moved_id
    with pytest.raises(BaseImageDrift, match="images build minimal"):  # an image built on the old base
        check_launch(base_labels, relocked, profile)
    refs_to_remove.append(moved_id)


def test_unpinned_default_base_is_refused_and_an_image_id_pin_passes(engine, tmp_path, base_id):
    builder = make_builder(engine, tmp_path, require_pinned_images=True)
    profile = load_profile_dir(PACKAGED_IMAGES_DIR / "minimal")
    with pytest.raises(UnpinnedBaseImage) as info:
        asyncio.run(builder.ensure(profile))
    assert "run 'workspace-launcher images lock'" in info.value.message
    assert f"image id '{base_id}'" in info.value.message
    assert asyncio.run(builder.check_base(dataclasses.replace(profile, base_image=base_id))).image_id == base_id
    write_lock(builder.lock_file, asyncio.run(resolve_locks(builder, [profile])))
    assert asyncio.run(builder.check_base(profile)).digest == base_id  # no registry digest: the id


def test_docker_hub_reference_is_pulled_through_the_mirror(registry, engine, docker_client, tmp_path,
                                                           refs_to_remove, base_id):
    name = f"wltest-hub-{secrets.token_hex(3)}"
    repository = f"{registry}/library/{name}"
    docker_client.api.tag(DEFAULT_BASE_TAG, repository, "v1")
    mirrored = push(docker_client, repository, "v1")
    digest = mirrored.split("@")[1]
    refs_to_remove.extend([f"{repository}:v1", mirrored])
    untag_everywhere(docker_client, f"{repository}:v1", mirrored)

    plain = make_builder(engine, tmp_path)
    with pytest.raises(ImageBuildError, match="registry_mirror"):  # no mirror: a Docker Hub name is not pulled
        asyncio.run(plain.resolve_base(f"{name}@{digest}"))
    builder = make_builder(engine, tmp_path, registry_mirror=registry)
    resolved = asyncio.run(builder.resolve_base(f"docker.io/library/{name}@{digest}"))
    assert resolved.pulled and resolved.image_id == base_id and resolved.digest == f"{name}@{digest}"
    again = asyncio.run(builder.resolve_base(f"{name}@{digest}"))  # found under the mirror's name now
    assert not again.pulled and again.digest == f"{name}@{digest}"


def test_registry_credentials_are_used_for_pulls(tmp_path, engine, docker_client, refs_to_remove, base_id):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # bcrypt hashes for the registry's htpasswd; Debian's Python 3.11 has it
    password = secrets.token_hex(8)
    hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    with serve_registry(tmp_path, htpasswd=f"wltest:{hashed}\n") as address:
        creds = {"username": "wltest", "password": password}
        repository = f"{address}/wltest/private"
        docker_client.api.tag(DEFAULT_BASE_TAG, repository, "v1")
        pinned = push(docker_client, repository, "v1", auth_config=creds)
        refs_to_remove.extend([f"{repository}:v1", pinned])
        untag_everywhere(docker_client, f"{repository}:v1", pinned)

        anonymous = make_builder(engine, tmp_path)
        with pytest.raises(ImageBuildError, match="registry_credentials") as info:
            asyncio.run(anonymous.resolve_base(pinned))
        assert "no basic auth credentials" in info.value.message or "unauthorized" in info.value.message
        builder = make_builder(engine, tmp_path, registry_credentials={address: creds})
        resolved = asyncio.run(builder.resolve_base(pinned))
        assert resolved.pulled and resolved.image_id == base_id and resolved.digest == pinned
