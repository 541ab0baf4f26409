/** Small builders of API objects for the unit tests. */
import {
  GpuChoiceKey,
  IGpu,
  IGpuHolder,
  IGpuInventory,
  IGpuPolicy,
  IProfile,
  ISnapshot
} from '../src/contract';

/** A value for each choice key: `any` and the given ones, the rest `other`. */
export function byKey<T>(
  any: T,
  other: T,
  given: Partial<Record<GpuChoiceKey, T>> = {}
): Record<GpuChoiceKey, T> {
  return { any, nvidia: other, amd: other, ...given };
}

/** A free GPU (NVIDIA unless `options` say otherwise) that profiles of its vendor may pick. */
export function gpu(index: number, options: Partial<IGpu> = {}): IGpu {
  const vendor = options.vendor ?? 'nvidia';
  const needs = (key: 'nvidia' | 'amd') =>
    key === vendor ? '' : `this profile needs ${key.toUpperCase()} GPUs`;
  return {
    index,
    uuid: `GPU-${index}`,
    name: 'NVIDIA A100',
    memory_mib: 81920,
    vendor,
    held_by: [],
    status: 'free',
    pick_reasons: { any: '', nvidia: needs('nvidia'), amd: needs('amd') },
    ...options
  };
}

export function heldBy(id: string, mine: boolean, name: string | null = null): IGpuHolder {
  return { id, name, mine };
}

/**
 * The server's answer for `gpus`. Its choices (`options`) default to what the server answers
 * when nothing bounds them (no GPU held, no limit); the unit tests set them as the server would.
 */
export function inventory(
  gpus: IGpu[],
  options: Partial<Omit<IGpuInventory, 'gpus' | 'policy'>> = {},
  policy: Partial<IGpuPolicy> = {}
): IGpuInventory {
  const count = (key: GpuChoiceKey) => gpus.filter(g => key === 'any' || g.vendor === key).length;
  const counts = (key: GpuChoiceKey) => Array<string>(count(key) + 1).fill('');
  return {
    gpus,
    policy: { allow_sharing: false, max_gpus_per_workspace: 0, max_gpus_per_owner: 0, ...policy },
    source: 'declared',
    owner_holds: 0,
    max_gpus: { any: count('any'), nvidia: count('nvidia'), amd: count('amd') },
    max_gpus_reason: byKey('', ''),
    count_reasons: { any: counts('any'), nvidia: counts('nvidia'), amd: counts('amd') },
    max_picked: gpus.length,
    max_picked_reason: '',
    ...options
  };
}

export function profile(name: string, options: Partial<IProfile> = {}): IProfile {
  return {
    name,
    display_name: name,
    framework: 'PyTorch',
    cuda_version: '12.4',
    gpu_vendor: 'nvidia',
    description: '',
    demo: null,
    image: null,
    pinned_digest: null,
    built: false,
    build_estimate: null,
    ...options
  };
}

/** One of the user's snapshots, as `GET snapshots` lists it. */
export function snapshot(tag: string, options: Partial<ISnapshot> = {}): ISnapshot {
  return {
    tag,
    image: `workspace-launcher/snapshot-alice:${tag}`,
    workspace_id: '0123456789ab',
    workspace_name: 'exp-1',
    profile: 'pytorch',
    created: '2026-12-03T06:00:00+00:00',
    size_bytes: 3 * 1024 ** 3,
    ...options
  };
}
