"""The JupyterLab front end, end to end: launcher card → dialog → launch → the workspace's own
JupyterLab through the proxy → stop and delete from the panel; inline validation errors; and
the notebook widget. Real server, real engine, real Chromium (see conftest.py)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import docker.errors
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from workspace_launcher.engine import spec as specs

from .conftest import (
    DEMO_PROFILE,
    LAUNCH_TIMEOUT,
    assert_no_news_prompt,
    by_id,
    open_lab,
    screenshot,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

IN_FLIGHT = {"pending", "building", "starting"}
#: A workspace's lab, on the workspace's own origin (never the host's).
WORKSPACE_LAB = re.compile(r"^http://(?P<id>[0-9a-f]{12})\.localhost:(?P<port>\d+)/workspace-launcher/workspaces/(?P=id)/lab")
OPEN_URL = re.compile(r"/workspace-launcher/open/(?P<id>[0-9a-f]{12})")


def assert_on_own_origin(url: str, workspace_id: str, lab_server) -> None:
    match = WORKSPACE_LAB.search(url)
    assert match and match["id"] == workspace_id, url
    assert int(match["port"]) == urlsplit(lab_server.url).port  # the host server answers that origin


# --- helpers ------------------------------------------------------------------------------------


def launcher_card(page):
    """The "GPU Workspace" card, in the launcher's "GPU Workspaces" category."""
    section = page.locator(".jp-Launcher-section").filter(
        has=page.locator(".jp-Launcher-sectionTitle", has_text="GPU Workspaces")
    )
    return section.locator(".jp-LauncherCard", has_text="GPU Workspace")


def open_dialog(page):
    """Click the launcher card; wait until the dialog has loaded its options."""
    card = launcher_card(page)
    card.scroll_into_view_if_needed()
    card.click()
    form = by_id(page, "wl-launch-form")
    expect(form).to_be_visible()
    expect(by_id(page, "wl-profile").locator("option[value='minimal']")).to_be_attached()
    expect(by_id(page, "wl-dataset-demo")).to_be_visible()
    return form


def click_launch(page):
    """Click the dialog's Launch; the response to the launch request it sends."""
    with page.expect_response(
        lambda r: urlsplit(r.url).path == "/workspace-launcher/api/workspaces" and r.request.method == "POST"
    ) as posted:
        by_id(page, "wl-launch").click()
    return posted.value


def launch_refused_inline(page, field: str, value: str):
    """Fill the dialog's ``field`` with a value the server refuses and click Launch; return the
    field's error, once it shows next to the field and names the value."""
    by_id(page, f"wl-{field}").fill(value)
    by_id(page, "wl-launch").click()
    error = by_id(page, f"wl-error-{field}")
    expect(error).to_be_visible()
    expect(error).to_contain_text(value)
    return error


def open_panel(page):
    """Show the "GPU Workspaces" sidebar panel (its tab in the left side bar)."""
    panel = page.locator("#wl-workspaces-panel")
    if not panel.is_visible():
        page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='wl-workspaces-panel']").click()
    expect(panel).to_be_visible()
    return panel


def new_notebook(page):
    """Open a new Python notebook from the launcher; return its panel once its kernel is idle."""
    page.locator(".jp-LauncherCard[data-category='Notebook']").first.click()
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(notebook.locator(".jp-Notebook")).to_be_visible()
    # A cell run before the kernel is connected is silently not run: wait for the status bar's
    # kernel item to read "Python 3 (ipykernel) | Idle".
    kernel = page.locator("#jp-main-statusbar").get_by_role("button", name=re.compile(r"\| Idle$"))
    expect(kernel).to_be_visible(timeout=LAUNCH_TIMEOUT)
    return notebook


def run_cell(notebook, code: str):
    """Type code into the notebook's last cell and run it; return that cell's output area."""
    cells = notebook.locator(".jp-Notebook .jp-Cell")
    cell = cells.nth(cells.count() - 1)  # by position: running it makes the next cell active
    expect(cell).to_have_class(re.compile(r"\bjp-mod-active\b"))
    editor = cell.locator(".cm-content")
    editor.click()
    editor.fill(code)
    expect(editor).to_have_text(code)
    editor.press("Shift+Enter")
    return cell.locator(".jp-OutputArea")


