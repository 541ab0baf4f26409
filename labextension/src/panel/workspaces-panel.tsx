/**
 * The "GPU Workspaces" sidebar panel: the user's workspaces, live, with their actions, and
 * their snapshots.
 */
import { Notification, ReactWidget } from '@jupyterlab/apputils';
import {
  LabIcon,
  addIcon,
  deleteIcon,
  launchIcon,
  listIcon,
  refreshIcon,
  runIcon,
  saveIcon,
  stopIcon
} from '@jupyterlab/ui-components';
import { IDisposable } from '@lumino/disposable';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { LauncherAPI, errorMessage } from '../api';
import { IN_FLIGHT, ISnapshot, IWorkspace } from '../contract';
import { clampPercent, shortUuid, since } from '../format';
import { gpuIcon } from '../icons';
import { openWorkspace } from '../open-workspace';
import { IFormValues } from '../launch/rules';
import { IWorkspacesModel, PANEL_ID } from '../tokens';
import { askSnapshotTag, confirmDelete, confirmSnapshotDelete, confirmStop } from './confirmations';
import { showLogs } from './log-dialog';
import { SnapshotsSection } from './snapshots-section';

type Action = 'open' | 'stop' | 'start' | 'snapshot' | 'logs' | 'delete';

interface IActionSpec {
  action: Action;
  icon: LabIcon;
  title: string;
  enabled: (w: IWorkspace) => boolean;
}

const ACTIONS: IActionSpec[] = [
  {
    action: 'open',
    icon: launchIcon,
    title: 'Open in a new tab',
    enabled: w => w.status === 'running'
  },
  {
    action: 'stop',
    icon: stopIcon,
    title: 'Stop (frees its GPUs)',
    enabled: w => w.status === 'running'
  },
  { action: 'start', icon: runIcon, title: 'Start again', enabled: w => w.status === 'stopped' },
  {
    action: 'snapshot',
    icon: saveIcon,
    title: 'Snapshot its environment as an image',
    enabled: w => w.status === 'running' || w.status === 'stopped'
  },
  { action: 'logs', icon: listIcon, title: 'Show its log', enabled: () => true },
  { action: 'delete', icon: deleteIcon, title: 'Delete…', enabled: () => true }
];

