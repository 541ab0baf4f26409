import { waitUntilAnswering } from '../src/launch/answering';

/** A probe answering from a list of results (true, false, or an error to throw). */
function scripted(results: (boolean | Error)[]): jest.Mock<Promise<boolean>, []> {
  let call = 0;
  return jest.fn(async () => {
    const result = results[Math.min(call++, results.length - 1)];
    if (result instanceof Error) {
      throw result;
    }
    return result;
  });
}

describe('waitUntilAnswering', () => {
  it('probes at once, then every interval, until the probe answers', async () => {
    const probe = scripted([false, false, true]);
    const started = Date.now();
    await expect(waitUntilAnswering(probe, { interval: 20, timeout: 5_000 })).resolves.toBe(true);
    expect(probe).toHaveBeenCalledTimes(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(30);
  });

  it('does not wait an interval before the first probe', async () => {
    const probe = scripted([true]);
    const started = Date.now();
    await expect(waitUntilAnswering(probe, { interval: 60_000 })).resolves.toBe(true);
    expect(probe).toHaveBeenCalledTimes(1);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('keeps probing after a probe fails (server unreachable)', async () => {
    const probe = scripted([new Error('network'), new Error('network'), true]);
    await expect(waitUntilAnswering(probe, { interval: 10, timeout: 5_000 })).resolves.toBe(true);
    expect(probe).toHaveBeenCalledTimes(3);
  });

  it('resolves false once the time is up', async () => {
    const probe = scripted([false]);
    const started = Date.now();
    await expect(waitUntilAnswering(probe, { interval: 10, timeout: 100 })).resolves.toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(probe.mock.calls.length).toBeGreaterThan(1);
    const calls = probe.mock.calls.length;
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(probe).toHaveBeenCalledTimes(calls); // stopped probing
  });

  it('resolves false without probing when told to stop', async () => {
    const probe = scripted([true]);
    await expect(waitUntilAnswering(probe, { stop: () => true })).resolves.toBe(false);
    expect(probe).not.toHaveBeenCalled();
  });

  it('resolves false as soon as stop() turns true', async () => {
    const probe = scripted([false]);
    const stop = () => probe.mock.calls.length >= 2;
    await expect(waitUntilAnswering(probe, { interval: 10, timeout: 5_000, stop })).resolves.toBe(
      false
    );
    expect(probe).toHaveBeenCalledTimes(2);
  });
});
