import { ObservableDisposableDelegate } from '@lumino/disposable';
import { IMessageHandler, Message, MessageLoop } from '@lumino/messaging';
import { IPoll, Poll } from '@lumino/polling';

import { pollWhileAttached } from '../src/poll-while-attached';

/** A stand-in for a widget: it records the messages it gets and can be disposed. */
class Host extends ObservableDisposableDelegate implements IMessageHandler {
  constructor() {
    super(() => undefined);
  }

  received: string[] = [];

  processMessage(msg: Message): void {
    this.received.push(msg.type);
  }
}

function send(host: Host, type: string): void {
  MessageLoop.sendMessage(host, new Message(type));
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

/** Wait until the poll reaches `phase`. */
async function reach(poll: Poll, phase: IPoll.Phase<'standby'>): Promise<void> {
  while (poll.state.phase !== phase) {
    await poll.tick;
  }
}

function setUp(interval = 20, max = 1_000) {
  const host = new Host();
  const factory = jest.fn(async () => undefined);
  const poll = pollWhileAttached(host, { name: 'test', factory, interval, max });
  return { host, factory, poll };
}

describe('pollWhileAttached', () => {
  it('does not poll before the host is attached', async () => {
    const { host, factory, poll } = setUp();
    await sleep(60);
    expect(factory).not.toHaveBeenCalled();
    expect(poll.state.phase).toBe('constructed');
    host.dispose();
  });

  it('polls from after-attach until before-detach', async () => {
    const { host, factory, poll } = setUp();
    send(host, 'after-attach');
    await reach(poll, 'resolved');
    await poll.tick; // the next refresh, an interval later
    expect(poll.state.phase).toBe('resolved');
    expect(factory.mock.calls.length).toBeGreaterThanOrEqual(2);

    send(host, 'before-detach');
    expect(poll.state.phase).toBe('stopped');
    const calls = factory.mock.calls.length;
    await sleep(80);
    expect(factory).toHaveBeenCalledTimes(calls);
    host.dispose();
  });

  it('starts again when the host is attached again', async () => {
    const { host, factory, poll } = setUp();
    send(host, 'after-attach');
    await reach(poll, 'resolved');
    send(host, 'before-detach');
    const calls = factory.mock.calls.length;
    send(host, 'after-attach');
    await reach(poll, 'resolved');
    expect(factory.mock.calls.length).toBeGreaterThan(calls);
    host.dispose();
  });

  it('lets every message through to the host', () => {
    const { host } = setUp();
    send(host, 'after-attach');
    send(host, 'update-request');
    send(host, 'before-detach');
    expect(host.received).toEqual(['after-attach', 'update-request', 'before-detach']);
    host.dispose();
  });

  it('is disposed with the host, and a detach after that is harmless', async () => {
    const { host, factory, poll } = setUp();
    send(host, 'after-attach');
    await reach(poll, 'resolved');
    const calls = factory.mock.calls.length;
    host.dispose(); // a widget emits `disposed`, then is detached
    expect(poll.isDisposed).toBe(true);
    expect(() => send(host, 'before-detach')).not.toThrow();
    send(host, 'after-attach');
    await sleep(60);
    expect(factory).toHaveBeenCalledTimes(calls);
  });

  it('backs off up to max and stands by while the page is hidden', () => {
    const { host, poll } = setUp(5_000, 60_000);
    expect(poll.frequency).toMatchObject({ interval: 5_000, backoff: true, max: 60_000 });
    expect(poll.standby).toBe('when-hidden');
    expect(poll.name).toBe('test');
    host.dispose();
  });
});
