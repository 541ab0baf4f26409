/**
 * The one typed helper for the workspace_launcher REST API.
 *
 * Every request goes through `ServerConnection.makeRequest`, so the server's token, cookies
 * and XSRF header are handled as for JupyterLab's own requests.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  API_ROOT,
  OPEN_ROOT,
  IDataset,
  IFieldError,
  IGpuInventory,
  ILaunchRequest,
  ILogs,
  IProfile,
  ISnapshot,
  ISnapshotCreated,
  ISnapshotRequest,
  IWorkspace
} from './contract';

/**
 * An error answer of the API: its status, message and the field it is about; `errors` has
 * each wrong field when the server named several.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field: string | null = null,
    readonly logTail: string | null = null,
    readonly errors: readonly IFieldError[] = []
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * Send a request to `{baseUrl}workspace-launcher/api/{path}` and parse its JSON answer.
 *
 * Throws `ApiError` for an error answer and `ServerConnection.NetworkError` when the
 * server cannot be reached. A 204 answer resolves to `undefined`.
 */
export async function requestAPI<T>(
  path: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_ROOT, path);
  const headers = new Headers(init.headers);
  if (init.body !== undefined && !headers.has('Content-Type')) {
    headers.set('Content-Type', 'application/json');
  }
  const response = await ServerConnection.makeRequest(url, { ...init, headers }, settings);
  const text = await response.text();
  let data: any = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!response.ok) {
    const message =
      (data && typeof data.message === 'string' && data.message) ||
      `${response.status} ${response.statusText}`;
    const errors = Array.isArray(data?.errors) ? (data.errors as IFieldError[]) : [];
    throw new ApiError(
      response.status,
      message,
      data?.field ?? null,
      data?.log_tail ?? null,
      errors
    );
  }
  return data as T;
}

/** A short readable message for any error a request may throw. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    return error.message;
  }
  if (error instanceof ServerConnection.NetworkError) {
    return `cannot reach the server: ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

function workspacePath(id: string, action = ''): string {
  const base = `workspaces/${encodeURIComponent(id)}`;
  return action ? `${base}/${action}` : base;
}

/** Typed calls, one per operation of the OpenAPI document. */
export class LauncherAPI {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  listProfiles(): Promise<IProfile[]> {
    return this._get('profiles');
  }

  listGpus(): Promise<IGpuInventory> {
    return this._get('gpus');
  }

  listDatasets(): Promise<IDataset[]> {
    return this._get('datasets');
  }

  listWorkspaces(): Promise<IWorkspace[]> {
    return this._get('workspaces');
  }

  getWorkspace(id: string): Promise<IWorkspace> {
    return this._get(workspacePath(id));
  }

  /** Start a launch; resolves to the pending workspace (202). */
  launch(request: ILaunchRequest): Promise<IWorkspace> {
    return this._post('workspaces', request);
  }

  stop(id: string): Promise<IWorkspace> {
    return this._post(workspacePath(id, 'stop'));
  }

  start(id: string): Promise<IWorkspace> {
    return this._post(workspacePath(id, 'start'));
  }

  /** Commit the workspace's environment as an image; resolves to its reference. */
  async snapshot(id: string, tag?: string): Promise<string> {
    const body: ISnapshotRequest = tag ? { tag } : {};
    const answer = await this._post<ISnapshotCreated>(workspacePath(id, 'snapshot'), body);
    return answer.image;
  }

  /** The caller's snapshots, newest first. */
  listSnapshots(): Promise<ISnapshot[]> {
    return this._get('snapshots');
  }

  /** Delete one of the caller's snapshots (the image only). */
  async removeSnapshot(tag: string): Promise<void> {
    await requestAPI<void>(
      `snapshots/${encodeURIComponent(tag)}`,
      { method: 'DELETE' },
      this.settings
    );
  }

  async logs(id: string, tail = 200): Promise<string> {
    const answer = await this._get<ILogs>(`${workspacePath(id, 'logs')}?tail=${tail}`);
    return answer.logs;
  }

  /** Delete a workspace; its volumes go too only when `purge` is true. */
  async remove(id: string, purge: boolean): Promise<void> {
    await requestAPI<void>(
      `${workspacePath(id)}?purge=${purge ? 'true' : 'false'}`,
      { method: 'DELETE' },
      this.settings
    );
  }

  /**
   * Whether a workspace's Jupyter answers now, as the host sees it (`HEAD` on its open URL,
   * which mints nothing). Rejects when the server cannot be reached.
   */
  async isAnswering(id: string): Promise<boolean> {
    const url = URLExt.join(this.settings.baseUrl, OPEN_ROOT, encodeURIComponent(id));
    const response = await ServerConnection.makeRequest(
      url,
      { method: 'HEAD', cache: 'no-store' },
      this.settings
    );
    return response.status === 204;
  }

  private _get<T>(path: string): Promise<T> {
    return requestAPI<T>(path, { method: 'GET' }, this.settings);
  }

  private _post<T>(path: string, body?: object): Promise<T> {
    return requestAPI<T>(
      path,
      {
        method: 'POST',
        body: body === undefined ? undefined : JSON.stringify(body)
      },
      this.settings
    );
  }
}
