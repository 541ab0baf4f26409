/**
 * Launch progress: a notification that follows one launch through its phases (building, with
 * its log viewable, starting, running), opens the workspace's lab in a new tab once it answers,
 * and on failure shows the reason and the log tail with a Retry action. The notification
 * carries `progress` too, but JupyterLab 4.6's toasts draw a spinner, not a bar: the bar is the
 * status-bar item (panel/launch-status-item.tsx) and the panel's row.
 */
import { Notification } from '@jupyterlab/apputils';
import { ReadonlyJSONValue } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';

import { LauncherAPI, errorMessage } from '../api';
import { IWorkspace } from '../contract';
import { clampPercent } from '../format';
import { openWorkspace } from '../open-workspace';
import { showLogs } from '../panel/log-dialog';
import { IWorkspacesModel } from '../tokens';
import { waitUntilAnswering } from './answering';
import { ILaunched, showLaunchDialog } from './dialog';
import { showFailure } from './failure';

/** Follows one launch; disposes itself when the launch ends. */
export class LaunchProgress implements IDisposable {
  constructor(
    private readonly _api: LauncherAPI,
    private readonly _model: IWorkspacesModel,
    private readonly _launched: ILaunched
  ) {
    const workspace = _launched.workspace;
    this._id = workspace.id;
    this._watch = _model.watch();
    this._notification = Notification.emit(this._text(workspace), 'in-progress', {
      autoClose: false,
      progress: clampPercent(workspace.progress) / 100,
      actions: [this._logsAction()]
    });
    _model.changed.connect(this._onChanged, this);
    _model.deleted.connect(this._onDeleted, this);
    _model.upsert(workspace);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._model.changed.disconnect(this._onChanged, this);
    this._model.deleted.disconnect(this._onDeleted, this);
    this._watch.dispose();
  }

  private _onChanged(): void {
    const workspace = this._model.find(this._id);
    if (!workspace) {
      return;
    }
    const key = `${workspace.status}:${workspace.progress}:${workspace.message}`;
    if (key === this._last) {
      return;
    }
    this._last = key;
    switch (workspace.status) {
      case 'running':
        void this._whenAnswering(workspace);
        break;
      case 'failed':
        this.dispose();
        void this._failed(workspace);
        break;
      case 'stopped':
        this.dispose();
        this._finish(`Workspace ${workspace.name} was stopped before it started.`, 'warning', {
          autoClose: 5000
        });
        break;
      default:
        Notification.update({
          id: this._notification,
          message: this._text(workspace),
          type: 'in-progress',
          progress: clampPercent(workspace.progress) / 100,
          autoClose: false,
          actions: [this._logsAction()]
        });
    }
  }

  private _onDeleted(_: IWorkspacesModel, id: string): void {
    if (id === this._id) {
      this.dispose();
      Notification.dismiss(this._notification);
    }
  }

  /**
   * A container can run before its Jupyter answers: wait until the host says it does (still
   * following the status, so a launch that fails meanwhile is reported).
   */
  private async _whenAnswering(workspace: IWorkspace): Promise<void> {
    if (this._probing) {
      return;
    }
    this._probing = true;
    Notification.update({
      id: this._notification,
      message: `Workspace ${workspace.name}: waiting for its Jupyter to answer`,
      type: 'in-progress',
      progress: 0.95,
      autoClose: false
    });
    const answers = await waitUntilAnswering(() => this._api.isAnswering(workspace.id), {
      stop: () => this._isDisposed || this._model.find(this._id)?.status !== 'running'
    });
    this._probing = false;
    const now = this._model.find(this._id) ?? workspace;
    if (this._isDisposed || now.status !== 'running') {
      return; // failed, stopped or deleted meanwhile: _onChanged reports it
    }
    this.dispose();
    if (answers) {
      this._running(now);
    } else {
      this._finish(`Workspace ${now.name} runs but its Jupyter does not answer yet.`, 'warning', {
        autoClose: false,
        actions: [this._logsAction(), this._openAction(now)]
      });
    }
  }

