/**
 * A live view of a workspace's log (the container's output; while an image builds the
 * server has no container yet and answers what it has), shown in a dialog.
 */
import { Dialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { LauncherAPI, errorMessage } from '../api';
import { IWorkspace } from '../contract';
import { tagButtons } from '../dom';
import { pollWhileAttached } from '../poll-while-attached';

/** Lines fetched per refresh. */
const TAIL = 500;
/** Refresh interval while shown, in milliseconds. */
const INTERVAL = 2_000;

export class LogView extends Widget {
  constructor(
    private readonly _api: LauncherAPI,
    readonly workspace: IWorkspace
  ) {
    super();
    this.addClass('wl-LogView');
    this._pre = document.createElement('pre');
    this._pre.className = 'wl-Log';
    this._pre.setAttribute('data-testid', 'wl-logs');
    this._pre.textContent = 'Loading the log…';
    this.node.appendChild(this._pre);
    pollWhileAttached(this, {
      factory: () => this._fetch(),
      interval: INTERVAL,
      max: 30_000,
      name: 'workspace-launcher:logs'
    });
  }

  private async _fetch(): Promise<void> {
    let text: string;
    try {
      text = await this._api.logs(this.workspace.id, TAIL);
    } catch (error) {
      this._pre.textContent = `Could not read the log: ${errorMessage(error)}`;
      throw error;
    }
    const pre = this._pre;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = text || this._emptyText();
    if (atBottom) {
      pre.scrollTop = pre.scrollHeight;
    }
  }

  private _emptyText(): string {
    return this.workspace.status === 'building' || this.workspace.status === 'pending'
      ? 'No log yet: the image is being built and its container does not exist yet.'
      : 'The log is empty.';
  }

  private _pre: HTMLPreElement;
}

/** Show a workspace's log in a dialog, refreshed while it is open. */
export async function showLogs(api: LauncherAPI, workspace: IWorkspace): Promise<void> {
  const dialog = new Dialog({
    title: `Log of ${workspace.name}`,
    body: new LogView(api, workspace),
    buttons: [Dialog.okButton({ label: 'Close' })],
    hasClose: true
  });
  dialog.addClass('wl-LogDialog');
  tagButtons(dialog, ['wl-logs-close']);
  await dialog.launch();
}
