"""Build contexts as data: which files a context holds, and the content hash that names an image.

Pure functions (reading files only): the hash is what makes a build reusable, so it must be
deterministic on every host and blind to mtimes and to where a context directory lives.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

#: The admin's extra CA bundle and wheelhouse, put into every rendered context.
CA_FILE = "build-ca.crt"
WHEELS_DIR = "wheels"
_SKIP_NAMES = {"__pycache__", ".DS_Store"}

#: relative path -> (kind, source): kind "d" directory, "f" file, "x" executable file;
#: source is a Path to read, bytes to write, or None for a directory.
Entries = dict[str, tuple[str, "Path | bytes | None"]]
_DIGESTS: dict[tuple[str, int, int], str] = {}


def _file_digest(path: Path) -> str:
    """sha256 of a file's content, memoized by (path, size, mtime) for big wheels."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        if len(_DIGESTS) > 4096:
            _DIGESTS.clear()
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def _walk(root: Path, *, skip_top: set[str] = frozenset(), prefix: str = "") -> Entries:
    """Directories and regular files under ``root`` (symlinks followed), by relative path."""
    entries: Entries = {}
    for child in sorted(root.iterdir()):
        if child.name in _SKIP_NAMES or child.suffix == ".pyc" or (not prefix and child.name in skip_top):
            continue
        rel = f"{prefix}{child.name}"
        if child.is_dir():
            entries[rel] = ("d", None)
            entries.update(_walk(child, prefix=rel + "/"))
        elif child.is_file():
            entries[rel] = ("x" if child.stat().st_mode & stat.S_IXUSR else "f", child)
    return entries


def _hash_entries(entries: Entries, *, base_ref: str, base_id: str, build_args: dict) -> str:
    h = hashlib.sha256(b"workspace-launcher build context v1\n")
    for rel in sorted(entries):
        kind, src = entries[rel]
        if kind == "d":
            digest = ""
        elif isinstance(src, bytes):
            digest = hashlib.sha256(src).hexdigest()
        else:
            digest = _file_digest(src)
        h.update(json.dumps([kind, rel, digest]).encode() + b"\n")
    tail = {"base_ref": base_ref, "base_id": base_id, "build_args": {k: str(v) for k, v in build_args.items()}}
    h.update(json.dumps(tail, sort_keys=True).encode())
    return h.hexdigest()


def context_hash(files: str | os.PathLike, *, base_ref: str, base_id: str, build_args: dict) -> str:
    """sha256 hex of a rendered build context directory and what it is built on.

    Covers each relative path, its content and executable bit (not mtimes, not where the
    directory lives), the base reference, the resolved base (image id or parent hash) and the
    build args. Deterministic: the same inputs give the same hash on every host.
    """
    return _hash_entries(_walk(Path(files)), base_ref=base_ref, base_id=base_id, build_args=build_args)


__all__ = ["CA_FILE", "WHEELS_DIR", "Entries", "context_hash"]
