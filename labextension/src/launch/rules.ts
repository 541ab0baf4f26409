/**
 * The launch form's values and its pure rules: the server's GPU choices for the chosen profile
 * (the server computes them under its policy; nothing here does), the defaults the form fills
 * in, the field an error is shown next to, and the request the form sends. No DOM and no
 * requests here (unit-tested in test/rules.spec.ts).
 */
import {
  GpuChoiceKey,
  IGpu,
  IGpuInventory,
  ILaunchRequest,
  IProfile,
  ISnapshot
} from '../contract';

/** The form fields a 400 answer's `field` may name (each is shown next to its input). */
export type FormField =
  | 'snapshot'
  | 'profile'
  | 'gpus'
  | 'datasets'
  | 'name'
  | 'cpus'
  | 'memory'
  | 'shm_size'
  | 'open_demo';

/** The fields of `FormField`, for checking a server's answer. */
export const FORM_FIELDS: ReadonlySet<string> = new Set<FormField & keyof ILaunchRequest>([
  'snapshot',
  'profile',
  'gpus',
  'datasets',
  'name',
  'cpus',
  'memory',
  'shm_size',
  'open_demo'
]);

/**
 * The form's errors for an API error: each wrong field's message next to it (several when the
 * server named several), anything else at the top.
 */
export function formErrors(
  field: string | null,
  message: string,
  errors: readonly { field: string | null; message: string }[] = []
): Partial<Record<FormField | 'general', string>> {
  const shown: Partial<Record<FormField | 'general', string>> = {};
  for (const each of errors.length ? errors : [{ field, message }]) {
    const place = errorPlace(each.field);
    shown[place] = shown[place] ? `${shown[place]}; ${each.message}` : each.message;
  }
  return shown;
}

/** Where the form shows an error whose answer names `field`: next to it, or at the top. */
export function errorPlace(field: string | null): FormField | 'general' {
  return field && FORM_FIELDS.has(field) ? (field as FormField) : 'general';
}

/** What the user filled in. */
export interface IFormValues {
  /** The image of one of the user's snapshots to start from; '' for the profile's image. */
  snapshot: string;
  profile: string;
  /** 'count': `gpuCount` GPUs, whichever are free; 'pick': the GPUs in `gpuIds`. */
  gpuMode: 'count' | 'pick';
  gpuCount: number;
  gpuIds: string[];
  datasets: string[];
  name: string;
  openDemo: boolean;
  cpus: string;
  memory: string;
  shmSize: string;
}

export function emptyValues(): IFormValues {
  return {
    snapshot: '',
    profile: '',
    gpuMode: 'count',
    gpuCount: 0,
    gpuIds: [],
    datasets: [],
    name: '',
    openDemo: false,
    cpus: '',
    memory: '',
    shmSize: ''
  };
}

/** A choice the user may or may not make, and why not. */
export interface IChoice {
  enabled: boolean;
  reason: string;
}

const OK: IChoice = { enabled: true, reason: '' };

/*
 * The GPU choices below only read the server's answer (`GET gpus`): which GPUs may be picked,
 * how many may be asked for and why not are the server's policy (gpus/choices.py), never
 * computed here.
 */

/** The key of the server's per-vendor choices for a profile: its GPU vendor, or 'any'. */
export function choiceKey(profile: IProfile | undefined): GpuChoiceKey {
  return profile?.gpu_vendor ?? 'any';
}

/**
 * The largest number of GPUs this user may ask for now, and the reason for the bound
 * (empty when the bound is just the number of GPUs the host has for the profile, or before the
 * inventory is loaded).
 */
export function gpuLimit(
  inventory: IGpuInventory | null,
  profile: IProfile | undefined
): { max: number; reason: string } {
  if (!inventory) {
    return { max: 0, reason: '' };
  }
  const key = choiceKey(profile);
  return { max: inventory.max_gpus[key], reason: inventory.max_gpus_reason[key] };
}

/** The numbers of GPUs the form offers (item n: n GPUs), each allowed or not, and why not. */
export function countChoices(
  inventory: IGpuInventory | null,
  profile: IProfile | undefined
): IChoice[] {
  const reasons = inventory?.count_reasons[choiceKey(profile)] ?? [''];
  return reasons.map(reason => (reason ? { enabled: false, reason } : OK));
}

