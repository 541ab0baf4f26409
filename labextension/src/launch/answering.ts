/**
 * Waiting until a launched workspace's Jupyter answers: a container can run before its
 * Jupyter does. A `Poll` asks `probe` every `interval` (first at once) until it answers, the
 * time is up or `stop()` says to give up. No DOM and no requests of its own (unit-tested in
 * test/answering.spec.ts).
 */
import { Poll } from '@lumino/polling';

export interface IWaitOptions {
  /** Give up after this many milliseconds (default 2 minutes). */
  timeout?: number;
  /** Milliseconds between probes (default 1 second). */
  interval?: number;
  /** Checked before each probe: give up as soon as it returns true. */
  stop?: () => boolean;
}

/**
 * Resolve true once `probe` resolves true; false on timeout or as soon as `stop()` returns
 * true. A probe that rejects (the server cannot be reached) counts as "not yet".
 */
export function waitUntilAnswering(
  probe: () => Promise<boolean>,
  options: IWaitOptions = {}
): Promise<boolean> {
  const deadline = Date.now() + (options.timeout ?? 120_000);
  return new Promise<boolean>(resolve => {
    const finish = (answers: boolean): void => {
      poll.dispose();
      resolve(answers);
    };
    const poll = new Poll({
      auto: false,
      factory: async () => {
        if (Date.now() >= deadline || options.stop?.()) {
          finish(false);
          return;
        }
        let answers = false;
        try {
          answers = await probe();
        } catch {
          // not answering yet: try again
        }
        if (answers) {
          finish(true);
        }
      },
      frequency: { interval: options.interval ?? 1_000, backoff: false },
      name: 'workspace-launcher:wait-until-answering',
      standby: 'never'
    });
    void poll.start();
  });
}