export class WorkspacesPanel extends ReactWidget {
  constructor(
    private readonly _api: LauncherAPI,
    private readonly _model: IWorkspacesModel,
    /** Open the launch dialog, prefilled with `initial` when given. */
    private readonly _onNew: (initial?: Partial<IFormValues>) => void
  ) {
    super();
    this.id = PANEL_ID;
    this.addClass('wl-Panel');
    this.title.icon = gpuIcon;
    this.title.caption = 'GPU Workspaces';
    _model.changed.connect(this._onModelChanged, this);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.changed.disconnect(this._onModelChanged, this);
    this._watch?.dispose();
    this._watch = null;
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this._watch ??= this._model.watch();
      void this._loadSnapshots();
    }
  }

  protected onBeforeDetach(msg: Message): void {
    this._watch?.dispose();
    this._watch = null;
    super.onBeforeDetach(msg);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._watch ??= this._model.watch();
    void this._loadSnapshots();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._watch?.dispose();
    this._watch = null;
  }

  protected render(): JSX.Element {
    const workspaces = this._model.workspaces;
    return (
      <div className="wl-PanelBody">
        <div className="wl-PanelHeader">
          <h2 className="wl-PanelTitle">GPU Workspaces</h2>
          <button
            className="jp-Button jp-mod-minimal wl-IconButton"
            title="New GPU workspace…"
            aria-label="New GPU workspace"
            data-testid="wl-panel-new"
            onClick={() => this._onNew()}
          >
            <addIcon.react tag="span" />
          </button>
          <button
            className="jp-Button jp-mod-minimal wl-IconButton"
            title="Refresh"
            aria-label="Refresh"
            data-testid="wl-panel-refresh"
            onClick={() => {
              void this._model.refresh();
              void this._loadSnapshots();
            }}
          >
            <refreshIcon.react tag="span" />
          </button>
        </div>
        {this._model.error && (
          <div className="wl-Error" data-testid="wl-panel-error">
            {this._model.error}
          </div>
        )}
        {this._model.loaded && workspaces.length === 0 && (
          <div className="wl-Empty" data-testid="wl-panel-empty">
            <p>No workspaces yet.</p>
            <button className="jp-Button jp-mod-styled jp-mod-accept" onClick={() => this._onNew()}>
              New GPU workspace
            </button>
          </div>
        )}
        <ul className="wl-WorkspaceList" data-testid="wl-workspace-list">
          {workspaces.map(w => this._renderWorkspace(w))}
        </ul>
        <SnapshotsSection
          snapshots={this._snapshots}
          error={this._snapshotsError}
          busy={this._busySnapshots}
          onLaunch={s => this._onNew({ snapshot: s.image, profile: s.profile })}
          onDelete={s => void this._deleteSnapshot(s)}
        />
      </div>
    );
  }

  private _renderWorkspace(w: IWorkspace): JSX.Element {
    const busy = this._busy.has(w.id);
    const started = w.started ?? w.created;
    const age = since(started);
    return (
      <li key={w.id} className="wl-Workspace" data-testid={`wl-ws-${w.id}`} data-status={w.status}>
        <div className="wl-WorkspaceHeader">
          <span className={`wl-StatusDot wl-mod-${w.status}`} />
          <span className="wl-WorkspaceName" title={w.id}>
            {w.name}
          </span>
          <span className={`wl-Status wl-mod-${w.status}`} data-testid={`wl-ws-status-${w.id}`}>
            {w.status}
          </span>
        </div>
        {IN_FLIGHT.has(w.status) && (
          <div className="wl-InFlight">
            <div className="wl-Progress" data-testid={`wl-ws-progress-${w.id}`}>
              <div className="wl-ProgressBar" style={{ width: `${clampPercent(w.progress)}%` }} />
            </div>
            <div className="wl-Muted">{w.message}</div>
          </div>
        )}
        <div className="wl-Meta">
          <span title="profile">{w.profile}</span>
          <span title={w.gpus.join('\n') || 'no GPU'}>
            {w.gpus.length === 0
              ? 'no GPU'
              : w.gpus.length === 1
                ? `GPU ${shortUuid(w.gpus[0])}`
                : `${w.gpus.length} GPUs`}
          </span>
          {w.datasets.length > 0 && (
            <span title="datasets (read-only)">{w.datasets.join(', ')}</span>
          )}
          {age && (
            <span title={`launched ${new Date(started).toLocaleString()}`}>
              {w.status === 'running' ? `up ${age}` : `${age} old`}
            </span>
          )}
        </div>
        {w.status === 'failed' && w.error && <div className="wl-Error">{w.error}</div>}
        <div className="wl-Actions">
          {ACTIONS.map(spec => (
            <button
              key={spec.action}
              className="jp-Button jp-mod-minimal wl-IconButton"
              title={spec.title}
              aria-label={spec.title}
              data-testid={`wl-ws-${spec.action}-${w.id}`}
              disabled={busy || !spec.enabled(w)}
              onClick={() => void this._run(spec.action, w)}
            >
              <spec.icon.react tag="span" />
            </button>
          ))}
        </div>
      </li>
    );
  }

  private async _run(action: Action, w: IWorkspace): Promise<void> {
    if (action === 'open') {
      openWorkspace(w);
      return;
    }
    if (action === 'logs') {
      await showLogs(this._api, w);
      return;
    }
    this._busy.add(w.id);
    this.update();
    try {
      await this._act(action, w);
    } catch (error) {
      Notification.error(`Could not ${action} ${w.name}: ${errorMessage(error)}`, {
        autoClose: false
      });
    } finally {
      this._busy.delete(w.id);
      this.update();
    }
  }

  private async _act(action: Action, w: IWorkspace): Promise<void> {
    switch (action) {
      case 'stop':
        if (await confirmStop(w)) {
          this._model.upsert(await this._api.stop(w.id));
          Notification.success(`Stopped ${w.name}; its GPUs are free.`, { autoClose: 5000 });
        }
        break;
      case 'start': {
        this._model.upsert({ ...w, status: 'starting', message: 'starting Jupyter' });
        let started: IWorkspace;
        try {
          started = await this._api.start(w.id);
          this._model.upsert(started);
        } finally {
          void this._model.refresh();
        }
        Notification.success(`Started ${w.name}: it is running again.`, {
          autoClose: 8000,
          actions: [{ label: 'Open', callback: () => openWorkspace(started) }]
        });
        break;
      }
      case 'snapshot': {
        const tag = await askSnapshotTag(w);
        if (tag !== null) {
          const image = await this._api.snapshot(w.id, tag || undefined);
          Notification.success(`Snapshot of ${w.name} saved as ${image}`, { autoClose: 8000 });
          void this._loadSnapshots();
        }
        break;
      }
      case 'delete': {
        const answer = await confirmDelete(w);
        if (answer !== null) {
          await this._api.remove(w.id, answer.purge);
          this._model.forget(w.id);
          const said = answer.purge
            ? `Deleted ${w.name} with its work volume (your model volume is kept).`
            : `Deleted ${w.name}; its volumes are kept.`;
          Notification.success(said, { autoClose: 5000 });
        }
        break;
      }
    }
  }

  private _onModelChanged(): void {
    this.update();
  }

  /** List the user's snapshots again (on show, on refresh, after a snapshot or a delete). */
  private async _loadSnapshots(): Promise<void> {
    try {
      this._snapshots = await this._api.listSnapshots();
      this._snapshotsError = null;
    } catch (error) {
      this._snapshotsError = `Could not list your snapshots: ${errorMessage(error)}`;
    }
    this.update();
  }

  private async _deleteSnapshot(snapshot: ISnapshot): Promise<void> {
    if (!(await confirmSnapshotDelete(snapshot))) {
      return;
    }
    this._busySnapshots.add(snapshot.tag);
    this.update();
    try {
      await this._api.removeSnapshot(snapshot.tag);
      Notification.success(`Deleted snapshot ${snapshot.tag}.`, { autoClose: 5000 });
    } catch (error) {
      // e.g. 409: a workspace still runs from it; the message says which.
      Notification.error(`Could not delete snapshot ${snapshot.tag}: ${errorMessage(error)}`, {
        autoClose: false
      });
    } finally {
      this._busySnapshots.delete(snapshot.tag);
      await this._loadSnapshots();
    }
  }

  private _busy = new Set<string>();
  private _snapshots: ISnapshot[] | null = null;
  private _snapshotsError: string | null = null;
  private _busySnapshots = new Set<string>();
  private _watch: IDisposable | null = null;
}
