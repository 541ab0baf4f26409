/**
 * The status-bar progress of launches in flight: a progress bar through the phases
 * (pending, building, starting) of the user's newest launch, and how many others run.
 * Clicking it shows the GPU Workspaces panel.
 */
import { ReactWidget } from '@jupyterlab/apputils';
import { ProgressBar } from '@jupyterlab/statusbar';
import { ISignal } from '@lumino/signaling';
import * as React from 'react';

import { IN_FLIGHT, IWorkspace } from '../contract';
import { clampPercent } from '../format';
import { IWorkspacesModel } from '../tokens';

export class LaunchStatus extends ReactWidget {
  constructor(
    private readonly _model: IWorkspacesModel,
    private readonly _onClick: () => void
  ) {
    super();
    this.addClass('wl-LaunchStatus');
    this.node.title = 'GPU workspace launches; click to show the GPU Workspaces panel';
    this.node.setAttribute('data-testid', 'wl-launch-status');
    _model.changed.connect(this._onModelChanged, this);
  }

  /** The user's launches in flight, newest first. */
  get launches(): IWorkspace[] {
    return this._model.workspaces.filter(w => IN_FLIGHT.has(w.status));
  }

  /** Whether the status bar should show this item. */
  isActive = (): boolean => this.launches.length > 0;

  /** Emitted when `isActive` may have changed. */
  get activeStateChanged(): ISignal<IWorkspacesModel, void> {
    return this._model.changed;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.changed.disconnect(this._onModelChanged, this);
    super.dispose();
  }

  protected render(): JSX.Element | null {
    const [newest, ...others] = this.launches;
    if (!newest) {
      return null;
    }
    const percent = clampPercent(newest.progress);
    return (
      <div className="wl-LaunchStatus-body" onClick={this._onClick}>
        <span className="wl-LaunchStatus-text">
          {newest.name}: {newest.status}
        </span>
        <span data-testid={`wl-launch-progress-${newest.id}`} data-progress={percent}>
          <ProgressBar percentage={percent} />
        </span>
        <span>{percent}%</span>
        {others.length > 0 && <span>+{others.length}</span>}
      </div>
    );
  }

  private _onModelChanged(): void {
    this.update();
  }
}
