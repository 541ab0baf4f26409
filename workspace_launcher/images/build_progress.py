"""How far a build is, from what it prints and the clock: which image is building (the shared
Jupyter layer is not the profile's image), which step of how many, and a fraction that moves
with every log line and, given an estimate, with time, so one long ``RUN pip install`` step
does not hold the bar still for minutes. Pure: the caller feeds lines and reads the state."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping

_STEP = re.compile(r"^Step (\d+)/(\d+)")
#: Within a step, each log line moves this share of what is left of the step.
_CREEP = 0.1
#: Time alone never takes the bar past this share of the build: the end is the build's to say.
_TIME_CAP = 0.95
#: Each image's share of the build when no earlier build says how long each took.
DEFAULT_WEIGHTS = {"jupyter": 2.0}
DEFAULT_WEIGHT = 3.0


def stage_title(context: str) -> str:
    return "the shared Jupyter layer" if context == "jupyter" else f"the {context} image"


class BuildProgress:
    """The progress of building ``contexts`` in order (e.g. ``["jupyter", "pytorch"]``)."""

    def __init__(self, contexts: list[str], *, weights: Mapping[str, float] | None = None,
                 estimate_seconds: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        known = weights or {}
        raw = [known.get(c) or DEFAULT_WEIGHTS.get(c, DEFAULT_WEIGHT) for c in contexts]
        total = sum(raw) or 1.0
        self.contexts = list(contexts)
        self.shares = [w / total for w in raw]
        self.estimate = estimate_seconds
        self.clock = clock
        self.started = clock()
        self.index = 0
        self.step, self.steps = 0, 0
        self.lines_in_step = 0
        self._shown = 0.0

    def begin(self, context: str) -> None:
        """``context``'s image starts building."""
        if context in self.contexts:
            self.index = self.contexts.index(context)
        self.step, self.steps, self.lines_in_step = 0, 0, 0

    def line(self, text: str) -> None:
        if match := _STEP.match(text.strip()):
            self.step, self.steps, self.lines_in_step = int(match.group(1)), int(match.group(2)), 0
        elif text.strip():
            self.lines_in_step += 1

    def _from_log(self) -> float:
        done = sum(self.shares[: self.index])
        if self.steps:
            in_step = 1 - (1 - _CREEP) ** self.lines_in_step
            done += self.shares[self.index] * (self.step - 1 + in_step) / self.steps
        return done

    def fraction(self) -> float:
        """0..1, never going back: the log's say, or the clock's against the estimate."""
        by_time = 0.0
        if self.estimate:
            by_time = min((self.clock() - self.started) / self.estimate, 1.0) * _TIME_CAP
        self._shown = max(self._shown, self._from_log(), by_time)
        return min(self._shown, 1.0)

    def message(self) -> str:
        """E.g. "building the shared Jupyter layer (step 3/12)"."""
        title = stage_title(self.contexts[self.index]) if self.contexts else "the image"
        return f"building {title} (step {self.step}/{self.steps})" if self.steps else f"building {title}"


__all__ = ["BuildProgress", "stage_title"]