def hide_toasts(page) -> None:
    """Close the notifications (they stay listed in the notification centre)."""
    toasts = page.locator(".Toastify__toast")
    # Always the first: closing one re-lays out the rest, so positions taken up front go stale.
    for _ in range(20):
        if toasts.count() == 0:
            break
        try:
            toasts.first.locator(".jp-Notification-Toast-Close").click(timeout=3000)
        except PlaywrightTimeoutError:  # still sliding in, or gone meanwhile: look again
            continue
    expect(toasts).to_have_count(0)


def record_statuses(page) -> None:
    """Record every ``data-status`` the panel's rows show, in order, in ``window.wlStatuses``
    (a launch can pass its phases faster than a test could poll them)."""
    page.evaluate(
        """() => {
            window.wlStatuses = {};
            const note = () => {
                for (const row of document.querySelectorAll('li[data-testid^="wl-ws-"][data-status]')) {
                    const id = row.dataset.testid.slice('wl-ws-'.length);
                    const seen = (window.wlStatuses[id] ??= []);
                    if (seen[seen.length - 1] !== row.dataset.status) seen.push(row.dataset.status);
                }
            };
            new MutationObserver(note).observe(document.getElementById('wl-workspaces-panel'), {
                subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'],
            });
        }"""
    )


def workspace_volume(docker_client, workspace_id: str):
    try:
        return docker_client.volumes.get(f"workspace-launcher-work-{workspace_id}")
    except docker.errors.NotFound:
        return None


# --- tests ----------------------------------------------------------------------------------------


