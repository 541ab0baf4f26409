"""Launch progress in the real lab: before a launch the dialog says a build is needed and what
it takes; while it builds, the notification names the image building and its step; a failed
build's report leads with the lines that explain it; and a launch that runs leaves one
notification, never a stale "waiting for its Jupyter" beside "is running"."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from .conftest import (
    BROKEN_BUILD_ERROR,
    BROKEN_PROFILE,
    LAUNCH_TIMEOUT,
    by_id,
    screenshot,
)
from .test_launcher_ui import click_launch, hide_toasts, open_dialog

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def record_toasts(page) -> None:
    """Record the text of every notification as it appears or changes, in ``window.wlToasts``."""
    page.evaluate(
        """() => {
            window.wlToasts = [];
            const note = () => {
                for (const toast of document.querySelectorAll('.Toastify__toast')) {
                    const text = toast.innerText.trim();
                    if (text && window.wlToasts[window.wlToasts.length - 1] !== text) window.wlToasts.push(text);
                }
            };
            new MutationObserver(note).observe(document.body, {subtree: true, childList: true, characterData: true});
        }"""
    )


def test_a_build_is_announced_followed_by_phase_and_explained_when_it_fails(lab, lab_server):
    page = lab
    open_dialog(page)
    by_id(page, "wl-profile").select_option("minimal")
    expect(by_id(page, "wl-build-estimate")).to_have_count(0)  # built: nothing to announce
    by_id(page, "wl-profile").select_option(BROKEN_PROFILE)
    expect(by_id(page, "wl-build-estimate")).to_have_text(
        "Launching builds its image first: about 3 min, 734 MB (the profile's estimate).")
    screenshot(page.locator(".jp-Dialog-content"), "launch-dialog-will-build.png")
    by_id(page, "wl-name").fill(f"broken-{secrets.token_hex(3)}")
    record_toasts(page)
    posted = click_launch(page)
    assert posted.status == 202, posted.text()
    workspace_id = posted.json()["id"]
    try:
        reason = by_id(page, "wl-failure-reason")
        expect(reason).to_be_visible(timeout=LAUNCH_TIMEOUT)
        expect(reason).to_contain_text(f"building profile '{BROKEN_PROFILE}' failed")
        expect(reason).to_contain_text(f"the log says: {BROKEN_BUILD_ERROR}")
        log = by_id(page, "wl-failure-log")
        expect(log).to_contain_text(BROKEN_BUILD_ERROR)
        # The report opens on the end of the log (the error), not on its first steps.
        page.wait_for_function(
            "el => el.scrollHeight > el.clientHeight && el.scrollTop + el.clientHeight >= el.scrollHeight - 2",
            arg=log.element_handle())
        screenshot(page.locator(".jp-Dialog-content"), "launch-failure.png")
        seen = page.evaluate("() => window.wlToasts")
        steps = [text for text in seen if f"building the {BROKEN_PROFILE} image (step " in text]
        assert steps and all("about 3 min, 734 MB in all" in text for text in steps), seen
        assert not any("shared Jupyter layer" in text for text in seen), seen  # the layer was built already
        by_id(page, "wl-failure-close").click()
        hide_toasts(page)
    finally:
        lab_server.api("DELETE", f"workspaces/{workspace_id}", params={"purge": "true"})


def test_a_launch_that_runs_leaves_one_notification(lab, lab_server):
    page = lab
    open_dialog(page)
    by_id(page, "wl-profile").select_option("minimal")
    name = f"toast-{secrets.token_hex(3)}"
    by_id(page, "wl-name").fill(name)
    page.evaluate("() => { window.open = () => null; }")  # keep this page in front
    record_toasts(page)
    workspace_id = click_launch(page).json()["id"]
    try:
        toasts = page.locator(".Toastify__toast")
        expect(toasts.filter(has_text=f"Workspace {name} is running")).to_be_visible(timeout=LAUNCH_TIMEOUT)
        page.wait_for_timeout(1500)  # an update still in flight would bring a stale toast back now
        expect(toasts.filter(has_text="waiting for its Jupyter")).to_have_count(0)
        expect(toasts.filter(has_text=name)).to_have_count(1)
    finally:
        lab_server.api("DELETE", f"workspaces/{workspace_id}", params={"purge": "true"})
