"""How long each build context took to build last time, and how large its image came out: the
estimate a launch states before it builds, and the pace its progress bar keeps while it does.

One small JSON file, keyed by build context (``jupyter`` for the shared layer, else the
profile's name), rewritten atomically under a file lock so host servers sharing it agree.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildRecord:
    """One finished build of a context."""

    seconds: float
    size_bytes: int
    at: str = ""


@dataclass(frozen=True)
class BuildEstimate:
    """What a launch that must build will take, roughly, and where the numbers come from
    (``last build`` of these contexts, or the ``profile``'s stated estimate)."""

    seconds: float
    size_bytes: int
    source: str

    def to_dict(self) -> dict:
        return {"seconds": round(self.seconds), "size_bytes": self.size_bytes, "source": self.source}


class BuildHistory:
    """The last build of each context, in ``path``."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:  # a damaged history only costs the estimates
            log.warning("ignoring the build history %s: %s", self.path, e)
            return {}
        return data if isinstance(data, dict) else {}

    def last(self, context: str) -> BuildRecord | None:
        entry = self._read().get(context)
        try:
            return BuildRecord(float(entry["seconds"]), int(entry["size_bytes"]), str(entry.get("at", "")))
        except (TypeError, KeyError, ValueError):
            return None

    def record(self, context: str, *, seconds: float, size_bytes: int) -> None:
        """Keep this build as the context's last one (failures are logged, never raised: a
        build that worked must not fail over its statistics)."""
        record = BuildRecord(round(seconds, 1), size_bytes, datetime.now(timezone.utc).isoformat(timespec="seconds"))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(f"{self.path}.lock", timeout=10):
                data = self._read()
                data[context] = asdict(record)
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".builds-")
                with os.fdopen(fd, "w") as out:
                    json.dump(data, out, indent=1, sort_keys=True)
                os.replace(tmp, self.path)
        except OSError as e:
            log.warning("could not record the build of %s in %s: %s", context, self.path, e)


def stated_estimate(profile) -> BuildEstimate | None:
    """The profile's own stated ``build_estimate``, if it states one."""
    stated = profile.stated_build()
    return BuildEstimate(stated[0], stated[1], "profile") if stated else None


def estimate(history: BuildHistory, contexts: list[str], stated: BuildEstimate | None) -> BuildEstimate | None:
    """The estimate of building ``contexts`` (in order; the last is the profile's): their last
    builds when the profile has one (its image's size), else the profile's stated estimate."""
    records = [history.last(c) for c in contexts]
    if records and records[-1] is not None:
        return BuildEstimate(sum(r.seconds for r in records if r is not None), records[-1].size_bytes, "last build")
    return stated


__all__ = ["BuildEstimate", "BuildHistory", "BuildRecord", "estimate", "stated_estimate"]
