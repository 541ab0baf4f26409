/**
 * The workspace_launcher REST API as the front end sees it: its roots, and one interface per
 * schema of the OpenAPI document (workspace_launcher/openapi.json, the contract) plus the data
 * of the launch progress events (workspace_launcher/event_schemas/workspace-progress/v1.yaml).
 *
 * tests/unit/test_contract.py reads the interfaces below and checks them against those
 * documents: every property of a schema is declared here (with `?` when the schema does not
 * require it) and nothing else is. Keep each property on one `name: type;` line.
 */

/** The REST API root, relative to the server's base URL. */
export const API_ROOT = 'workspace-launcher/api';

/**
 * Where the host opens a workspace (`HEAD`: does it answer?), relative to the server's base
 * URL. Workspaces are served on origins of their own, never the host's.
 */
export const OPEN_ROOT = 'workspace-launcher/open';

/** The jupyter_events schema of launch progress events. */
export const EVENT_SCHEMA_ID =
  'https://events.jupyter.org/workspace_launcher/workspace-progress/v1';

/** The phases of a workspace; `deleted` only appears in events. */
export type WorkspaceStatus =
  'pending' | 'building' | 'starting' | 'running' | 'paused' | 'stopped' | 'failed';

/** Phases of a launch still in flight. */
export const IN_FLIGHT: ReadonlySet<string> = new Set(['pending', 'building', 'starting']);

/** `Error`: the body of every error answer. */
export interface IErrorBody {
  message: string;
  reason?: string | null;
  /** The request field the message is about (validation errors). */
  field?: string | null;
  log_tail?: string | null;
  /** Every wrong field of a launch request, when more than one is wrong. */
  errors?: IFieldError[];
}

/** `Error.errors` items: one wrong field and what to do about it. */
export interface IFieldError {
  field: string | null;
  message: string;
}

/** `Profile`: `GET profiles` items. */
export interface IProfile {
  name: string;
  display_name: string;
  framework: string;
  cuda_version: string | null;
  gpu_vendor: 'nvidia' | 'amd' | null;
  description: string;
  base_image?: string | null;
  /**
   * The notebook (relative to the work directory) a launch with `open_demo` opens; null: this
   * profile has no demo, and the server refuses `open_demo`.
   */
  demo: string | null;
  /** The image reference a launch uses now (null until the base image exists). */
  image: string | null;
  /** The base image's pinned digest, when pinned. */
  pinned_digest: string | null;
  /** Whether that image exists, so a launch starts without building. */
  built: boolean;
  /** Roughly what a launch builds first; null when built, or when nothing is known. */
  build_estimate: IBuildEstimate | null;
}

/** `Profile.build_estimate`: how long a launch's build takes and how large its image is. */
export interface IBuildEstimate {
  seconds: number;
  size_bytes: number;
  /** 'last build': measured on this host; 'profile': the profile's stated estimate. */
  source: 'last build' | 'profile';
}

/** `Gpu.held_by` items: a workspace holding a GPU; `name` is only given for the user's own. */
export interface IGpuHolder {
  id: string;
  name?: string | null;
  mine: boolean;
}

/**
 * The keys of the server's per-vendor GPU choices: a launching profile's `gpu_vendor`, or
 * `any` for a profile without one (which may use every GPU).
 */
export type GpuChoiceKey = 'any' | 'nvidia' | 'amd';

/** `Gpu`: one GPU of the host. */
export interface IGpu {
  index: number;
  uuid: string;
  name: string;
  memory_mib: number;
  vendor: 'nvidia' | 'amd';
  device_paths?: string[];
  held_by: IGpuHolder[];
  /** Who holds it, in words ('free', 'held by your workspace exp-1, ...'). */
  status: string;
  /** Why it cannot be picked now (none picked yet), by choice key; '' when it can. */
  pick_reasons: Record<GpuChoiceKey, string>;
}

/** `GpuInventory.policy`: the admin's GPU policy; limits of 0 mean no limit. */
export interface IGpuPolicy {
  allow_sharing: boolean;
  max_gpus_per_workspace: number;
  max_gpus_per_owner: number;
}

/**
 * `GpuInventory`: `GET gpus`. The choices under the policy are the server's: the front end
 * renders them and computes no policy of its own.
 */
export interface IGpuInventory {
  gpus: IGpu[];
  policy: IGpuPolicy;
  /** declared, nvml, nvidia-smi, rocm or none. */
  source: string;
  /** How many GPUs the user's workspaces hold (one per GPU and workspace). */
  owner_holds: number;
  /** The most GPUs one launch may ask for now, by choice key. */
  max_gpus: Record<GpuChoiceKey, number>;
  /** Why no more than `max_gpus` ('' when that is just how many GPUs the host has for it). */
  max_gpus_reason: Record<GpuChoiceKey, string>;
  /** Item n: '' when asking for n GPUs is allowed now, else why not (n up to the GPUs for it). */
  count_reasons: Record<GpuChoiceKey, string[]>;
  /** The most GPUs one launch may pick by uuid now, under the policy. */
  max_picked: number;
  /** Why no GPU may be picked beyond `max_picked` ('' when no limit applies). */
  max_picked_reason: string;
}

/** `Dataset`: `GET datasets` items. */
export interface IDataset {
  name: string;
  description: string;
  mount_path: string;
}

/** `Workspace`: a workspace, as `GET workspaces` shows it. */
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
  /** When the container last started (ISO 8601), while it runs. */
  started?: string | null;
}

/** `LaunchRequest`: the `POST workspaces` body. */
export interface ILaunchRequest {
  profile: string;
  /** A number of GPUs (0: none; may be a string of digits), 'all', 'none', or GPU uuids. */
  gpus?: number | string | string[];
  datasets?: string[] | null;
  name?: string | null;
  cpus?: number | string | null;
  memory?: string | number | null;
  shm_size?: string | number | null;
  open_demo?: boolean;
  /** Launch one of the user's snapshots (the `image` a snapshot answer gave). */
  snapshot?: string | null;
  /** Set the frameworks' deterministic switches. */
  deterministic?: boolean;
  /** Exported as SEED and PYTHONHASHSEED when deterministic. */
  seed?: number;
  /** Extra environment variables, limited to the admin's allowed list. */
  env?: Record<string, string> | null;
}

/** `SnapshotCreated`: the answer of `POST workspaces/{id}/snapshot`. */
export interface ISnapshotCreated {
  image: string;
}

/** `Snapshot`: one of the caller's snapshots, as `GET snapshots` lists it. */
export interface ISnapshot {
  /** Names it among the owner's: the path segment of `DELETE snapshots/{tag}`. */
  tag: string;
  /** The image reference; what a launch's `snapshot` field takes. */
  image: string;
  /** The workspace it was taken of (it may have been deleted since). */
  workspace_id: string;
  workspace_name: string;
  /** The profile of that workspace; a launch from the snapshot uses it. */
  profile: string;
  /** When it was taken (ISO 8601). */
  created: string;
  size_bytes: number;
}

/** The body of `POST workspaces/{id}/snapshot`. */
export interface ISnapshotRequest {
  /** Empty or null: the workspace's name and the time (UTC). */
  tag?: string | null;
}

/** The answer of `GET workspaces/{id}/logs`. */
export interface ILogs {
  logs: string;
}

/** The data of a workspace-progress event (plus the `schema_id` of its emission). */
export interface IProgressEvent {
  schema_id: string;
  workspace_id: string;
  name: string;
  owner?: string;
  status: WorkspaceStatus | 'deleted';
  progress: number;
  message: string;
}
