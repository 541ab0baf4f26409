"""Snapshots in the real lab: taken from the panel, listed there and in the dialog's "Start
from" choice (tag, source workspace, profile, date), launched from, refused deletion while a
workspace runs from one, and deleted from the panel after a confirmation."""

from __future__ import annotations

import secrets
import time

import docker.errors
import pytest
from playwright.sync_api import expect

from .conftest import LAUNCH_TIMEOUT, by_id, screenshot
from .test_launcher_ui import click_launch, hide_toasts, open_dialog, open_panel

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def launched(lab_server, name: str) -> dict:
    """A Minimal workspace launched through the REST API, once it runs."""
    answer = lab_server.api("POST", "workspaces", json={"profile": "minimal", "name": name})
    assert answer.status_code == 202, answer.text
    return running(lab_server, answer.json()["id"])


def running(lab_server, workspace_id: str) -> dict:
    deadline = time.monotonic() + LAUNCH_TIMEOUT / 1000
    while time.monotonic() < deadline:
        workspace = lab_server.api("GET", f"workspaces/{workspace_id}").json()
        if workspace["status"] not in ("pending", "building", "starting"):
            assert workspace["status"] == "running", workspace
            return workspace
        time.sleep(0.5)
    raise AssertionError(f"workspace {workspace_id} did not run in time")


def toast(page, text: str):
    return page.locator(".Toastify__toast").filter(has_text=text)


def test_a_snapshot_is_taken_launched_and_deleted_from_the_ui(lab, lab_server, docker_client):
    page = lab
    source = launched(lab_server, f"snap-src-{secrets.token_hex(3)}")
    tag = f"ui-{secrets.token_hex(3)}"
    launched_id = None
    try:
        # Taken from the panel: the new snapshot is listed under "Snapshots" at once.
        open_panel(page)
        by_id(page, f"wl-ws-snapshot-{source['id']}").click()
        by_id(page, "wl-snapshot-tag").fill(tag)
        by_id(page, "wl-snapshot-confirm").click()
        expect(toast(page, f"Snapshot of {source['name']} saved as")).to_be_visible(timeout=120_000)
        row = by_id(page, f"wl-snap-{tag}")
        expect(row).to_be_visible()
        expect(row).to_contain_text(f"of {source['name']}")
        expect(row).to_contain_text("minimal")
        (listed,) = [s for s in lab_server.api("GET", "snapshots").json() if s["tag"] == tag]
        image = listed["image"]

        # The dialog's "Start from": the snapshot, which holds the profile it was taken from.
        open_dialog(page)
        by_id(page, "wl-profile").select_option("minimal-demo")
        by_id(page, "wl-source-snapshot").check()
        choice = by_id(page, "wl-snapshot")
        choice.select_option(image)
        expect(choice.locator(f"option[value='{image}']")).to_contain_text(f"{tag} — of {source['name']} (minimal, ")
        expect(by_id(page, "wl-profile")).to_have_value("minimal")
        expect(by_id(page, "wl-profile")).to_be_disabled()
        expect(by_id(page, "wl-snapshot-details")).to_contain_text(image)
        expect(by_id(page, "wl-open-demo")).to_have_count(0)  # the snapshot's profile has no demo
        name = f"from-{tag}"
        by_id(page, "wl-name").fill(name)
        screenshot(page.locator(".jp-Dialog-content"), "launch-from-snapshot.png")
        posted = click_launch(page)
        assert posted.status == 202, posted.text()
        assert posted.request.post_data_json["snapshot"] == image
        launched_id = posted.json()["id"]
        workspace = running(lab_server, launched_id)
        assert workspace["image"] == image and workspace["profile"] == "minimal"
        expect(by_id(page, f"wl-ws-{launched_id}")).to_have_attribute("data-status", "running", timeout=30_000)
        hide_toasts(page)

        # While a workspace runs from it, its delete is refused, and says so.
        by_id(page, f"wl-snap-delete-{tag}").click()
        expect(by_id(page, "wl-snapshot-delete-text")).to_contain_text(image)
        by_id(page, "wl-snapshot-delete-confirm").click()
        expect(toast(page, f"Could not delete snapshot {tag}")).to_contain_text(name)
        expect(row).to_be_visible()
        hide_toasts(page)

        # Once that workspace is gone: cancelling keeps it, confirming deletes it.
        assert lab_server.api("DELETE", f"workspaces/{launched_id}", params={"purge": "true"}).status_code == 204
        launched_id = None
        by_id(page, f"wl-snap-delete-{tag}").click()
        by_id(page, "wl-snapshot-delete-cancel").click()
        expect(row).to_be_visible()
        screenshot(page.locator("#wl-workspaces-panel"), "panel-snapshots.png")
        by_id(page, f"wl-snap-delete-{tag}").click()
        by_id(page, "wl-snapshot-delete-confirm").click()
        expect(row).to_have_count(0)
        expect(toast(page, f"Deleted snapshot {tag}.")).to_be_visible()
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(image)
        assert [s for s in lab_server.api("GET", "snapshots").json() if s["tag"] == tag] == []
    finally:
        for workspace_id in filter(None, (launched_id, source["id"])):
            lab_server.api("DELETE", f"workspaces/{workspace_id}", params={"purge": "true"})
        for snapshot in lab_server.api("GET", "snapshots").json():
            if snapshot["tag"] == tag:
                lab_server.api("DELETE", f"snapshots/{tag}")
