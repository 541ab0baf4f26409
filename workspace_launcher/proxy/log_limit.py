"""Log lines that a tab left open would otherwise repeat: once per interval and key.

A JupyterLab tab on a deleted or stopped workspace keeps polling (kernels, sessions, contents,
its event WebSocket) until it is closed. Each of those requests gets the same answer, so the
server says it once per interval per workspace, with how many it held back, instead of once per
request (tornado's warning and the access log line each).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

#: Seconds between two log lines about the same key. Default of :class:`OncePerInterval`.
DEFAULT_INTERVAL = 60.0


class OncePerInterval:
    """Says whether a line about ``key`` is due: the first time, then once ``interval`` seconds
    (of ``clock``, monotonic by default) have passed since the last one."""

    def __init__(self, interval: float = DEFAULT_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        #: key -> (when it was last logged, how many calls were held back since)
        self._last: dict[Hashable, tuple[float, int]] = {}

    def due(self, key: Hashable) -> int | None:
        """``None`` while ``key`` was logged less than ``interval`` ago (this call is counted as
        held back); else how many calls were held back since its last line (0 the first time),
        and its interval starts again."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.interval:
            self._last[key] = (last[0], last[1] + 1)
            return None
        self._prune(now)
        self._last[key] = (now, 0)
        return last[1] if last is not None else 0

    def _prune(self, now: float) -> None:
        """Forget keys quiet for two intervals: a tab closed long ago must not hold memory."""
        for key in [k for k, (at, _) in self._last.items() if now - at >= 2 * self.interval]:
            del self._last[key]

    def __len__(self) -> int:
        return len(self._last)
