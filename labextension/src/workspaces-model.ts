/**
 * The live list of the user's workspaces, shared by the sidebar panel and launch progress.
 *
 * Kept fresh by a `Poll` (fast while a launch is in flight, backing off on errors, in standby
 * while nobody watches or the page is hidden) and by the server's event stream when there is
 * one: a progress event updates its workspace at once and triggers a refresh for the details.
 */
import { Event } from '@jupyterlab/services';
import { IDisposable, DisposableDelegate } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { LauncherAPI, errorMessage } from './api';
import { EVENT_SCHEMA_ID, IN_FLIGHT, IProgressEvent, IWorkspace } from './contract';
import { IWorkspacesModel } from './tokens';

/** Poll intervals, in milliseconds. */
const IDLE_INTERVAL = 10_000;
const BUSY_INTERVAL = 1_000;
const MAX_INTERVAL = 60_000;

export class WorkspacesModel implements IWorkspacesModel {
  constructor(
    readonly api: LauncherAPI,
    private readonly _events: Event.IManager | null
  ) {
    this._poll = new Poll({
      auto: false,
      factory: () => this._fetch(),
      frequency: { interval: IDLE_INTERVAL, backoff: true, max: MAX_INTERVAL },
      name: 'workspace-launcher:workspaces',
      standby: () => this._watchers === 0 || 'when-hidden'
    });
    this._events?.stream.connect(this._onEvent, this);
    void this._poll.start();
  }

  /** Emitted whenever the list (or a workspace in it) changes, and after each refresh. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted for each workspace the server reported deleted. */
  get deleted(): ISignal<this, string> {
    return this._deleted;
  }

  /** The user's workspaces, newest first. */
  get workspaces(): readonly IWorkspace[] {
    return this._workspaces;
  }

  /** Whether the list was fetched at least once. */
  get loaded(): boolean {
    return this._loaded;
  }

  /** The last refresh error, or null when the last refresh worked. */
  get error(): string | null {
    return this._error;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  find(id: string): IWorkspace | undefined {
    return this._workspaces.find(w => w.id === id);
  }

  /**
   * Keep the list fresh until the returned disposable is disposed (the poll idles in
   * standby while nobody watches).
   */
  watch(): IDisposable {
    this._watchers += 1;
    void this._poll.refresh();
    return new DisposableDelegate(() => {
      this._watchers -= 1;
    });
  }

  /** Fetch now. */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  /** Put (or replace) a workspace that an API answer returned, and refresh soon. */
  upsert(workspace: IWorkspace): void {
    const index = this._workspaces.findIndex(w => w.id === workspace.id);
    this._workspaces =
      index < 0
        ? [workspace, ...this._workspaces]
        : this._workspaces.map(w => (w.id === workspace.id ? workspace : w));
    this._adjustFrequency();
    this._changed.emit();
  }

  /** Drop a workspace known to be deleted. */
  forget(id: string): void {
    if (this.find(id)) {
      this._workspaces = this._workspaces.filter(w => w.id !== id);
      this._changed.emit();
    }
    this._deleted.emit(id);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._events?.stream.disconnect(this._onEvent, this);
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _fetch(): Promise<void> {
    try {
      this._workspaces = await this.api.listWorkspaces();
      this._error = null;
    } catch (error) {
      this._error = errorMessage(error);
      this._changed.emit();
      throw error; // the poll backs off
    }
    this._loaded = true;
    this._adjustFrequency();
    this._changed.emit();
  }

  private _adjustFrequency(): void {
    const busy = this._workspaces.some(w => IN_FLIGHT.has(w.status));
    const interval = busy ? BUSY_INTERVAL : IDLE_INTERVAL;
    if (this._poll.frequency.interval !== interval) {
      this._poll.frequency = { ...this._poll.frequency, interval };
    }
  }

  private _onEvent(_: Event.IManager, emission: Event.Emission): void {
    if (emission.schema_id !== EVENT_SCHEMA_ID) {
      return;
    }
    const event = emission as unknown as IProgressEvent;
    if (event.status === 'deleted') {
      this.forget(event.workspace_id);
      return;
    }
    const known = this.find(event.workspace_id);
    if (known) {
      this.upsert({
        ...known,
        status: event.status,
        progress: event.progress,
        message: event.message
      });
    }
    // The event carries the phase only: fetch the url, GPUs, error and log tail.
    void this._poll.refresh();
  }

  private _poll: Poll;
  private _workspaces: IWorkspace[] = [];
  private _loaded = false;
  private _error: string | null = null;
  private _watchers = 0;
  private _isDisposed = false;
  private _changed = new Signal<this, void>(this);
  private _deleted = new Signal<this, string>(this);
}
