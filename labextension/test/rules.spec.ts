import {
  IFormValues,
  buildRequest,
  chooseProfile,
  countChoice,
  defaultGpus,
  eligibleGpus,
  emptyValues,
  errorPlace,
  fitGpusToProfile,
  gpuChoice,
  gpuLimit,
  gpusHeldByMe,
  holderText
} from '../src/launch/rules';
import { gpu, heldBy, inventory, profile } from './fixtures';

const cuda = profile('pytorch');
const rocm = profile('rocm', { gpu_vendor: 'amd' });
const cpu = profile('minimal', { gpu_vendor: null, cuda_version: null });

function values(change: Partial<IFormValues> = {}): IFormValues {
  return { ...emptyValues(), ...change };
}

describe('eligibleGpus', () => {
  const mixed = inventory([gpu(0), gpu(1, { vendor: 'amd' }), gpu(2)]);

  it('keeps the GPUs of the profile vendor', () => {
    expect(eligibleGpus(mixed, cuda).map(g => g.index)).toEqual([0, 2]);
    expect(eligibleGpus(mixed, rocm).map(g => g.index)).toEqual([1]);
  });

  it('keeps every GPU for a profile without a vendor or no profile', () => {
    expect(eligibleGpus(mixed, cpu)).toHaveLength(3);
    expect(eligibleGpus(mixed, undefined)).toHaveLength(3);
  });

  it('is empty before the inventory is loaded', () => {
    expect(eligibleGpus(null, cuda)).toEqual([]);
  });
});

describe('gpusHeldByMe and holderText', () => {
  const gpus = [
    gpu(0, { held_by: [heldBy('a1', true, 'exp-1')] }),
    gpu(1, { held_by: [heldBy('b2', false)] }),
    gpu(2, { held_by: [heldBy('a1', true, 'exp-1'), heldBy('c3', true)] }),
    gpu(3)
  ];

  it('counts the distinct GPUs the user holds', () => {
    expect(gpusHeldByMe(inventory(gpus))).toBe(2);
    expect(gpusHeldByMe(null)).toBe(0);
  });

  it('says who holds a GPU', () => {
    expect(holderText(gpus[3])).toBe('free');
    expect(holderText(gpus[0])).toBe('held by your workspace exp-1');
    expect(holderText(gpus[1])).toBe('held by workspace b2 of another user');
    expect(holderText(gpus[2])).toBe('held by your workspace exp-1, your workspace c3');
  });
});

describe('gpuLimit', () => {
  it('explains a host without GPUs for the profile', () => {
    expect(gpuLimit(inventory([]), cpu)).toEqual({ max: 0, reason: 'this host has no GPUs' });
    expect(gpuLimit(inventory([gpu(0)]), rocm)).toEqual({
      max: 0,
      reason: 'this host has no AMD GPUs'
    });
    expect(gpuLimit(null, cuda)).toEqual({ max: 0, reason: 'this host has no NVIDIA GPUs' });
  });

  it('is the number of eligible GPUs when nothing else bounds it', () => {
    expect(gpuLimit(inventory([gpu(0), gpu(1)]), cuda)).toEqual({ max: 2, reason: '' });
  });

  it('counts only free GPUs when sharing is off', () => {
    const held = inventory([gpu(0, { held_by: [heldBy('x', false)] }), gpu(1), gpu(2), gpu(3)]);
    expect(gpuLimit(held, cuda)).toEqual({
      max: 3,
      reason: 'only 3 of 4 GPUs are free; the others are held by other workspaces'
    });
    const shared = inventory(held.gpus, { allow_sharing: true });
    expect(gpuLimit(shared, cuda)).toEqual({ max: 4, reason: '' });
  });

  it('applies the per-workspace and per-user limits', () => {
    const four = [gpu(0), gpu(1), gpu(2), gpu(3)];
    expect(gpuLimit(inventory(four, { max_gpus_per_workspace: 2 }), cuda)).toEqual({
      max: 2,
      reason: 'the policy allows at most 2 GPUs per workspace'
    });
    const mine = [gpu(0, { held_by: [heldBy('m', true, 'mine')] }), ...four.slice(1)];
    expect(gpuLimit(inventory(mine, { allow_sharing: true, max_gpus_per_owner: 2 }), cuda)).toEqual(
      {
        max: 1,
        reason: 'the policy allows at most 2 GPUs per user and your workspaces hold 1'
      }
    );
    expect(
      gpuLimit(inventory(mine, { allow_sharing: true, max_gpus_per_owner: 1 }), cuda).max
    ).toBe(0);
  });
});

