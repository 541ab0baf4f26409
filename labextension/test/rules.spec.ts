import {
  IFormValues,
  applySnapshot,
  buildRequest,
  choiceKey,
  chooseProfile,
  countChoices,
  defaultGpus,
  demoOf,
  emptyValues,
  errorPlace,
  fitDemoToProfile,
  fitGpusToProfile,
  formErrors,
  gpuChoice,
  gpuLimit
} from '../src/launch/rules';
import { byKey, gpu, heldBy, inventory, profile, snapshot } from './fixtures';

const cuda = profile('pytorch');
const rocm = profile('rocm', { gpu_vendor: 'amd' });
const cpu = profile('minimal', { gpu_vendor: null, cuda_version: null });

function values(change: Partial<IFormValues> = {}): IFormValues {
  return { ...emptyValues(), ...change };
}

describe('choiceKey', () => {
  it("is the profile's GPU vendor, or 'any'", () => {
    expect(choiceKey(cuda)).toBe('nvidia');
    expect(choiceKey(rocm)).toBe('amd');
    expect(choiceKey(cpu)).toBe('any');
    expect(choiceKey(undefined)).toBe('any');
  });
});

describe('gpuLimit', () => {
  const reason = 'the policy allows at most 2 GPUs per workspace';
  const inv = inventory([gpu(0), gpu(1), gpu(2)], {
    max_gpus: byKey(2, 2, { amd: 0 }),
    max_gpus_reason: byKey(reason, reason, { amd: 'this host has no AMD GPUs' })
  });

  it("shows the server's limit for the profile's vendor", () => {
    expect(gpuLimit(inv, cuda)).toEqual({ max: 2, reason });
    expect(gpuLimit(inv, cpu)).toEqual({ max: 2, reason });
    expect(gpuLimit(inv, rocm)).toEqual({ max: 0, reason: 'this host has no AMD GPUs' });
  });

  it('is none, without a reason, before the inventory is loaded', () => {
    expect(gpuLimit(null, cuda)).toEqual({ max: 0, reason: '' });
  });
});

describe('countChoices', () => {
  const reason = 'the policy allows at most 1 GPU per workspace';
  const inv = inventory([gpu(0), gpu(1)], {
    count_reasons: byKey(['', '', reason], ['', '', reason], { amd: [''] })
  });

  it("offers the server's counts for the profile's vendor, each allowed or not", () => {
    expect(countChoices(inv, cuda)).toEqual([
      { enabled: true, reason: '' },
      { enabled: true, reason: '' },
      { enabled: false, reason }
    ]);
    expect(countChoices(inv, rocm)).toEqual([{ enabled: true, reason: '' }]);
  });

  it('offers no GPU before the inventory is loaded', () => {
    expect(countChoices(null, cuda)).toEqual([{ enabled: true, reason: '' }]);
  });
});

