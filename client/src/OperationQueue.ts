/**
 * Runs operations one at a time, in the order they were asked for. A
 * PeerConnection has one offer/answer exchange at a time, and so does a
 * Switchyard session: push, pull, close and answering the SFU's own offers
 * all go through one queue. A failed operation does not stop the ones after it.
 */
export class OperationQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  /** How many operations are waiting or running. */
  get size(): number {
    return this.pending;
  }

  run<T>(operation: () => Promise<T>): Promise<T> {
    this.pending += 1;
    const result = this.tail.then(operation);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result.finally(() => {
      this.pending -= 1;
    });
  }

  /** Resolves when everything queued so far has finished. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
