"""Make the OS base image without a registry: debootstrap a Debian root, import it.

This is the air-gapped (and CI) answer to "where does the base image come from": it needs only
``debootstrap``, root, and a Debian mirror (the host's own apt mirror by default). Blocking:
the CLI calls :func:`bootstrap_base` directly; async callers run it with ``asyncio.to_thread``.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path

from workspace_launcher import __version__
from workspace_launcher.engine import labels as engine_labels
from workspace_launcher.engine.docker import DockerEngine
from workspace_launcher.engine.images import import_rootfs
from workspace_launcher.errors import ConfigError, ImageBuildError

log = logging.getLogger(__name__)

DEFAULT_BASE_TAG = "workspace-launcher/base:bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
_WORD = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")


def default_mirror(
    sources: list[str] | None = None,
) -> str:
    """The first Debian archive URI of the host's apt sources (not a security one).

    Reads ``/etc/apt/sources.list``, ``/etc/apt/sources.list.d/*.list`` (one-line format) and
    ``/etc/apt/sources.list.d/*.sources`` (deb822); falls back to deb.debian.org.
    """
    if sources is None:
        sources = ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list")),
                   *sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))]
    for path in sources:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        candidates = []
        if path.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, re.M))
                if "deb" in fields.get("Types", "").split() and fields.get("Enabled", "yes") != "no":
                    candidates += fields.get("URIs", "").split()
        else:
            for line in text.splitlines():
                m = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", line)
                if m:
                    candidates.append(m.group(1))
        for uri in candidates:
            if uri.startswith(("http://", "https://", "file:/")) and "security" not in uri:
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def _unmount_under(root: Path) -> bool:
    """Lazily unmount anything debootstrap left mounted in ``root``; True when none remain."""
    def mounted() -> list[str]:
        try:
            lines = Path("/proc/self/mounts").read_text().splitlines()
        except OSError:
            return []
        targets = [line.split()[1].replace("\\040", " ") for line in lines if len(line.split()) > 1]
        prefix = str(root).rstrip("/") + "/"
        return sorted((t for t in targets if t.startswith(prefix)), reverse=True)

    for target in mounted():
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)
    return not mounted()


def bootstrap_base(
    *,
    engine: DockerEngine,
    suite: str = "bookworm",
    mirror: str | None = None,
    tag: str = DEFAULT_BASE_TAG,
    variant: str = "minbase",
    on_log: Callable[[str], None] | None = None,
    tmp_dir: str | None = None,
) -> str:
    """Debootstrap ``suite`` from ``mirror`` and import it as ``tag``; returns the image id.

    Blocking (minutes on a slow mirror). ``on_log`` gets each line of debootstrap's output in
    the calling thread. The root file system is built under ``tmp_dir`` (default: the system
    temp dir; it needs about 250 MB) and removed in every case.
    """
    emit = on_log or (lambda line: None)
    _check_can_bootstrap(suite=suite, variant=variant)
    mirror = mirror or default_mirror()
    if ":" in tag.rsplit("/", 1)[-1]:
        repository, image_tag = tag.rsplit(":", 1)
    else:
        repository, image_tag = tag, "latest"

    tmp = Path(tempfile.mkdtemp(prefix="wl-rootfs-", dir=tmp_dir))
    rootfs, tarball = tmp / "rootfs", tmp / "rootfs.tar"
    try:
        _debootstrap(suite=suite, variant=variant, mirror=mirror, rootfs=rootfs, emit=emit)
        emit(f"packing {rootfs} ...")
        _pack(rootfs, tarball)
        emit(f"importing as {repository}:{image_tag} ...")
        changes = [
            f"LABEL {engine_labels.ROLE}=base",
            f"LABEL {engine_labels.BASE_SUITE}={suite}",
            f"LABEL {engine_labels.BASE_VARIANT}={variant}",
            f"LABEL {engine_labels.IMAGE_VERSION}={__version__}",
            'CMD ["/bin/bash"]',
        ]
        image_id, answer = import_rootfs(engine, str(tarball), repository=repository, tag=image_tag, changes=changes)
        log.debug("import answered %s", answer if isinstance(answer, str) else json.dumps(answer))
        emit(f"imported {repository}:{image_tag} as {image_id}")
        return image_id
    finally:
        if _unmount_under(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log.error("%s still has mounts under it; not deleting it, unmount and remove it by hand", tmp)


def _check_can_bootstrap(*, suite: str, variant: str) -> None:
    """Refuse, with the fix, what would make debootstrap fail late: missing tools, no root, odd words."""
    if shutil.which("debootstrap") is None:
        raise ConfigError("debootstrap is not installed: install it with `apt-get install debootstrap`")
    if shutil.which("tar") is None:
        raise ConfigError("tar is not installed: install it with `apt-get install tar`")
    if os.geteuid() != 0:
        raise ConfigError(
            "bootstrapping the base image must run as root (debootstrap creates device files "
            "and chroots): run `sudo workspace-launcher images bootstrap-base`"
        )
    for name, value in (("suite", suite), ("variant", variant)):
        if not _WORD.match(value):
            raise ConfigError(f"{name} {value!r} is not valid (e.g. suite 'bookworm', variant 'minbase')")


def _debootstrap(*, suite: str, variant: str, mirror: str, rootfs: Path, emit: Callable[[str], None]) -> None:
    """Run debootstrap into ``rootfs``, streaming its output; raises with its last lines."""
    cmd = ["debootstrap", f"--variant={variant}", suite, str(rootfs), mirror]
    log.info("running %s", " ".join(cmd))
    emit(f"$ {' '.join(cmd)}")
    tail: deque[str] = deque(maxlen=50)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        tail.append(line)
        log.debug("debootstrap: %s", line)
        emit(line)
    if proc.wait() != 0:
        raise ImageBuildError(
            f"debootstrap of {suite!r} from {mirror} failed (exit {proc.returncode}); check "
            "that the mirror is reachable and has this suite (--mirror URL)",
            log_tail="\n".join(tail),
        )


def _pack(rootfs: Path, tarball: Path) -> None:
    """Tar ``rootfs`` with numeric owners (the image's ids, not this host's names)."""
    packed = subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."],
                            capture_output=True, text=True, errors="replace")
    if packed.returncode != 0:
        raise ImageBuildError(f"packing the root file system failed: {packed.stderr.strip()}",
                              log_tail=packed.stderr)


__all__ = ["DEFAULT_BASE_TAG", "bootstrap_base", "default_mirror"]
