/**
 * The panel's confirmations: stop a workspace (its kernels end), delete one (volumes kept
 * unless asked), the snapshot tag, and delete a snapshot.
 */
import { Dialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ISnapshot, IWorkspace } from '../contract';
import { element, tagButtons } from '../dom';

/** The delete confirmation's body; its value is whether to purge the volumes. */
class DeleteBody extends Widget implements Dialog.IBodyWidget<boolean> {
  constructor(workspace: IWorkspace) {
    super();
    this.addClass('wl-DeleteBody');
    this.node.appendChild(
      element('p', {
        text:
          `Delete the workspace ${workspace.name}? Its container goes; its work volume ` +
          '(/home/jovyan/work) is kept unless you tick the box below.'
      })
    );
    this.node.appendChild(
      element('p', {
        testid: 'wl-delete-models-kept',
        text:
          'Your model volume (/models, shared by all your workspaces) is always kept; ' +
          'an admin removes it with "workspace-launcher models rm".'
      })
    );
    const label = element('label', { className: 'wl-Inline' });
    this._purge = element('input', { testid: 'wl-delete-purge' });
    this._purge.type = 'checkbox';
    this._purge.checked = false;
    label.append(
      this._purge,
      ` Also delete the work volume of ${workspace.name}: its files in /home/jovyan/work (cannot be undone)`
    );
    this.node.appendChild(label);
  }

  getValue(): boolean {
    return this._purge.checked;
  }

  private _purge: HTMLInputElement;
}

/** Ask before deleting; resolves to `{purge}` or null when cancelled. */
export async function confirmDelete(workspace: IWorkspace): Promise<{ purge: boolean } | null> {
  const dialog = new Dialog({
    title: 'Delete workspace',
    body: new DeleteBody(workspace),
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })],
    defaultButton: 0
  });
  tagButtons(dialog, ['wl-delete-cancel', 'wl-delete-confirm']);
  const result = await dialog.launch();
  return result.button.accept ? { purge: result.value === true } : null;
}

/** The snapshot dialog's body; its value is the tag (empty: the server picks one). */
class SnapshotBody extends Widget implements Dialog.IBodyWidget<string> {
  constructor(workspace: IWorkspace) {
    super();
    this.addClass('wl-SnapshotBody');
    this.node.appendChild(
      element('p', {
        text:
          `Save the environment of ${workspace.name} (installed packages, not the volumes) ` +
          'as an image you can launch later.'
      })
    );
    const label = element('label', { text: 'Tag (optional)' });
    this._tag = element('input', { className: 'jp-mod-styled', testid: 'wl-snapshot-tag' });
    this._tag.placeholder = `${workspace.name}-<date>`;
    label.appendChild(this._tag);
    this.node.appendChild(label);
  }

  getValue(): string {
    return this._tag.value.trim();
  }

  private _tag: HTMLInputElement;
}

/** Ask for a snapshot tag; resolves to the tag ('' for the default) or null when cancelled. */
export async function askSnapshotTag(workspace: IWorkspace): Promise<string | null> {
  const dialog = new Dialog({
    title: 'Snapshot workspace',
    body: new SnapshotBody(workspace),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Snapshot' })],
    focusNodeSelector: 'input'
  });
  tagButtons(dialog, ['wl-snapshot-cancel', 'wl-snapshot-confirm']);
  const result = await dialog.launch();
  return result.button.accept ? (result.value ?? '') : null;
}

/**
 * Ask a yes-or-no question that warns (Cancel is the default); `id` names the test ids
 * `<id>-text`, `<id>-cancel` and `<id>-confirm`. Resolves to whether to go ahead.
 */
async function confirmAction(
  title: string,
  text: string,
  label: string,
  id: string
): Promise<boolean> {
  const dialog = new Dialog({
    title,
    body: new Widget({ node: element('p', { testid: `${id}-text`, text }) }),
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label })],
    defaultButton: 0
  });
  tagButtons(dialog, [`${id}-cancel`, `${id}-confirm`]);
  return (await dialog.launch()).button.accept;
}

/** Ask before deleting a snapshot; resolves to whether to go ahead. */
export function confirmSnapshotDelete(snapshot: ISnapshot): Promise<boolean> {
  const text =
    `Delete the snapshot ${snapshot.tag} of ${snapshot.workspace_name} (${snapshot.image})? ` +
    'Its image goes, and no workspace can start from it again (cannot be undone). ' +
    'Workspaces and their volumes are not touched.';
  return confirmAction('Delete snapshot', text, 'Delete', 'wl-snapshot-delete');
}

/** Ask before stopping: its running kernels end. Resolves to whether to go ahead. */
export function confirmStop(workspace: IWorkspace): Promise<boolean> {
  const text =
    `Stop ${workspace.name}? Its running kernels end: what is only in their memory ` +
    '(variables, unsaved outputs) is lost. Its files in /home/jovyan/work and /models stay, ' +
    'and its GPUs are freed; start it again from this panel.';
  return confirmAction('Stop workspace', text, 'Stop', 'wl-stop');
}
