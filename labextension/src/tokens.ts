/**
 * Ids, constants and the shapes of the workspace_launcher REST API
 * (see workspace_launcher/openapi.json, the contract).
 */

/** The npm package name, used as the plugin id prefix. */
export const PLUGIN_ID = 'workspace-launcher-labextension:plugin';

/** The REST API root, relative to the server's base URL. */
export const API_ROOT = 'workspace-launcher/api';

/** The jupyter_events schema of launch progress events. */
export const EVENT_SCHEMA_ID =
  'https://events.jupyter.org/workspace_launcher/workspace-progress/v1';

/**
 * Where the host opens a workspace (`HEAD`: does it answer?), relative to the server's base
 * URL. Workspaces are served on origins of their own, never the host's.
 */
export const OPEN_ROOT = 'workspace-launcher/open';

/** The launcher category of the "New GPU workspace" card. */
export const LAUNCHER_CATEGORY = 'GPU Workspaces';

/** The id of the sidebar panel (also its DOM id). */
export const PANEL_ID = 'wl-workspaces-panel';

/** Command ids. */
export namespace CommandIDs {
  export const create = 'workspace-launcher:new';
  export const showPanel = 'workspace-launcher:show-panel';
}

/** The phases of a workspace; `deleted` only appears in events. */
export type WorkspaceStatus =
  'pending' | 'building' | 'starting' | 'running' | 'paused' | 'stopped' | 'failed';

/** Phases of a launch still in flight. */
export const IN_FLIGHT: ReadonlySet<string> = new Set(['pending', 'building', 'starting']);

/** `GET profiles` items. */
export interface IProfile {
  name: string;
  display_name: string;
  framework: string;
  cuda_version: string | null;
  gpu_vendor: 'nvidia' | 'amd' | null;
  description: string;
  base_image?: string | null;
  image: string | null;
  pinned_digest: string | null;
  built: boolean;
}

/** A workspace holding a GPU; `name` is only given for the user's own. */
export interface IGpuHolder {
  id: string;
  name: string | null;
  mine: boolean;
}

/** One GPU of the host. */
export interface IGpu {
  index: number;
  uuid: string;
  name: string;
  memory_mib: number;
  vendor: 'nvidia' | 'amd';
  device_paths?: string[];
  held_by: IGpuHolder[];
}

/** The admin's GPU policy; limits of 0 mean no limit. */
export interface IGpuPolicy {
  allow_sharing: boolean;
  max_gpus_per_workspace: number;
  max_gpus_per_owner: number;
}

/** `GET gpus`. */
export interface IGpuInventory {
  gpus: IGpu[];
  policy: IGpuPolicy;
  source: string;
}

/** `GET datasets` items. */
export interface IDataset {
  name: string;
  description: string;
  mount_path: string;
}

/** A workspace, as `GET workspaces` shows it. */
export interface IWorkspace {
  id: string;
  name: string;
  owner?: string;
  profile: string;
  image?: string;
  status: WorkspaceStatus;
  progress: number;
  message: string;
  gpus: string[];
  datasets: string[];
  created: string;
  /** Opens the workspace in a browser, through the host's handshake (a path on the host). */
  url: string;
  error: string | null;
  log_tail: string | null;
}

/** `POST workspaces` body. */
export interface ILaunchRequest {
  profile: string;
  gpus: number | 'all' | string[];
  datasets: string[];
  name?: string;
  cpus?: number | string;
  memory?: string;
  shm_size?: string;
  open_demo?: boolean;
}

/** The form fields a 400 answer's `field` may name. */
export type FormField =
  'profile' | 'gpus' | 'datasets' | 'name' | 'cpus' | 'memory' | 'shm_size' | 'open_demo';

/** The data of a workspace-progress event (plus its schema id). */
export interface IProgressEvent {
  schema_id: string;
  workspace_id: string;
  name: string;
  owner?: string;
  status: WorkspaceStatus | 'deleted';
  progress: number;
  message: string;
}
