"""A launch's building phase, told as it happens: which image is building and which step, a
bar that moves with the build log and (given an estimate) with time, and before it starts,
roughly how long and how large the build is."""

from __future__ import annotations

import time
from collections.abc import Callable

from workspace_launcher.images.build_history import BuildEstimate, BuildHistory
from workspace_launcher.images.build_progress import BuildProgress
from workspace_launcher.workspaces.model import PHASE_PROGRESS, PhaseReporter, Status

#: The share of a launch's bar the building phase spans (it starts at PHASE_PROGRESS[BUILDING]).
_BUILD_FROM, _BUILD_TO = PHASE_PROGRESS[Status.BUILDING], PHASE_PROGRESS[Status.STARTING] - 5


def format_bytes(size: int) -> str:
    """Decimal units, one decimal below 10 (as the dialog words it: format.ts formatBytes)."""
    for unit, factor in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= factor:
            value = size / factor
            return f"{value:.1f} {unit}" if value < 10 else f"{round(value)} {unit}"
    return f"{size} B"


def format_minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    return "under a minute" if minutes < 1 else f"about {minutes} min"


def time_and_size(estimate: BuildEstimate) -> str:
    """E.g. "about 4 min, 2.1 GB"."""
    size = f", {format_bytes(estimate.size_bytes)}" if estimate.size_bytes else ""
    return f"{format_minutes(estimate.seconds)}{size}"


def describe_estimate(estimate: BuildEstimate | None) -> str:
    """E.g. "about 4 min, 2.1 GB (from its last build)"; "" without an estimate."""
    if estimate is None:
        return ""
    source = "from its last build" if estimate.source == "last build" else "the profile's estimate"
    return f"{time_and_size(estimate)} ({source})"


class BuildReporter:
    """Feeds one launch's build (stages, log lines, clock ticks) to its PhaseReporter."""

    def __init__(self, report: PhaseReporter, history: BuildHistory, estimate: BuildEstimate | None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.report = report
        self.clock = clock
        self.history = history
        self.estimate = estimate
        self.progress: BuildProgress | None = None

    def stage(self, context: str, contexts: list[str]) -> None:
        """An image starts building; ``contexts``: every image this launch builds, in order."""
        if self.progress is None:
            weights = {c: r.seconds for c in contexts if (r := self.history.last(c)) is not None}
            self.progress = BuildProgress(contexts, weights=weights,
                                          estimate_seconds=self.estimate.seconds if self.estimate else None,
                                          clock=self.clock)
        self.progress.begin(context)
        self._report()

    def line(self, line: str) -> None:
        """A build log line: kept for logs(), and moving the bar."""
        self.report.build_lines.append(line.rstrip("\n"))
        self.report.workspace.log_tail = "\n".join(self.report.build_lines)
        if self.progress is not None:
            self.progress.line(line)
        self._report(log_line=line)

    def tick(self) -> None:
        """The clock moved: move the bar if the estimate says so (quiet: no log line)."""
        if self.progress is not None and self.percent() != self.report.workspace.progress:
            self._report(quiet=True)

    def percent(self) -> int:
        fraction = self.progress.fraction() if self.progress is not None else 0.0
        return max(self.report.workspace.progress, _BUILD_FROM + int((_BUILD_TO - _BUILD_FROM) * fraction))

    def message(self) -> str:
        if self.progress is None:
            return self.report.workspace.message or "building"
        return self.progress.message() + (f"; {time_and_size(self.estimate)} in all" if self.estimate else "")

    def _report(self, *, log_line: str | None = None, quiet: bool = False) -> None:
        self.report(Status.BUILDING, self.message(), progress=self.percent(), log_line=log_line, quiet=quiet)


__all__ = ["BuildReporter", "describe_estimate"]
