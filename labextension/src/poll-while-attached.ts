/**
 * A Lumino `Poll` that runs only while its widget is attached: it starts when the widget is
 * attached, stops before it is detached, stands by while the page is hidden, backs off on
 * failures, and is disposed with the widget. One place owns that lifecycle, so each polling
 * widget only says what to fetch and how often.
 */
import { IObservableDisposable } from '@lumino/disposable';
import { IMessageHandler, Message, MessageLoop } from '@lumino/messaging';
import { Poll } from '@lumino/polling';

/** What the poll follows: a widget (or anything that gets attach messages and is disposed). */
export interface IPollHost extends IMessageHandler, IObservableDisposable {}

export interface IPollWhileAttachedOptions {
  /** The poll's name (for debugging). */
  name: string;
  /** One refresh; a rejection makes the poll back off. */
  factory: () => Promise<unknown>;
  /** The refresh interval, in milliseconds. */
  interval: number;
  /** The longest interval the backoff reaches, in milliseconds. */
  max: number;
}

/**
 * Create a poll that runs `options.factory` every `options.interval` milliseconds while
 * `host` is attached (from its `after-attach` to its `before-detach` message) and is
 * disposed with it. Returns the poll.
 */
export function pollWhileAttached(host: IPollHost, options: IPollWhileAttachedOptions): Poll {
  const poll = new Poll({
    auto: false,
    factory: () => options.factory(),
    frequency: { interval: options.interval, backoff: true, max: options.max },
    name: options.name,
    standby: 'when-hidden'
  });
  MessageLoop.installMessageHook(host, (_handler: IMessageHandler, msg: Message): boolean => {
    if (msg.type === 'after-attach') {
      void poll.start();
    } else if (msg.type === 'before-detach' && !poll.isDisposed) {
      void poll.stop();
    }
    return true; // the host handles every message as before
  });
  host.disposed.connect(() => poll.dispose());
  return poll;
}
