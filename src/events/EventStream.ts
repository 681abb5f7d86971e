import { ErrorCode, SwitchyardError } from '../errors.js';
import { eventCounters } from './eventCounters.js';

/** How long a connection over its cap may go without taking an event before it counts as stalled. */
export const STALL_MS = 1000;
/** Over this many times the cap a connection is closed at once, stalled or not: the bound on memory. */
export const HARD_CAP_FACTOR = 10;

/**
 * What one client connection may have waiting to be sent: events queued in
 * its subscription streams that it has not taken yet. A queued event costs
 * the queue a reference (events are shared by every subscriber). A client
 * that stops reading makes its streams queue without end, so past `limit`
 * a connection that takes no event for STALL_MS, or that is past
 * HARD_CAP_FACTOR times the limit, is reported to its owner (`overflow`):
 * the WebSocket server closes that connection, an HTTP (SSE) subscription
 * ends with LIMIT_EXCEEDED. A healthy client draining a burst is left alone,
 * and the rest of the server does not notice either way.
 */
export class Outbox {
  private queued = 0;
  private takenTotal = 0;
  private readonly streams = new Set<EventStream<unknown>>();
  private overflowed = false;
  private stallCheck: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly limit: number,
    private readonly overflow: (outbox: Outbox) => void,
  ) {}

  /** Events waiting in this connection's streams. */
  get size(): number {
    return this.queued;
  }

  /** @internal EventStream bookkeeping. */
  attach(stream: EventStream<unknown>): void {
    this.streams.add(stream);
  }

  /** @internal */
  detach(stream: EventStream<unknown>, stillQueued: number): void {
    this.streams.delete(stream);
    this.queued -= stillQueued;
    if (this.streams.size === 0) this.cancelStallCheck();
  }

  /** @internal */
  added(): void {
    this.queued += 1;
    if (this.overflowed || this.queued <= this.limit) return;
    if (this.queued > this.limit * HARD_CAP_FACTOR) this.fire();
    else this.stallCheck ??= this.watchProgress(this.takenTotal);
  }

  /** @internal */
  taken(): void {
    this.queued -= 1;
    this.takenTotal += 1;
  }

  /** Ends every stream of this connection with an error (HTTP subscriptions have no socket to close). */
  failAll(error: Error): void {
    for (const stream of [...this.streams]) stream.fail(error);
  }

  /** Ends every stream of this connection at once: they stop queueing and leave their sources. */
  closeAll(): void {
    for (const stream of [...this.streams]) void stream.return();
  }

  private watchProgress(takenBefore: number): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      this.stallCheck = undefined;
      if (this.overflowed || this.queued <= this.limit) return;
      if (this.takenTotal === takenBefore) this.fire();
      else this.stallCheck = this.watchProgress(this.takenTotal);
    }, STALL_MS);
    timer.unref();
    return timer;
  }

  private cancelStallCheck(): void {
    clearTimeout(this.stallCheck);
    this.stallCheck = undefined;
  }

  private fire(): void {
    this.overflowed = true;
    this.cancelStallCheck();
    this.overflow(this);
  }
}

/** The LIMIT_EXCEEDED an HTTP subscription ends with when its client falls behind. */
export const slowConsumer = (limit: number) =>
  new SwitchyardError(
    ErrorCode.LIMIT_EXCEEDED,
    `this connection stopped taking events with more than ${limit} waiting (MAX_QUEUED_EVENTS_PER_CONNECTION); reconnect and resume trackEvents after your last cursor`,
  );

/**
 * One subscription's events, as an async iterator that a GraphQL server can
 * stop at any time: return() detaches it from its source at once, even while
 * a next() waits for an event that may never come. (An async generator
 * cannot: its return() waits behind the pending await, and graphql-ws, which
 * awaits return() of every subscription when a socket closes, then holds the
 * closed connection forever.)
 */
export class EventStream<T> implements AsyncIterableIterator<T> {
  private queue: T[] = [];
  private waiting: { resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void } | undefined;
  private error: unknown;
  private closed = false;
  private detachSource: () => void = () => undefined;

  constructor(private readonly outbox?: Outbox) {
    outbox?.attach(this as EventStream<unknown>);
  }

  /** Sets what stops the source feeding this stream; called once, when the stream closes. */
  onClose(detach: () => void): void {
    if (this.closed) detach();
    else this.detachSource = detach;
  }

  /** Values pushed and not taken yet. */
  get pending(): number {
    return this.queue.length;
  }

  push(value: T): void {
    if (this.closed) return;
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      eventCounters.delivered += 1;
      resolve({ value, done: false });
      return;
    }
    this.queue.push(value);
    this.outbox?.added();
  }

  /** Ends the stream with an error; what is queued is dropped (the client resumes from its last cursor). */
  fail(error: unknown): void {
    if (this.closed) return;
    this.error = error;
    for (let i = 0; i < this.queue.length; i += 1) this.outbox?.taken();
    this.queue = [];
    if (this.waiting) {
      const { reject } = this.waiting;
      this.waiting = undefined;
      this.close();
      reject(error);
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queue.length > 0) {
      this.outbox?.taken();
      eventCounters.delivered += 1;
      return Promise.resolve({ value: this.queue.shift() as T, done: false });
    }
    if (this.error !== undefined && !this.closed) {
      const error = this.error;
      this.close();
      return Promise.reject(error);
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.close();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detachSource();
    this.outbox?.detach(this as EventStream<unknown>, this.queue.length);
    this.queue = [];
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve({ value: undefined, done: true });
  }
}

/**
 * A stream of what a source reports, for one subscription: `map` turns each
 * report into an event (undefined: not for this subscriber); closing the
 * stream stops listening. `listen` attaches a listener and answers how to
 * detach it.
 */
export function streamOf<A, T>(outbox: Outbox | undefined, listen: (listener: (report: A) => void) => () => void, map: (report: A) => T | undefined): EventStream<T> {
  const stream = new EventStream<T>(outbox);
  stream.onClose(
    listen((report) => {
      const event = map(report);
      if (event !== undefined) stream.push(event);
    }),
  );
  return stream;
}