describe('gpuChoice', () => {
  const sharingOff = 'held by workspace x of another user; GPU sharing is off';
  const held = gpu(0, {
    held_by: [heldBy('x', false)],
    status: 'held by workspace x of another user',
    pick_reasons: byKey(sharingOff, sharingOff, { amd: 'this profile needs NVIDIA GPUs' })
  });

  it('always lets a ticked GPU be unticked', () => {
    expect(gpuChoice(held, [held.uuid], inventory([held]), rocm).enabled).toBe(true);
  });

  it("shows the server's reason for the profile's vendor", () => {
    expect(gpuChoice(held, [], inventory([held]), cuda)).toEqual({
      enabled: false,
      reason: sharingOff
    });
    const amd = gpu(1, { vendor: 'amd' });
    expect(gpuChoice(amd, [], inventory([amd]), cuda)).toEqual({
      enabled: false,
      reason: 'this profile needs NVIDIA GPUs'
    });
    expect(gpuChoice(amd, [], inventory([amd]), rocm).enabled).toBe(true);
    expect(gpuChoice(amd, [], inventory([amd]), cpu).enabled).toBe(true);
  });

  it("stops at the server's limit on picked GPUs, with its reason", () => {
    const gpus = [gpu(0), gpu(1), gpu(2)];
    const reason = 'the policy allows at most 2 GPUs per user and your workspaces hold 1';
    const inv = inventory(gpus, { max_picked: 1, max_picked_reason: reason });
    expect(gpuChoice(gpus[1], [], inv, cuda).enabled).toBe(true);
    expect(gpuChoice(gpus[2], [gpus[1].uuid], inv, cuda)).toEqual({ enabled: false, reason });
    expect(gpuChoice(gpus[1], [gpus[1].uuid], inv, cuda).enabled).toBe(true);
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
    expect(errorPlace('deterministic')).toBe('general');
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
    const held = inventory([gpu(0, { held_by: [heldBy('x', false)] })], {
      max_gpus: byKey(0, 0)
    });
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

describe('snapshots', () => {
  const listed = [snapshot('before-upgrade'), snapshot('cpu-run', { profile: 'minimal' })];

  it('start with the profile they were taken from', () => {
    const chosen = applySnapshot(values({ profile: 'rocm', snapshot: listed[1].image }), listed);
    expect(chosen.profile).toBe('minimal');
    expect(chosen.snapshot).toBe(listed[1].image);
  });

  it('fall back to the profile image once deleted, keeping the profile', () => {
    const gone = 'workspace-launcher/snapshot-alice:deleted';
    expect(applySnapshot(values({ profile: 'rocm', snapshot: gone }), listed)).toEqual(
      values({ profile: 'rocm', snapshot: '' })
    );
    const fresh = values({ profile: 'rocm' });
    expect(applySnapshot(fresh, listed)).toBe(fresh);
  });

  it('go in the request as `snapshot`, and only when chosen', () => {
    const request = buildRequest(values({ profile: 'pytorch', snapshot: listed[0].image }));
    expect(request.snapshot).toBe(listed[0].image);
    expect('snapshot' in buildRequest(values({ profile: 'pytorch' }))).toBe(false);
  });
});

describe('the demo', () => {
  const torch = profile('pytorch', { demo: 'object-detection-train.ipynb' });
  const profiles = [torch, cpu];

  it("is the chosen profile's own notebook, or none", () => {
    expect(demoOf(values({ profile: 'pytorch' }), profiles)).toBe('object-detection-train.ipynb');
    expect(demoOf(values({ profile: 'minimal' }), profiles)).toBeNull();
    expect(demoOf(values({ profile: 'pytorch' }), null)).toBeNull();
  });

  it('is unticked for a profile without one, kept for one with one', () => {
    expect(
      fitDemoToProfile(values({ profile: 'minimal', openDemo: true }), profiles).openDemo
    ).toBe(false);
    expect(
      fitDemoToProfile(values({ profile: 'pytorch', openDemo: true }), profiles).openDemo
    ).toBe(true);
  });

  it("is an error shown next to its field, as is a snapshot's", () => {
    expect(errorPlace('open_demo')).toBe('open_demo');
    expect(errorPlace('snapshot')).toBe('snapshot');
  });
});

describe('formErrors', () => {
  it('puts each wrong field the server named next to its field', () => {
    const errors = [
      { field: 'memory', message: "'lots' is not a size" },
      { field: 'name', message: 'use lowercase letters' },
      { field: 'deterministic', message: 'must be true or false' }
    ];
    expect(formErrors('memory', 'joined', errors)).toEqual({
      memory: "'lots' is not a size",
      name: 'use lowercase letters',
      general: 'must be true or false'
    });
  });

  it('shows a single error where its field is, or at the top', () => {
    expect(formErrors('gpus', 'at most 1 GPU')).toEqual({ gpus: 'at most 1 GPU' });
    expect(formErrors(null, 'the engine is down')).toEqual({ general: 'the engine is down' });
  });

  it('keeps two messages that land in the same place', () => {
    const errors = [
      { field: null, message: 'first' },
      { field: 'seed', message: 'second' }
    ];
    expect(formErrors(null, 'first; second', errors)).toEqual({ general: 'first; second' });
  });
});