def test_launch_use_stop_delete(lab, lab_server, browser, docker_client):
    page = lab
    name = f"ui-{secrets.token_hex(3)}"

    # The card, in its own launcher category.
    card = launcher_card(page)
    expect(card).to_be_visible()
    card.scroll_into_view_if_needed()
    card.hover()
    screenshot(page, "launcher-card.png")

    # The dialog: profile, GPUs (two declared fake H100s, policy 1 per workspace), dataset, name.
    open_panel(page)
    form = open_dialog(page)
    by_id(page, "wl-profile").select_option("minimal")
    expect(by_id(page, "wl-profile-framework")).to_have_text("numpy")
    expect(by_id(page, "wl-gpu-table")).to_contain_text("Fake H100")
    expect(by_id(page, "wl-gpu-count")).to_have_value("0")  # a CPU profile defaults to no GPU
    by_id(page, "wl-dataset-demo").check()
    by_id(page, "wl-name").fill(name)
    expect(by_id(page, "wl-dataset-demo")).to_be_checked()
    screenshot(page.locator(".jp-Dialog-content"), "launch-dialog.png")

    # Launch: the dialog closes, the panel follows the phases, the lab opens in a new tab.
    record_statuses(page)
    with browser.expect_page(timeout=LAUNCH_TIMEOUT) as opened:
        posted = click_launch(page)
        assert posted.status == 202, posted.text()
        workspace_id = posted.json()["id"]
        expect(form).to_be_hidden()
        row = by_id(page, f"wl-ws-{workspace_id}")
        expect(row).to_be_visible()
        expect(row).to_contain_text(name)
        expect(row).to_have_attribute("data-status", "running", timeout=LAUNCH_TIMEOUT)
        expect(by_id(page, f"wl-ws-status-{workspace_id}")).to_have_text("running")
    seen = page.evaluate("id => window.wlStatuses[id]", workspace_id)
    assert seen[0] in IN_FLIGHT and seen[-1] == "running" and set(seen) <= {*IN_FLIGHT, "running"}, seen
    expect(page.locator(".Toastify__toast").filter(has_text=f"Workspace {name} is running")).to_be_visible()
    expect(row).to_contain_text("demo")
    expect(row).to_contain_text("no GPU")
    hide_toasts(page)
    screenshot(page, "workspaces-panel.png")

    # The workspace's own JupyterLab, on its own origin, through the host's handshake.
    workspace_page = opened.value
    workspace_page.wait_for_load_state()
    assert_on_own_origin(workspace_page.url, workspace_id, lab_server)
    assert workspace_page.evaluate("window.opener") is None  # no handle on the host's window
    open_lab(workspace_page)
    expect(workspace_page.locator(".jp-Launcher")).to_be_visible()
    notebook = new_notebook(workspace_page)
    output = run_cell(notebook, "import socket, os; print(socket.gethostname(), os.listdir('/datasets'))")
    expect(output).to_contain_text(f"{name} ['demo']", timeout=60_000)
    assert_no_news_prompt(workspace_page, timeout=0)
    screenshot(workspace_page, "workspace-lab.png")

    # Back in the host lab: stop from the panel. It asks first (its kernels end); Cancel keeps it.
    page.bring_to_front()
    by_id(page, f"wl-ws-stop-{workspace_id}").click()
    expect(by_id(page, "wl-stop-text")).to_contain_text("running kernels end")
    expect(by_id(page, "wl-stop-text")).to_contain_text("/home/jovyan/work and /models stay")
    by_id(page, "wl-stop-cancel").click()
    expect(by_id(page, "wl-stop-text")).to_have_count(0)
    expect(row).to_have_attribute("data-status", "running")
    by_id(page, f"wl-ws-stop-{workspace_id}").click()
    by_id(page, "wl-stop-confirm").click()
    expect(row).to_have_attribute("data-status", "stopped", timeout=60_000)
    expect(page.locator(".Toastify__toast").filter(has_text=f"Stopped {name}; its GPUs are free.")).to_be_visible()

    # Start ends in a notification with an Open button; stop again (confirmed) for the delete.
    by_id(page, f"wl-ws-start-{workspace_id}").click()
    started = page.locator(".Toastify__toast").filter(has_text=f"Started {name}: it is running again.")
    expect(started).to_be_visible(timeout=LAUNCH_TIMEOUT)
    expect(started.get_by_role("button", name="Open")).to_be_visible()
    expect(row).to_have_attribute("data-status", "running")
    hide_toasts(page)
    by_id(page, f"wl-ws-stop-{workspace_id}").click()
    by_id(page, "wl-stop-confirm").click()
    expect(row).to_have_attribute("data-status", "stopped", timeout=60_000)
    expect(by_id(page, f"wl-ws-status-{workspace_id}")).to_have_text("stopped")
    expect(by_id(page, f"wl-ws-start-{workspace_id}")).to_be_enabled()
    expect(by_id(page, f"wl-ws-stop-{workspace_id}")).to_be_disabled()
    container = docker_client.containers.get(f"workspace-launcher-{workspace_id}")
    assert container.status == "exited"

    # Delete, leaving the purge box unchecked: the container goes, the work volume stays.
    by_id(page, f"wl-ws-delete-{workspace_id}").click()
    purge = by_id(page, "wl-delete-purge")
    expect(purge).to_be_visible()
    expect(purge).not_to_be_checked()
    # The box says exactly what goes: this workspace's work volume, never the model volume.
    expect(page.locator("label", has=purge)).to_contain_text(f"work volume of {name}")
    expect(page.locator("label", has=purge)).not_to_contain_text("model")
    expect(by_id(page, "wl-delete-models-kept")).to_contain_text("/models")
    by_id(page, "wl-delete-confirm").click()
    expect(row).to_have_count(0, timeout=60_000)
    expect(page.locator(".Toastify__toast").filter(has_text=f"Deleted {name}; its volumes are kept")).to_be_visible()
    owned = {"label": [f"{specs.label('owner')}={lab_server.owner}", f"{specs.label('id')}={workspace_id}"]}
    assert docker_client.containers.list(all=True, filters=owned) == []
    volume = workspace_volume(docker_client, workspace_id)
    assert volume is not None, "the work volume must be kept when purge is unchecked"
    volume.remove()