describe('countChoice', () => {
  const two = inventory([gpu(0), gpu(1)], { max_gpus_per_workspace: 1 });

  it('always allows no GPU', () => {
    expect(countChoice(0, null, cuda)).toEqual({ enabled: true, reason: '' });
  });

  it('refuses more GPUs than the host has for the profile', () => {
    expect(countChoice(3, two, cuda)).toEqual({
      enabled: false,
      reason: 'this host has 2 GPUs for this profile'
    });
    expect(countChoice(1, two, rocm)).toEqual({
      enabled: false,
      reason: 'this host has 0 GPUs for this profile'
    });
  });

  it('refuses counts over the policy limit, with its reason', () => {
    expect(countChoice(1, two, cuda)).toEqual({ enabled: true, reason: '' });
    expect(countChoice(2, two, cuda)).toEqual({
      enabled: false,
      reason: 'the policy allows at most 1 GPU per workspace'
    });
  });
});

describe('gpuChoice', () => {
  it('always lets a ticked GPU be unticked', () => {
    const held = gpu(0, { held_by: [heldBy('x', false)] });
    expect(gpuChoice(held, [held.uuid], inventory([held]), rocm).enabled).toBe(true);
  });

  it('refuses a GPU of another vendor', () => {
    const amd = gpu(0, { vendor: 'amd' });
    expect(gpuChoice(amd, [], inventory([amd]), cuda)).toEqual({
      enabled: false,
      reason: 'this profile needs NVIDIA GPUs'
    });
  });

  it('refuses a held GPU while sharing is off, and allows it when sharing is on', () => {
    const held = gpu(0, { held_by: [heldBy('x', false)] });
    expect(gpuChoice(held, [], inventory([held]), cuda)).toEqual({
      enabled: false,
      reason: 'held by workspace x of another user; GPU sharing is off'
    });
    const shared = inventory([held], { allow_sharing: true });
    expect(gpuChoice(held, [], shared, cuda).enabled).toBe(true);
  });

  it('applies the per-workspace limit to the GPUs already ticked', () => {
    const gpus = [gpu(0), gpu(1)];
    const inv = inventory(gpus, { max_gpus_per_workspace: 1 });
    expect(gpuChoice(gpus[1], [], inv, cuda).enabled).toBe(true);
    expect(gpuChoice(gpus[1], [gpus[0].uuid], inv, cuda)).toEqual({
      enabled: false,
      reason: 'the policy allows at most 1 GPU per workspace'
    });
  });

  it('applies the per-user limit to the GPUs the user holds', () => {
    const gpus = [gpu(0, { held_by: [heldBy('m', true, 'mine')] }), gpu(1), gpu(2)];
    const inv = inventory(gpus, { allow_sharing: true, max_gpus_per_owner: 2 });
    expect(gpuChoice(gpus[1], [], inv, cuda).enabled).toBe(true);
    expect(gpuChoice(gpus[2], [gpus[1].uuid], inv, cuda)).toEqual({
      enabled: false,
      reason: 'the policy allows at most 2 GPUs per user and your workspaces hold 1'
    });
  });
});

