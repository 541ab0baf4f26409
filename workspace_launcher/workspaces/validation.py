"""Pure checks of user and admin input. No I/O except resolving host paths.

Every check raises :class:`InvalidRequest` naming the field and saying what a valid value looks
like, so the REST API can answer 400 and the CLI can print it as is.
"""

from __future__ import annotations

import math
import os
import re
import string
from collections.abc import Iterable

import escapism

from workspace_launcher.errors import InvalidRequest

# DNS-label-like: safe in container, volume and image names, URLs and file names alike.
_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_WORKSPACE_ID_RE = re.compile(r"^[0-9a-f]{12}$")
_SIZE_RE = re.compile(r"^\s*([0-9]{1,20}(?:\.[0-9]{1,9})?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
#: The engine stores sizes as signed 64-bit integers and refuses anything larger.
MAX_SIZE = 2**63 - 1
#: The smallest CPU limit the engine accepts (NanoCpus of 10 million); below it, the value it
#: would receive rounds to 0, which the engine reads as "no limit".
MIN_CPUS = 0.01


def shown(value: object, limit: int = 40) -> str:
    """A user's value as quoted in a message: short, so an error never echoes a whole body."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_name(value: object, *, field: str = "name") -> str:
    """A profile, dataset or workspace name: 1-63 lowercase letters, digits and inner hyphens."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise InvalidRequest(
            f"{field} {shown(value)} is not valid: use 1-63 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit (e.g. 'my-experiment-2')",
            field=field,
        )
    return value


def validate_workspace_id(value: object) -> str:
    """Workspace ids are 12 lowercase hex digits, as the launcher generates them."""
    if not isinstance(value, str) or not _WORKSPACE_ID_RE.fullmatch(value):
        # Not echoed: it arrives in a URL, where anything can be put.
        raise InvalidRequest(
            "the workspace id is not valid: ids are 12 hex digits, as listed by "
            "'workspace-launcher workspaces list'",
            field="id",
        )
    return value


# Docker's reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest], or an
# image id. Anything else never names an image, and is never sent to the engine as part of a URL.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_REFERENCE_RE = re.compile(
    rf"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]{{1,5}})?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$|^sha256:[0-9a-f]{64}$"
)


def validate_image_reference(value: object, *, field: str) -> str:
    """An image reference such as ``workspace-launcher/snapshot-alice:before-upgrade``."""
    if not isinstance(value, str) or len(value) > 512 or not _IMAGE_REFERENCE_RE.fullmatch(value):
        raise InvalidRequest(
            f"{field} {shown(value)} is not an image reference: write e.g. "
            "'workspace-launcher/snapshot-alice:before-upgrade', as 'workspace-launcher images list' shows",
            field=field,
        )
    return value


_SLUG_SAFE = set(string.ascii_lowercase + string.digits)
# Slugs name existing volumes and snapshot repositories, so they must stay byte-for-byte what
# they were. escapism writes hex in uppercase (repositories must be lowercase: lowered below) and
# unpadded ("\t" -> "-9", ambiguous before a hex digit), so bytes below 0x10, the ASCII control
# characters, keep the two-digit escape they always had.
_SLUG_RUN_RE = re.compile(r"[\x00-\x0f]+|[^\x00-\x0f]+")


def _escape_slug_run(match: re.Match[str]) -> str:
    run = match.group()
    if run[0] < "\x10":
        return "".join(f"-{ord(ch):02x}" for ch in run)
    return escapism.escape(run, safe=_SLUG_SAFE, escape_char="-").lower()


def owner_slug(owner: str) -> str:
    """A reversible, name-safe form of an owner name for volume and container names.

    Characters outside ``[a-z0-9]`` become ``-xx`` hex escapes of their UTF-8 bytes (escapism,
    as dockerspawner uses it), so two different owners never map to the same volume.
    """
    if not owner:
        raise InvalidRequest("owner must not be empty", field="owner")
    return _SLUG_RUN_RE.sub(_escape_slug_run, owner)


def parse_size(value: object, *, field: str) -> int:
    """Bytes from an int or a string such as ``"512m"``, ``"4g"``, ``"1GiB"``, ``"1.5G"``."""
    if isinstance(value, bool):
        raise InvalidRequest(f"{field} must be a size such as '4g' or a number of bytes", field=field)
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (m := _SIZE_RE.match(value)):
        size = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    else:
        raise InvalidRequest(
            f"{field} {shown(value)} is not a size: write e.g. '512m', '4g' or a number of bytes",
            field=field,
        )
    if size <= 0:
        raise InvalidRequest(f"{field} must be larger than zero", field=field)
    if size > MAX_SIZE:
        raise InvalidRequest(f"{field} is larger than the engine can store (at most {MAX_SIZE} bytes)", field=field)
    return size


def parse_cpus(value: object, *, field: str = "cpus", available: int | None = None) -> float:
    """A positive number of CPUs, at most what the host has."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidRequest(f"{field} must be a number such as 2 or 0.5", field=field)
    if isinstance(value, int) and abs(value) > 10**6:
        raise InvalidRequest(f"{field} is more than this host's CPUs", field=field)
    try:
        cpus = float(value)
    except (ValueError, OverflowError):
        raise InvalidRequest(f"{field} {shown(value)} is not a number: write e.g. 2 or 0.5", field=field) from None
    if not math.isfinite(cpus) or not cpus > 0:
        raise InvalidRequest(f"{field} must be a finite number larger than zero", field=field)
    if int(cpus * 1e9) < int(MIN_CPUS * 1e9):
        raise InvalidRequest(f"{field} {cpus:g} is below the engine's minimum of {MIN_CPUS} CPU", field=field)
    if available is not None and cpus > available:
        raise InvalidRequest(f"{field} {cpus:g} is more than this host's {available} CPUs", field=field)
    return cpus


def resolve_host_path(path: str, allowed_roots: Iterable[str], *, field: str, what: str = "") -> str:
    """The real path of an admin-declared host directory, if it lies under an allowed root.

    Symlinks are resolved first, so a link inside an allowed root cannot point elsewhere.
    ``what`` names the thing in messages (defaults to ``field``).
    """
    what = what or field
    if not os.path.isabs(path):
        raise InvalidRequest(f"{what}: host path {path!r} must be absolute", field=field)
    real = os.path.realpath(path)
    if not os.path.isdir(real):
        raise InvalidRequest(f"{what}: host path {path!r} does not exist or is not a directory", field=field)
    roots = [os.path.realpath(r) for r in allowed_roots]
    if not any(os.path.commonpath([real, root]) == root for root in roots):
        raise InvalidRequest(
            f"{what}: host path {path!r} (resolved to {real!r}) is outside the allowed dataset "
            f"roots {roots}; move it under one of them or ask the admin to add its root to "
            "DatasetCatalog.allowed_roots",
            field=field,
        )
    return real