def test_a_blocked_new_tab_leaves_an_open_button(lab, lab_server, browser):
    """With pop-ups blocked (window.open gives null), the running notification stays and its
    Open button opens the workspace."""
    page = lab
    name = f"popup-{secrets.token_hex(3)}"
    page.evaluate("() => { window.wlRealOpen = window.open; window.open = () => null; }")
    open_dialog(page)
    by_id(page, "wl-profile").select_option("minimal")
    by_id(page, "wl-name").fill(name)
    posted = click_launch(page)
    assert posted.status == 202, posted.text()
    workspace_id = posted.json()["id"]
    try:
        toast = page.locator(".Toastify__toast").filter(has_text=f"Workspace {name} is running")
        expect(toast).to_be_visible(timeout=LAUNCH_TIMEOUT)
        expect(toast).not_to_contain_text("opened in a new tab")
        page.evaluate("() => { window.open = window.wlRealOpen; }")  # the user allows it now
        with browser.expect_page() as opened:
            toast.get_by_role("button", name="Open").click()
        tab = opened.value
        tab.wait_for_load_state()
        assert_on_own_origin(tab.url, workspace_id, lab_server)
    finally:
        answer = lab_server.api("DELETE", f"workspaces/{workspace_id}", params={"purge": "true"})
        assert answer.status_code == 204, answer.text


def test_the_demo_opens_from_the_dialog(lab, lab_server, browser):
    """"Open the demo" is offered only for a profile that names a demo notebook, and the new
    tab lands on that notebook itself."""
    page = lab
    open_dialog(page)
    by_id(page, "wl-profile").select_option("minimal")
    expect(by_id(page, "wl-profile-framework")).to_have_text("numpy")
    expect(by_id(page, "wl-open-demo")).to_have_count(0)  # Minimal has no demo: not offered
    by_id(page, "wl-profile").select_option(DEMO_PROFILE)
    demo = by_id(page, "wl-open-demo")
    expect(page.locator("label", has=demo)).to_contain_text("object-detection-train.ipynb")
    demo.check()
    by_id(page, "wl-profile").select_option("minimal")  # the box goes, and its tick with it
    expect(demo).to_have_count(0)
    by_id(page, "wl-profile").select_option(DEMO_PROFILE)
    expect(demo).not_to_be_checked()
    demo.check()
    by_id(page, "wl-name").fill(f"demo-{secrets.token_hex(3)}")
    with browser.expect_page(timeout=LAUNCH_TIMEOUT) as opened:
        workspace_id = click_launch(page).json()["id"]
    try:
        tab = opened.value
        tab.wait_for_load_state()
        assert_on_own_origin(tab.url, workspace_id, lab_server)
        assert tab.url.endswith("/lab/tree/object-detection-train.ipynb"), tab.url
        open_lab(tab)
        notebook = tab.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        expect(notebook.locator(".jp-Cell").first).to_contain_text("Train an object detector from scratch")
    finally:
        answer = lab_server.api("DELETE", f"workspaces/{workspace_id}", params={"purge": "true"})
        assert answer.status_code == 204, answer.text


def test_dialog_shows_server_validation_errors_inline(lab, lab_server):
    page = lab
    before = {w["id"] for w in lab_server.api("GET", "workspaces").json()}
    open_dialog(page)
    by_id(page, "wl-profile").select_option("minimal")

    # The policy allows one GPU per workspace: the dialog offers no more.
    two = by_id(page, "wl-gpu-count").locator("option[value='2']")
    expect(two).to_be_disabled()
    expect(two).to_have_attribute("title", re.compile("at most 1 GPU per workspace"))
    expect(by_id(page, "wl-gpu-limit")).to_contain_text("at most 1 GPU per workspace")
    # Picking GPUs: once one is ticked, the other is disabled, with the reason.
    by_id(page, "wl-gpu-mode-pick").check()
    by_id(page, "wl-gpu-GPU-fake-0").check()
    other = by_id(page, "wl-gpu-GPU-fake-1")
    expect(other).to_be_disabled()
    expect(other).to_have_attribute("title", re.compile("at most 1 GPU per workspace"))
    by_id(page, "wl-gpu-mode-count").check()  # back to no GPU (the fake GPUs cannot start)
    expect(by_id(page, "wl-gpu-count")).to_have_value("0")
    expect(other).to_be_enabled()

    # A memory size the server refuses: shown next to the field, the dialog stays open.
    memory_error = launch_refused_inline(page, "memory", "lots")
    expect(by_id(page, "wl-launch-form")).to_be_visible()
    expect(by_id(page, "wl-launch")).to_be_enabled()

    # Editing the field clears its error; a bad name is the server's to refuse.
    by_id(page, "wl-memory").fill("")
    expect(memory_error).to_be_hidden()
    launch_refused_inline(page, "name", "Bad Name")
    expect(by_id(page, "wl-error")).to_have_count(0)

    # Three wrong fields at once: each error shows next to its own field, from one answer.
    by_id(page, "wl-memory").fill("lots")
    by_id(page, "wl-cpus").fill("many")
    by_id(page, "wl-launch").click()
    for field, words in (("name", "Bad Name"), ("memory", "lots"), ("cpus", "many")):
        expect(by_id(page, f"wl-error-{field}")).to_contain_text(words)
    expect(by_id(page, "wl-error-memory")).not_to_contain_text("Bad Name")  # its own message only
    screenshot(page.locator(".jp-Dialog-content"), "launch-dialog-errors.png")

    by_id(page, "wl-cancel").click()
    expect(by_id(page, "wl-launch-form")).to_be_hidden()
    assert {w["id"] for w in lab_server.api("GET", "workspaces").json()} == before  # nothing launched


