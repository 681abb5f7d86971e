/**
 * Runs async tasks one at a time, in the order they were queued: every
 * mutation of a session goes through its queue, so a negotiation step never
 * interleaves with another one on the same PeerConnection.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  run<T>(task: () => Promise<T>): Promise<T> {
    this.pending += 1;
    const result = this.tail.then(task);
    // The next task waits for this one to settle, whether it failed or not.
    this.tail = result.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      this.pending -= 1;
    });
    return result;
  }

  /** Tasks queued or running. */
  get size(): number {
    return this.pending;
  }
}
