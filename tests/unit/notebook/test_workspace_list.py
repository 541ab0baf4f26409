"""The widget list's words (``notebook/workspace_list.py``): a launching workspace's line shows
its progress, and stop and delete say what they keep, as the panel does."""

from __future__ import annotations

from workspace_launcher.notebook.workspace_list import deleted_message, describe, stop_question


def workspace(**fields) -> dict:
    return {"id": "0123456789ab", "name": "exp-1", "profile": "minimal", "status": "running", "progress": 100,
            "message": "running", "gpus": ["GPU-1"], "datasets": [], **fields}


def test_a_launching_workspace_shows_its_phase_and_progress():
    line = describe(workspace(status="building", progress=40, message="building the minimal image"))
    assert line == "exp-1 · minimal · building 40%: building the minimal image · 1 GPU(s) · no datasets"
    assert describe(workspace(datasets=["coco"])) == "exp-1 · minimal · running · 1 GPU(s) · coco"


def test_stop_and_delete_say_what_they_keep():
    assert "running kernels end" in stop_question(workspace()) and "/models stay" in stop_question(workspace())
    assert deleted_message("exp-1", purge=False) == "Deleted exp-1; its volumes are kept."
    assert deleted_message("exp-1", purge=True) == "Deleted exp-1 with its work volume (your model volume is kept)."