def test_notebook_widget_launches_and_links(lab, lab_server):
    page = lab
    notebook = new_notebook(page)
    output = run_cell(notebook, "from workspace_launcher.notebook.widget import WorkspaceLauncher; w = WorkspaceLauncher(); w")

    # Rendered by ipywidgets' JupyterLab manager, not shown as a model repr.
    widget = output.locator(".jupyter-widgets.widget-vbox").first  # the outer VBox
    expect(widget).to_be_visible(timeout=60_000)
    expect(output).not_to_contain_text("VBox(")
    launch = widget.locator("button", has_text="Launch")
    expect(launch).to_be_visible()

    dataset = widget.get_by_role("checkbox", name=re.compile(r"^demo — "))
    dataset.check()
    expect(dataset).to_be_checked()
    launch.click()
    link = widget.locator("a[href*='/workspace-launcher/open/']")
    expect(link).to_be_visible(timeout=LAUNCH_TIMEOUT)
    href = link.get_attribute("href")
    match = OPEN_URL.search(href)
    assert match, href
    expect(link).to_have_text(re.compile(r"^Open minimal-"))
    expect(widget).to_contain_text("running")
    # The host's panel lists it too.
    open_panel(page)
    expect(by_id(page, f"wl-ws-{match['id']}")).to_have_attribute("data-status", "running")
    hide_toasts(page)
    screenshot(page, "notebook-widget.png")

    workspace = lab_server.api("GET", f"workspaces/{match['id']}").json()
    assert workspace["status"] == "running"
    assert workspace["datasets"] == ["demo"]
    # The link opens the workspace on its own origin.
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert_on_own_origin(tab.url, match["id"], lab_server)
    answer = lab_server.api("DELETE", f"workspaces/{match['id']}", params={"purge": "true"})
    assert answer.status_code == 204, answer.text


def test_the_command_is_where_the_readme_says(lab):
    """README: "New GPU Workspace…" is on the launcher card, in File > New and in the command
    palette (there is no menu of its own)."""
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert "**File > New**" in readme and "command palette" in readme and "Workspaces menu" not in readme
    page = lab
    expect(launcher_card(page)).to_be_visible()
    page.locator(".lm-MenuBar-itemLabel", has_text="File").click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^New$")).hover()
    item = page.locator(".lm-Menu-itemLabel", has_text="New GPU Workspace…")
    expect(item).to_be_visible()
    item.click()
    expect(by_id(page, "wl-launch-form")).to_be_visible()
    by_id(page, "wl-cancel").click()
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".jp-ModalCommandPalette input, #command-palette input").first
    expect(palette).to_be_visible()
    palette.fill("New GPU Workspace")
    expect(page.locator(".lm-CommandPalette-itemLabel", has_text="New GPU Workspace…")).to_be_visible()
    page.keyboard.press("Escape")
