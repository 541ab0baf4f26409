"""A second, real Docker engine on this host, whose GPU containers start: for the concurrency and
fault tests, so the suite's main engine (GPU-less on purpose, for the "no runtime" tests) is
never stopped, restarted or given a GPU driver.

dockerd registers its NVIDIA device driver at start-up when an executable named
``nvidia-container-runtime-hook`` is on its ``PATH``; for a device request naming GPUs ``A,B`` it
then sets ``NVIDIA_VISIBLE_DEVICES=A,B`` in the container's process environment and runs that
hook as an OCI prestart hook. The stand-in hook here records the OCI state it is given (one JSON
line per container start, in ``hook-calls.jsonl``) and exits 0, so GPU workspaces start on a
GPU-less machine. The engine has its own socket, data-root, exec-root and pidfile (all in a
tmpfs of its own), a bridge of its own (``wl-e2-N``; never a "none" bridge, which deletes the
host's ``docker0``), no iptables rules of its own (``--iptables=false``), and a workspace
network on a bridge and subnet of its own (``wl-e2-N-ws``, 10.199.(64+N).0/24, given when the
network is made, not as a default address pool); nothing of the main engine's networking is touched.

Several test sessions on one machine each get an engine of their own: a slot ``N`` (0-7) is
claimed with a lock file held for the session, which decides the directory, the bridges and the
addresses. Whatever a killed session left in a free slot (a dockerd, its mounts, bridges,
directory) is removed before the slot is used again.

Images are moved in from the main engine with ``docker save | docker load`` (no registry here).

The fixture ``engine2`` starts it (about 20 s, most of it the image copy), and at the end of the
session stops it and removes its bridges, the firewall rules host servers put on its workspace
bridge, its tmpfs and its directory. Needs root, ``dockerd``, the ``docker`` client and ``ip``
(iproute2): ``scripts/test.sh`` installs them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import docker
import docker.errors
import docker.types
import pytest
import requests

#: Where slot N's engine lives (``-N``), and its lock file (``-N.lock``).
E2_PREFIX = "/var/tmp/workspace-launcher-e2"
SLOTS = 8
HOOK_NAME = "nvidia-container-runtime-hook"
#: The engine's directory is a tmpfs of at most this size: loading the images is quicker there,
#: and removing them at the end is an unmount instead of deleting tens of thousands of files.
TMPFS_SIZE = os.environ.get("WORKSPACE_LAUNCHER_TEST_E2_TMPFS", "8g")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


def _alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _mounts_below(root: Path, *, inclusive: bool = False) -> list[str]:
    """Mount points below ``root`` (and ``root`` itself when ``inclusive``)."""
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    return [p for p in points if p.startswith(f"{root}/") or (inclusive and p == str(root))]


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=120)


class SecondEngine:
    """One extra dockerd in slot ``slot``; start, stop and restart it by its own pid."""

    def __init__(self, slot: int = 0) -> None:
        assert 0 <= slot < SLOTS
        self.slot = slot
        self.root = root = Path(f"{E2_PREFIX}-{slot}")
        #: The engine's default bridge (builds and plain containers).
        self.bridge = f"wl-e2-{slot}"
        self.bridge_address = f"10.199.{slot}.1/24"
        #: The workspace network's bridge: never the main engine's (two engines asked for one
        #: bridge name silently share one interface, each taking it over).
        self.workspace_bridge = f"wl-e2-{slot}-ws"
        #: The workspace network's subnet, given when it is made. Not a --default-address-pool:
        #: with one set, dockerd deletes the host's docker0 at every restart over a data-root
        #: that has a default bridge network (moby's removeDefaultBridgeInterface), which breaks
        #: the main engine's builds and containers.
        self.workspace_subnet = f"10.199.{64 + slot}.0/24"
        self.socket = root / "docker.sock"
        self.data_root = root / "data"
        self.exec_root = root / "exec"
        self.pidfile = root / "docker.pid"
        self.hook_dir = root / "hook"
        self.hook_log = root / "hook-calls.jsonl"
        self.log = root / "dockerd.log"
        self._log_from = 0

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment reaching this engine, with the stand-in hook on PATH (the product's
        ``has_nvidia_runtime`` looks for the hook on the host server's PATH too)."""
        env = dict(os.environ if base is None else base)
        env["DOCKER_HOST"] = self.url
        env["PATH"] = f"{self.hook_dir}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        return env

    def client(self, timeout: int = 120) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=timeout)

    # -- state ------------------------------------------------------------------------------
    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            with contextlib.closing(self.client(timeout=5)) as client:
                return bool(client.ping())
        except (docker.errors.DockerException, requests.RequestException):
            return False

    # -- set-up -----------------------------------------------------------------------------
    def _write_hook(self) -> None:
        self.hook_dir.mkdir(parents=True, exist_ok=True)
        hook = self.hook_dir / HOOK_NAME
        hook.write_text(
            "#!/bin/sh\n"
            "# Stand-in for the NVIDIA prestart hook (tests only): records the OCI state, succeeds.\n"
            'state="$(cat)"\n'
            f"printf '%s\\n' \"$state\" >> '{self.hook_log}'\n"
            "exit 0\n"
        )
        hook.chmod(0o755)

    def _ensure_bridge(self) -> None:
        if _run("ip", "link", "show", self.bridge, check=False).returncode != 0:
            _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "replace", self.bridge_address, "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")

    def start(self) -> None:
        """Start dockerd (it must not be running) and wait until it answers."""
        for tool in ("dockerd", "docker", "ip"):
            if shutil.which(tool) is None:
                pytest.fail(f"{tool} is missing: the second engine needs dockerd, the docker client and "
                            "iproute2 (scripts/test.sh installs them)")
        if os.geteuid() != 0:
            pytest.fail("the second Docker engine needs root (scripts/test.sh runs the suite as root)")
        assert self.pid() is None, f"a dockerd already runs with {self.pidfile}"
        self.root.mkdir(parents=True, exist_ok=True)
        if TMPFS_SIZE and not _mounts_below(self.root, inclusive=True):
            _run("mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755", f"wltest-e2-{self.slot}", str(self.root))
        self._write_hook()
        self._ensure_bridge()
        self.pidfile.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        args = [
            "dockerd",
            "-H", self.url,
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.pidfile),
            f"--bridge={self.bridge}",
            "--iptables=false",
        ]
        self._log_from = self.log.stat().st_size if self.log.exists() else 0
        # Started through a shell that exits at once: dockerd is nobody's child here (no zombie,
        # no warning about a child still running), and is stopped by the pid in its pidfile.
        subprocess.run(["sh", "-c", '"$@" >>"$E2_LOG" 2>&1 </dev/null &', "sh", "setsid", *args],
                       env={**self.env(), "E2_LOG": str(self.log)}, check=True, timeout=30)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            if "failed to start daemon" in self._log_tail(5):
                pytest.fail(f"the second dockerd did not start:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the second dockerd did not answer in {START_TIMEOUT:.0f} s:\n{self._log_tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop dockerd by its pid (SIGTERM: it stops its containers first) and wait."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                time.sleep(1)
                break
            time.sleep(0.1)
        self.socket.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _log_tail(self, lines: int = 40) -> str:
        """The end of what dockerd logged since it was last started."""
        try:
            with open(self.log, "rb") as log:
                log.seek(self._log_from)
                return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def ensure_workspace_network(self) -> None:
        """The workspace network, made from the product's own spec, on this engine's own bridge.

        The host servers are configured with the same ``WorkspaceNetwork.bridge_name`` and would
        make it so at their first launch; it is made here first so that a host server ignoring
        that setting can never give this engine's network the default bridge name, the one the
        main engine's network has: two engines asked for one bridge name share one interface,
        the second taking it over (its address replaces the first's).
        """
        from workspace_launcher.engine import spec as specs

        with contextlib.closing(self.client()) as client:
            if not client.networks.list(names=[specs.NETWORK_NAME]):
                ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=self.workspace_subnet)])
                client.networks.create(**specs.network_spec(bridge_name=self.workspace_bridge), ipam=ipam)

    # -- images -----------------------------------------------------------------------------
    def load_images(self, tags: list[str]) -> None:
        """Copy images (their tags, ids and labels unchanged) from the main engine."""
        with contextlib.closing(self.client()) as client:
            missing = []
            for tag in tags:
                try:
                    client.images.get(tag)
                except docker.errors.ImageNotFound:
                    missing.append(tag)
        if not missing:
            return
        # From the engine the environment names (the suite's main one), as docker_client's.
        save = subprocess.Popen(["docker", "save", *missing], stdout=subprocess.PIPE)
        try:
            load = subprocess.run(["docker", "-H", self.url, "load", "-q"], stdin=save.stdout,
                                  capture_output=True, text=True, timeout=600)
        finally:
            assert save.stdout is not None
            save.stdout.close()
            save.wait(timeout=600)
        assert save.returncode == 0 and load.returncode == 0, f"docker save|load failed: {load.stderr}"

    # -- clean-up ---------------------------------------------------------------------------
    def remove_everything(self) -> None:
        """Containers, user networks (their host bridges go with them) and volumes."""
        with contextlib.closing(self.client()) as client:
            for container in client.containers.list(all=True):
                container.remove(force=True)
            for network in client.networks.list():
                if network.name not in ("bridge", "host", "none"):
                    network.remove()
            for volume in client.volumes.list():
                volume.remove(force=True)

    def teardown(self) -> None:
        """Stop it, remove its bridges, the firewall rules host servers put on its workspace
        bridge, and its directories. Also for what a killed session left."""
        if self.answers():
            self.remove_everything()
        self.stop()
        for bridge in (self.bridge, self.workspace_bridge):
            _run("ip", "link", "del", bridge, check=False)
        _remove_firewall_rules(self.workspace_bridge)
        self._remove_root()

    def leftovers(self) -> list[str]:
        """What of this engine is still on the host (after teardown: nothing)."""
        found = [f"dockerd {self.pid()}"] if self.pid() else []
        found += [f"mount {m}" for m in _mounts_below(self.root, inclusive=True)]
        found += [f"bridge {b}" for b in (self.bridge, self.workspace_bridge) if os.path.isdir(f"/sys/class/net/{b}")]
        found += [str(self.root)] if self.root.exists() else []
        return found

    def _remove_root(self) -> None:
        # dockerd unmounts what it mounted when it stops; anything still mounted below the root
        # (a killed engine) is unmounted first, the tmpfs last, so rmtree never reaches into a
        # live mount.
        for mount_point in sorted(_mounts_below(self.root, inclusive=True), key=len, reverse=True):
            _run("umount", "-l", mount_point, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        assert not self.root.exists(), f"could not remove {self.root}"

    def hook_calls(self) -> list[dict]:
        """The OCI states the stand-in hook was started with (one per GPU container start)."""
        try:
            text = self.hook_log.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _remove_firewall_rules(interface: str) -> None:
    """Take the rules for ``interface`` out of the product's shared chains, keeping those of
    every other bridge (the product's own sync, for a policy that blocks nothing there)."""
    from workspace_launcher.engine.firewall import Firewall, FirewallUnavailable
    from workspace_launcher.engine.firewall_rules import Policy

    try:
        Firewall().sync(Policy(interface=interface, protect_host=False))
    except FirewallUnavailable as e:  # no iptables here: no rules were made either
        print(f"firewall rules for {interface} not checked: {e.message}")


def holding_gpus(client: docker.DockerClient) -> dict[str, list[str]]:
    """GPU uuid -> names of the containers on ``client``'s engine that hold it now (created,
    running, restarting or paused), read from their device requests: the engine's own view."""
    held: dict[str, list[str]] = {}
    for container in client.containers.list(all=True):
        attrs = container.attrs
        if attrs["State"]["Status"] not in ("created", "running", "restarting", "paused"):
            continue
        for request in attrs["HostConfig"].get("DeviceRequests") or []:
            for uuid in request.get("DeviceIDs") or []:
                held.setdefault(uuid, []).append(attrs["Name"].lstrip("/"))
    return held


def process_env(client: docker.DockerClient, container_id: str, pid: int = 1) -> dict[str, str]:
    """The environment of process ``pid`` inside the container, as the kernel holds it (the
    engine adds NVIDIA_VISIBLE_DEVICES to the process, not to the container's config)."""
    result = client.containers.get(container_id).exec_run(["cat", f"/proc/{pid}/environ"], user="1000")
    assert result.exit_code == 0, result.output
    return dict(item.split("=", 1) for item in result.output.decode().split("\0") if "=" in item)


@contextlib.contextmanager
def claimed_slot():
    """A slot no other session holds, locked until the end of the ``with``."""
    for slot in range(SLOTS):
        handle = open(f"{E2_PREFIX}-{slot}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield slot
        finally:
            os.unlink(handle.name)
            handle.close()
        return
    pytest.fail(f"all {SLOTS} second-engine slots ({E2_PREFIX}-N.lock) are held by other test sessions")


@pytest.fixture(scope="session")
def engine2(minimal_image, docker_client):
    """The second engine, answering, holding the ``minimal`` image (and its base and Jupyter
    layer, so small test profiles build FROM the layer in seconds)."""
    with claimed_slot() as slot:
        engine = SecondEngine(slot)
        engine.teardown()  # what a killed session left in this slot, if anything
        try:
            engine.start()
            yield from _prepared(engine, minimal_image, docker_client)
        finally:
            engine.teardown()
            assert engine.leftovers() == [], f"the second engine left {engine.leftovers()}"


def _prepared(engine: SecondEngine, minimal_image, docker_client):
    """Copy the minimal image, its base and its Jupyter layer in; make the workspace network."""
    labels = docker_client.api.inspect_image(minimal_image.tag)["Config"]["Labels"]
    base = labels["workspace-launcher.base-image"]
    jupyter = [
        tag for image in docker_client.images.list(filters={"label": "workspace-launcher.role=jupyter-layer"})
        for tag in image.tags
        if image.labels.get("workspace-launcher.base-id") == labels["workspace-launcher.base-id"]
    ]
    # The layer the minimal image was built FROM: one whose layers it extends.
    layers = set(docker_client.api.inspect_image(minimal_image.tag)["RootFS"]["Layers"])
    jupyter = [t for t in jupyter if set(docker_client.api.inspect_image(t)["RootFS"]["Layers"]) <= layers]
    assert jupyter, "the minimal image's Jupyter layer is not tagged in the main engine"
    engine.load_images([base, *jupyter, minimal_image.tag])
    engine.ensure_workspace_network()
    yield engine
