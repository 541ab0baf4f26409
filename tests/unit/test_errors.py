"""The one map of causes: the status an error carries is the REST answer and, through
exit_status, the CLI's exit status."""

from __future__ import annotations

import pytest

from workspace_launcher.errors import (
    Conflict,
    EngineRefused,
    EngineUnavailable,
    GpuRuntimeMissing,
    ImageBuildError,
    InvalidRequest,
    LaunchFailed,
    NotFound,
    exit_status,
)
from workspace_launcher.images.pinning import BaseImageDrift, UnpinnedBaseImage


@pytest.mark.parametrize(
    "error,status,exit_code",
    [
        (InvalidRequest("bad"), 400, 2),
        (NotFound("none"), 404, 3),
        (Conflict("taken"), 409, 4),
        (GpuRuntimeMissing("no runtime"), 409, 4),
        (LaunchFailed("not ready"), 409, 4),
        (EngineUnavailable("down"), 503, 5),
        (ImageBuildError("failed"), 500, 1),
        (EngineRefused("gone", engine_status=404), 404, 3),
        (EngineRefused("odd", engine_status=500), 500, 1),
    ],
)
def test_each_cause_has_one_status_and_the_cli_exit_of_that_status(error, status, exit_code):
    assert error.status_code == status
    assert exit_status(error) == exit_code


def test_a_pinning_refusal_is_a_conflict_at_every_door():
    assert exit_status(BaseImageDrift("the lock moved on")) == exit_status(UnpinnedBaseImage("unpinned")) == 4
