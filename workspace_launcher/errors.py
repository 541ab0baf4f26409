"""One exception class per kind of failure.

Each carries the HTTP status a REST handler (and the proxy) should answer with, and the CLI
turns that same status into its exit status (:func:`exit_status`), so every front door
translates errors without knowing their causes; every message says what the caller should do.
"""

from __future__ import annotations


class LauncherError(Exception):
    """Base class of every error the launcher raises on purpose."""

    status_code: int = 500

    def __init__(self, message: str, *, log_tail: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: The last lines of a build or container log, when they explain the failure.
        self.log_tail = log_tail
        #: The request field the message is about, so a form can show it inline.
        self.field = field


class InvalidRequest(LauncherError):
    """The caller's input is wrong; the message says which field and how to fix it."""

    status_code = 400


class InvalidFields(InvalidRequest):
    """Several fields of one request are wrong: each error, so a form shows them all at once."""

    def __init__(self, errors: list[InvalidRequest]) -> None:
        super().__init__("; ".join(e.message for e in errors), field=errors[0].field)
        self.errors = errors


class Forbidden(LauncherError):
    """The caller may not do this at all, whatever its input (a caller the broker cannot identify)."""

    status_code = 403


class NotFound(LauncherError):
    """No such workspace, profile, dataset or image (for this owner)."""

    status_code = 404


class Conflict(LauncherError):
    """The request is valid but the current state forbids it (e.g. GPUs already taken)."""

    status_code = 409


class GpuRuntimeMissing(Conflict):
    """GPUs were requested but the engine cannot hand them to containers."""


class EngineUnavailable(LauncherError):
    """The container engine cannot be reached."""

    status_code = 503


class ImageBuildError(LauncherError):
    """An image build failed; ``log_tail`` holds the end of the build log."""


class LaunchFailed(LauncherError):
    """A workspace container did not become ready; ``log_tail`` holds its log's end.

    A 409 when a request meets it (a start): the workspace's own state refuses the request, and
    the message and log tail say why; the server itself did not fail."""

    status_code = 409


class ConfigError(LauncherError):
    """An admin setting is invalid; raised at start-up with how to fix it."""


class EngineRefused(LauncherError):
    """The container engine refused an operation. A 404 or 409 from it means the workspace's
    container went away or changed state while the request ran (a failed launch's clean-up,
    another server, the culler): a state conflict, answered as such; anything else is a 500."""

    def __init__(self, message: str, *, engine_status: int | None = None) -> None:
        super().__init__(message)
        self.status_code = engine_status if engine_status in (404, 409) else 500


#: The CLI's exit status for each status an error carries, so a script can tell bad input from
#: a missing thing, a state conflict and an unreachable engine; 1 is anything else.
EXIT_STATUS = {400: 2, 413: 2, 404: 3, 409: 4, 503: 5}


def exit_status(error: LauncherError) -> int:
    """The CLI's exit status for ``error``: the same map of causes as the REST API's statuses."""
    return EXIT_STATUS.get(error.status_code, 1)