describe('buildRequest', () => {
  it('sends only what was filled in, trimmed', () => {
    expect(buildRequest(values({ profile: 'minimal' }))).toStrictEqual({
      profile: 'minimal',
      gpus: 0,
      datasets: []
    });
    expect(
      buildRequest(
        values({
          profile: 'pytorch',
          gpuCount: 2,
          datasets: ['demo-shapes'],
          name: '  exp-1 ',
          openDemo: true,
          cpus: ' 1.5 ',
          memory: ' 8g ',
          shmSize: ' 2g'
        })
      )
    ).toStrictEqual({
      profile: 'pytorch',
      gpus: 2,
      datasets: ['demo-shapes'],
      open_demo: true,
      name: 'exp-1',
      cpus: 1.5,
      memory: '8g',
      shm_size: '2g'
    });
  });

  it('sends picked GPUs as their uuids, in a copy', () => {
    const form = values({ profile: 'pytorch', gpuMode: 'pick', gpuCount: 3, gpuIds: ['GPU-1'] });
    const request = buildRequest(form);
    expect(request.gpus).toEqual(['GPU-1']);
    expect(request.gpus).not.toBe(form.gpuIds);
  });

  it('sends a CPU count that is not a number as typed, for the server to explain', () => {
    expect(buildRequest(values({ profile: 'p', cpus: '2' })).cpus).toBe(2);
    expect(buildRequest(values({ profile: 'p', cpus: 'two' })).cpus).toBe('two');
    expect(buildRequest(values({ profile: 'p', cpus: '1e3' })).cpus).toBe('1e3');
  });
});

describe('errorPlace', () => {
  it('puts an error next to a field of the form', () => {
    expect(errorPlace('gpus')).toBe('gpus');
    expect(errorPlace('shm_size')).toBe('shm_size');
  });

  it('puts other errors at the top', () => {
    expect(errorPlace(null)).toBe('general');
    expect(errorPlace('')).toBe('general');
    expect(errorPlace('snapshot')).toBe('general');
  });
});

describe('chooseProfile', () => {
  const profiles = [profile('a'), profile('b', { built: true }), profile('c')];

  it('keeps a profile the server still offers', () => {
    expect(chooseProfile('c', profiles)).toBe('c');
  });

  it('falls back to the first built profile, else the first', () => {
    expect(chooseProfile('', profiles)).toBe('b');
    expect(chooseProfile('gone', [profile('a'), profile('c')])).toBe('a');
  });

  it('keeps the value when there is no profile', () => {
    expect(chooseProfile('', [])).toBe('');
  });
});

describe('defaultGpus', () => {
  const profiles = [cuda, cpu];

  it('asks for one GPU for a GPU profile when one may be had', () => {
    const inv = inventory([gpu(0), gpu(1)]);
    expect(defaultGpus(values({ profile: 'pytorch', gpuMode: 'pick' }), profiles, inv)).toEqual(
      values({ profile: 'pytorch', gpuMode: 'count', gpuCount: 1 })
    );
  });

  it('asks for none for a CPU profile, or when no GPU may be had', () => {
    const inv = inventory([gpu(0)]);
    expect(defaultGpus(values({ profile: 'minimal', gpuCount: 1 }), profiles, inv).gpuCount).toBe(
      0
    );
    const held = inventory([gpu(0, { held_by: [heldBy('x', false)] })]);
    expect(defaultGpus(values({ profile: 'pytorch' }), profiles, held).gpuCount).toBe(0);
    expect(defaultGpus(values({ profile: 'pytorch' }), null, null).gpuCount).toBe(0);
  });
});

describe('fitGpusToProfile', () => {
  it('drops the ticked GPUs the profile cannot use', () => {
    const inv = inventory([gpu(0), gpu(1, { vendor: 'amd' })]);
    const picked = values({ profile: 'rocm', gpuMode: 'pick', gpuIds: ['GPU-0', 'GPU-1'] });
    expect(fitGpusToProfile(picked, [cuda, rocm], inv).gpuIds).toEqual(['GPU-1']);
    expect(fitGpusToProfile({ ...picked, profile: 'pytorch' }, [cuda, rocm], inv).gpuIds).toEqual([
      'GPU-0'
    ]);
  });
});
