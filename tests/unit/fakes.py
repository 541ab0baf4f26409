"""Shared fakes of the unit tests: a Docker engine whose low-level API holds images by reference,
pulls from a fake registry and streams canned build output; a build context, a PEM bundle,
sample digests, a sample lock file and a workspace container as the engine describes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker.errors import ImageNotFound

from workspace_launcher.engine.docker import DockerEngine
from workspace_launcher.engine.labels import MANAGED_LABEL
from workspace_launcher.engine.objects import Container
from workspace_launcher.images.pinning import Lock, LockEntry

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
ID1 = "sha256:" + "a" * 64
ID2 = "sha256:" + "b" * 64
REG = "127.0.0.1:5000"


class FakeAPI:
    """Images by reference; a pull of a reference in ``registry`` makes it local; a build records
    its arguments and streams ``build_items``."""

    def __init__(self, images: dict[str, dict] | None = None, build_items=(), *,
                 registry: dict[str, dict] | None = None):
        self.images_by_ref = dict(images or {})
        self.registry = registry or {}
        self.build_items = list(build_items)
        self.inspected: list[str] = []
        self.built: list[dict] = []
        self.pulls: list[tuple[str, dict | None]] = []

    def inspect_image(self, ref):
        self.inspected.append(ref)
        if ref not in self.images_by_ref:
            raise ImageNotFound(f"no such image: {ref}")
        return self.images_by_ref[ref]

    def pull(self, ref, stream=False, decode=False, auth_config=None):
        self.pulls.append((ref, auth_config))
        if ref not in self.registry:
            return iter([{"status": "Pulling"}, {"error": f"manifest for {ref} not found"}])
        self.images_by_ref[ref] = self.registry[ref]
        return iter([{"status": "Pulling from x", "id": "v1"}, {"status": "Digest: sha256:..."}])

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


@pytest.fixture
def context(tmp_path) -> Path:
    """A profile's build context: a Dockerfile, a script in a sub-folder, the declaration."""
    ctx = tmp_path / "ctx"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("ARG JUPYTER_IMAGE\nFROM ${JUPYTER_IMAGE}\n")
    (ctx / "sub" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (ctx / "profile.json").write_text('{"name": "demo"}')
    return ctx


def sample_lock() -> Lock:
    return Lock({
        "minimal": LockEntry(f"{REG}/wltest/base:v1", f"{REG}/wltest/base@{D1}", ID1, "2026-11-23T16:00:00Z"),
        "pytorch": LockEntry("workspace-launcher/base:bookworm", ID2, ID2, "2026-11-23T16:00:01Z"),
    })


NOW = 1_800_000_000.0


def workspace_container(workspace_id: str, status: str, gpus: str, *, deadline: float | None = NOW + 60, **state) -> Container:
    """A workspace container as the engine describes it (``deadline`` None: no deadline label)."""
    labels = {MANAGED_LABEL: workspace_id, "workspace-launcher.gpus": gpus}
    if deadline is not None:
        labels["workspace-launcher.launch-deadline"] = f"{deadline:.0f}"
    return Container.from_attrs({"Id": "c" * 64, "Created": "2027-01-15T08:00:00.123456789Z", "Config": {"Labels": labels},
                                 "State": {"Status": status, **state}, "HostConfig": {"Memory": 256 * 1024**2}})


def networked_container(address: str | None = "172.18.0.5", port: str | None = "32801", network: str = "workspace-launcher",
          gateway: str = "192.0.2.1") -> Container:
    """A container as the engine describes it; the default gateway (TEST-NET-1) is on no
    interface of this host."""
    networks = {network: {"IPAddress": address or "", "Gateway": gateway}}
    ports = {"8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": port}] if port else None}
    return Container.from_attrs({"NetworkSettings": {"Networks": networks, "Ports": ports}})


class ManualClock:
    """A monotonic clock the test turns: ``clock.now += 60``."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