  private _running(workspace: IWorkspace): void {
    const opened = openWorkspace(workspace);
    const message = opened
      ? `Workspace ${workspace.name} is running; it opened in a new tab.`
      : `Workspace ${workspace.name} is running.`;
    this._finish(message, 'success', {
      autoClose: opened ? 8000 : false,
      actions: [this._openAction(workspace)]
    });
  }

  private async _failed(seen: IWorkspace): Promise<void> {
    // Events carry the phase only: read the reason and the log tail.
    const workspace = seen.error ? seen : await this._api.getWorkspace(this._id).catch(() => seen);
    const retry = () => void retryLaunch(this._api, this._model, this._launched);
    const message = `Workspace ${workspace.name} failed: ${workspace.error || workspace.message}`;
    const failedNotice = this._finish(message, 'error', {
      autoClose: false,
      actions: [
        {
          label: 'Details',
          caption: 'Show the reason and the end of the log',
          callback: event => {
            event.preventDefault();
            void showFailure(workspace).then(again => again && retry());
          }
        },
        { label: 'Retry', caption: 'Launch the same workspace again', callback: retry }
      ]
    });
    if (await showFailure(workspace)) {
      Notification.dismiss(failedNotice);
      retry();
    }
  }

  /**
   * Turn the progress notification into the final one. An update, not a dismiss and a new
   * toast: JupyterLab applies toast updates asynchronously, so a "waiting for its Jupyter"
   * update still in flight would bring a dismissed toast back beside "is running".
   */
  private _finish(
    message: string,
    type: Notification.TypeOptions,
    options: Notification.IOptions<ReadonlyJSONValue>
  ): string {
    const updated = Notification.update({
      id: this._notification,
      message,
      type,
      autoClose: options.autoClose ?? false,
      actions: options.actions ?? []
    });
    return updated ? this._notification : Notification.emit(message, type, options);
  }

  private _openAction(workspace: IWorkspace): Notification.IAction {
    return {
      label: 'Open',
      caption: 'Open the workspace in a new browser tab',
      displayType: 'accent',
      callback: () => void openWorkspace(workspace)
    };
  }

  private _logsAction(): Notification.IAction {
    return {
      label: 'View logs',
      caption: 'Show the log of this launch',
      callback: event => {
        event.preventDefault(); // keep the notification
        const workspace = this._model.find(this._id) ?? this._launched.workspace;
        void showLogs(this._api, workspace);
      }
    };
  }

  private _text(workspace: IWorkspace): string {
    // The phase's message names what runs ("building the shared Jupyter layer (step 3/12)");
    // JupyterLab cuts toasts at 140 characters, so the status word is left out beside it.
    const percent = clampPercent(workspace.progress);
    return `Workspace ${workspace.name}: ${workspace.message || workspace.status} (${percent}%)`;
  }

  private readonly _id: string;
  private readonly _notification: string;
  private _watch: IDisposable;
  private _last = '';
  private _probing = false;
  private _isDisposed = false;
}

/** Launch again with the same request; a refused request reopens the dialog with its error. */
export async function retryLaunch(
  api: LauncherAPI,
  model: IWorkspacesModel,
  previous: ILaunched
): Promise<void> {
  let workspace: IWorkspace;
  try {
    workspace = await api.launch(previous.request);
  } catch (error) {
    await launchWithDialog(api, model, previous.values, error);
    return;
  }
  new LaunchProgress(api, model, { ...previous, workspace });
}

/** Show the launch dialog and follow the launch it starts. */
export async function launchWithDialog(
  api: LauncherAPI,
  model: IWorkspacesModel,
  initial?: Partial<ILaunched['values']>,
  error?: unknown
): Promise<void> {
  let launched: ILaunched | null;
  try {
    launched = await showLaunchDialog(api, initial, error);
  } catch (failure) {
    Notification.error(`Could not launch a workspace: ${errorMessage(failure)}`);
    return;
  }
  if (launched) {
    new LaunchProgress(api, model, launched);
  }
}
