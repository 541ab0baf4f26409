/**
 * The ids other code relies on (plugin, commands, DOM ids: browser tests select by them) and
 * the token of the workspaces model, which the plugin provides to other extensions.
 */
import { Token } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal } from '@lumino/signaling';

import { LauncherAPI } from './api';
import { IWorkspace } from './contract';

/** The npm package name, used as the plugin id prefix. */
export const PLUGIN_ID = 'workspace-launcher-labextension:plugin';

/** The id of the status-bar item of launches in flight. */
export const STATUS_ITEM_ID = `${PLUGIN_ID}-status`;

/** The launcher category of the "New GPU workspace" card. */
export const LAUNCHER_CATEGORY = 'GPU Workspaces';

/** The id of the sidebar panel (also its DOM id). */
export const PANEL_ID = 'wl-workspaces-panel';

/** Command ids. */
export namespace CommandIDs {
  export const create = 'workspace-launcher:new';
  export const showPanel = 'workspace-launcher:show-panel';
}

/**
 * The live list of the user's workspaces, shared by the sidebar panel and launch progress.
 */
export interface IWorkspacesModel extends IDisposable {
  /** The typed REST API helper the model fetches with. */
  readonly api: LauncherAPI;

  /** Emitted whenever the list (or a workspace in it) changes, and after each refresh. */
  readonly changed: ISignal<IWorkspacesModel, void>;

  /** Emitted for each workspace the server reported deleted. */
  readonly deleted: ISignal<IWorkspacesModel, string>;

  /** The user's workspaces, newest first. */
  readonly workspaces: readonly IWorkspace[];

  /** Whether the list was fetched at least once. */
  readonly loaded: boolean;

  /** The last refresh error, or null when the last refresh worked. */
  readonly error: string | null;

  find(id: string): IWorkspace | undefined;

  /**
   * Keep the list fresh until the returned disposable is disposed (the poll idles in
   * standby while nobody watches).
   */
  watch(): IDisposable;

  /** Fetch now. */
  refresh(): Promise<void>;

  /** Put (or replace) a workspace that an API answer returned, and refresh soon. */
  upsert(workspace: IWorkspace): void;

  /** Drop a workspace known to be deleted. */
  forget(id: string): void;
}

/** The token of the workspaces model. */
export const IWorkspacesModel = new Token<IWorkspacesModel>(
  'workspace-launcher-labextension:IWorkspacesModel',
  "The live list of the user's GPU workspaces, kept fresh by polling and the event stream."
);