/** Whether a GPU may be ticked (given those already ticked), and why not. */
export function gpuChoice(
  gpu: IGpu,
  picked: readonly string[],
  inventory: IGpuInventory | null,
  profile: IProfile | undefined
): IChoice {
  if (picked.includes(gpu.uuid)) {
    return OK; // a ticked GPU can always be unticked
  }
  const reason = gpu.pick_reasons[choiceKey(profile)];
  if (reason) {
    return { enabled: false, reason };
  }
  if (inventory && picked.length >= inventory.max_picked) {
    return { enabled: false, reason: inventory.max_picked_reason };
  }
  return OK;
}

/** The `POST workspaces` body for the form's values. */
export function buildRequest(values: IFormValues): ILaunchRequest {
  const request: ILaunchRequest = {
    profile: values.profile,
    gpus: values.gpuMode === 'pick' ? [...values.gpuIds] : values.gpuCount,
    datasets: [...values.datasets]
  };
  if (values.snapshot) {
    request.snapshot = values.snapshot;
  }
  if (values.openDemo) {
    request.open_demo = true;
  }
  const name = values.name.trim();
  if (name) {
    request.name = name;
  }
  const cpus = values.cpus.trim();
  if (cpus) {
    // A number when it is one; anything else goes as typed, for the server to explain.
    request.cpus = /^\d+(\.\d+)?$/.test(cpus) ? Number(cpus) : cpus;
  }
  if (values.memory.trim()) {
    request.memory = values.memory.trim();
  }
  if (values.shmSize.trim()) {
    request.shm_size = values.shmSize.trim();
  }
  return request;
}

/**
 * The profile the form shows: the chosen one while the server still offers it, else the
 * first built profile, else the first one ('' when there are none).
 */
export function chooseProfile(current: string, profiles: readonly IProfile[]): string {
  if (profiles.some(p => p.name === current) || !profiles.length) {
    return current;
  }
  return (profiles.find(p => p.built) ?? profiles[0]).name;
}

/**
 * The GPUs asked for before the user chooses: one for a GPU profile when one may be had,
 * none for a profile without a GPU vendor (a CPU profile).
 */
export function defaultGpus(
  values: IFormValues,
  profiles: readonly IProfile[] | null,
  inventory: IGpuInventory | null
): IFormValues {
  const profile = profiles?.find(p => p.name === values.profile);
  const wanted = profile?.gpu_vendor ? 1 : 0;
  return {
    ...values,
    gpuMode: 'count',
    gpuCount: Math.min(wanted, gpuLimit(inventory, profile).max)
  };
}

/** Drop ticked GPUs the chosen profile cannot use. */
export function fitGpusToProfile(
  values: IFormValues,
  profiles: readonly IProfile[] | null,
  inventory: IGpuInventory | null
): IFormValues {
  const vendor = profiles?.find(p => p.name === values.profile)?.gpu_vendor ?? null;
  const usable = new Set(
    (inventory?.gpus ?? []).filter(g => vendor === null || g.vendor === vendor).map(g => g.uuid)
  );
  return { ...values, gpuIds: values.gpuIds.filter(u => usable.has(u)) };
}

/**
 * Start from a snapshot (or, with '', from the profile's image): a snapshot launches with the
 * profile it was taken from. A snapshot no longer listed falls back to the profile's image.
 */
export function applySnapshot(values: IFormValues, snapshots: readonly ISnapshot[]): IFormValues {
  const snapshot = snapshots.find(s => s.image === values.snapshot);
  if (!snapshot) {
    return values.snapshot ? { ...values, snapshot: '' } : values;
  }
  return { ...values, profile: snapshot.profile };
}

/** The chosen profile's demo notebook, or null when it has none (the demo is not offered). */
export function demoOf(values: IFormValues, profiles: readonly IProfile[] | null): string | null {
  return profiles?.find(p => p.name === values.profile)?.demo ?? null;
}

/** Untick "open the demo" for a profile without one (the server would refuse it). */
export function fitDemoToProfile(
  values: IFormValues,
  profiles: readonly IProfile[] | null
): IFormValues {
  return values.openDemo && !demoOf(values, profiles) ? { ...values, openDemo: false } : values;
}
