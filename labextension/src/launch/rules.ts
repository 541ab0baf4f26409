/**
 * The launch form's values and its pure rules: which GPU choices the policy allows (and why
 * not), the defaults the form fills in, the field an error is shown next to, and the request
 * the form sends. No DOM and no requests here (unit-tested in test/rules.spec.ts).
 */
import { IGpu, IGpuInventory, ILaunchRequest, IProfile } from '../contract';

/** The form fields a 400 answer's `field` may name (each is shown next to its input). */
export type FormField =
  'profile' | 'gpus' | 'datasets' | 'name' | 'cpus' | 'memory' | 'shm_size' | 'open_demo';

/** The fields of `FormField`, for checking a server's answer. */
export const FORM_FIELDS: ReadonlySet<string> = new Set<FormField & keyof ILaunchRequest>([
  'profile',
  'gpus',
  'datasets',
  'name',
  'cpus',
  'memory',
  'shm_size',
  'open_demo'
]);

/** Where the form shows an error whose answer names `field`: next to it, or at the top. */
export function errorPlace(field: string | null): FormField | 'general' {
  return field && FORM_FIELDS.has(field) ? (field as FormField) : 'general';
}

/** What the user filled in. */
export interface IFormValues {
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

function gpusWord(n: number): string {
  return n === 1 ? '1 GPU' : `${n} GPUs`;
}

/** The GPUs a profile can use (a CUDA profile cannot use AMD GPUs, and back). */
export function eligibleGpus(
  inventory: IGpuInventory | null,
  profile: IProfile | undefined
): IGpu[] {
  const vendor = profile?.gpu_vendor ?? null;
  return (inventory?.gpus ?? []).filter(g => vendor === null || g.vendor === vendor);
}

/** How many distinct GPUs the user's own workspaces hold now. */
export function gpusHeldByMe(inventory: IGpuInventory | null): number {
  return (inventory?.gpus ?? []).filter(g => g.held_by.some(h => h.mine)).length;
}

/** Who holds a GPU, in words. */
export function holderText(gpu: IGpu): string {
  if (gpu.held_by.length === 0) {
    return 'free';
  }
  const names = gpu.held_by.map(h =>
    h.mine ? `your workspace ${h.name ?? h.id}` : `workspace ${h.id} of another user`
  );
  return `held by ${names.join(', ')}`;
}

/**
 * The largest number of GPUs this user may ask for now, and the reason for the bound
 * (empty when the bound is just the number of eligible GPUs).
 */
export function gpuLimit(
  inventory: IGpuInventory | null,
  profile: IProfile | undefined
): { max: number; reason: string } {
  const eligible = eligibleGpus(inventory, profile);
  let max = eligible.length;
  let reason = '';
  if (eligible.length === 0) {
    const what = profile?.gpu_vendor ? `${profile.gpu_vendor.toUpperCase()} GPUs` : 'GPUs';
    return { max: 0, reason: `this host has no ${what}` };
  }
  const policy = inventory!.policy;
  if (!policy.allow_sharing) {
    const free = eligible.filter(g => g.held_by.length === 0).length;
    if (free < max) {
      max = free;
      reason = `only ${free} of ${gpusWord(eligible.length)} are free; the others are held by other workspaces`;
    }
  }
  const perWorkspace = policy.max_gpus_per_workspace;
  if (perWorkspace > 0 && perWorkspace < max) {
    max = perWorkspace;
    reason = `the policy allows at most ${gpusWord(perWorkspace)} per workspace`;
  }
  const perOwner = policy.max_gpus_per_owner;
  if (perOwner > 0) {
    const left = Math.max(perOwner - gpusHeldByMe(inventory), 0);
    if (left < max) {
      max = left;
      reason = `the policy allows at most ${gpusWord(perOwner)} per user and your workspaces hold ${gpusHeldByMe(inventory)}`;
    }
  }
  return { max, reason };
}

/** Whether asking for `count` GPUs is allowed, and why not. */
export function countChoice(
  count: number,
  inventory: IGpuInventory | null,
  profile: IProfile | undefined
): IChoice {
  if (count === 0) {
    return OK;
  }
  const eligible = eligibleGpus(inventory, profile);
  if (count > eligible.length) {
    return {
      enabled: false,
      reason: `this host has ${gpusWord(eligible.length)} for this profile`
    };
  }
  const { max, reason } = gpuLimit(inventory, profile);
  return count <= max ? OK : { enabled: false, reason };
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
  const vendor = profile?.gpu_vendor;
  if (vendor && gpu.vendor !== vendor) {
    return { enabled: false, reason: `this profile needs ${vendor.toUpperCase()} GPUs` };
  }
  if (!inventory?.policy.allow_sharing && gpu.held_by.length > 0) {
    return { enabled: false, reason: `${holderText(gpu)}; GPU sharing is off` };
  }
  const next = picked.length + 1;
  const policy = inventory?.policy;
  if (policy && policy.max_gpus_per_workspace > 0 && next > policy.max_gpus_per_workspace) {
    return {
      enabled: false,
      reason: `the policy allows at most ${gpusWord(policy.max_gpus_per_workspace)} per workspace`
    };
  }
  if (policy && policy.max_gpus_per_owner > 0) {
    const held = gpusHeldByMe(inventory);
    if (held + next > policy.max_gpus_per_owner) {
      return {
        enabled: false,
        reason: `the policy allows at most ${gpusWord(policy.max_gpus_per_owner)} per user and your workspaces hold ${held}`
      };
    }
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
  const profile = profiles?.find(p => p.name === values.profile);
  const usable = new Set(eligibleGpus(inventory, profile).map(g => g.uuid));
  return { ...values, gpuIds: values.gpuIds.filter(u => usable.has(u)) };
}
