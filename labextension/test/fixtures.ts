/** Small builders of API objects for the unit tests. */
import { IGpu, IGpuHolder, IGpuInventory, IGpuPolicy, IProfile } from '../src/contract';

export function gpu(index: number, options: Partial<IGpu> = {}): IGpu {
  return {
    index,
    uuid: `GPU-${index}`,
    name: 'NVIDIA A100',
    memory_mib: 81920,
    vendor: 'nvidia',
    held_by: [],
    ...options
  };
}

export function heldBy(id: string, mine: boolean, name: string | null = null): IGpuHolder {
  return { id, name, mine };
}

export function inventory(gpus: IGpu[], policy: Partial<IGpuPolicy> = {}): IGpuInventory {
  return {
    gpus,
    policy: { allow_sharing: false, max_gpus_per_workspace: 0, max_gpus_per_owner: 0, ...policy },
    source: 'declared'
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
    image: null,
    pinned_digest: null,
    built: false,
    ...options
  };
}
